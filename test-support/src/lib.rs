//! Helpers shared by rt-predictor's integration tests: where the repository,
//! its fixtures and the shared real-data directory are.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// The repository root (the workspace directory). Read at run time from the
/// manifest directory cargo gives the test binary (every crate sits one level
/// below the root), so a build cached from another checkout cannot point
/// tests at that checkout's files.
pub fn repo_root() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    Path::new(&crate_dir)
        .parent()
        .expect("crates live one level below the root")
        .to_owned()
}

/// A committed fixture under `data/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    let path = repo_root().join("data/fixtures").join(name);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

/// The feature SQL directory.
pub fn sql_dir() -> PathBuf {
    repo_root().join("sql")
}

/// A file of the shared real-data directory (`../shared/data` beside the
/// repository root). Returns None, after saying on stderr that the test is
/// skipped and why, when it is absent.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let path = repo_root().join("../shared/data").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} not found (shared real data lives in ../shared/data beside the repository)",
            path.display()
        );
        None
    }
}

/// Iterations a fuzz target runs: `RTP_FUZZ_ITERATIONS` when set (for a
/// longer run), else `default` (the short run of the test suite).
pub fn fuzz_iterations(default: usize) -> usize {
    std::env::var("RTP_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seeded, structure-unaware mutations of valid inputs: byte flips, cuts,
/// repeats and insertions of values parsers tend to mishandle. The same seed
/// gives the same inputs, so a failure names its seed and iteration and
/// reproduces exactly.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

/// Tokens inserted by [`Mutator::mutate`]: edges of numbers and separators.
const TOKENS: [&str; 22] = [
    "-1",
    "0",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "1e-320",
    "-9223372036854775808",
    "99999999999999999999",
    "\n",
    "\r\n",
    ",",
    "|",
    ":",
    ";",
    "\"",
    "\0",
    "\u{FFFD}",
    "[",
    "}",
    "=",
    "Tree=",
];

impl Mutator {
    /// A mutator whose choices follow from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// SplitMix64: small, and good enough to spread choices.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// `input` changed in one to four places.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(6) {
                0 if at < out.len() => out[at] ^= 1 << self.below(8),
                1 => out.truncate(at),
                2 => {
                    let end = (at + 1 + self.below(64)).min(out.len());
                    out.drain(at..end);
                }
                3 => {
                    let end = (at + 1 + self.below(256)).min(out.len());
                    let copy = out[at..end].to_vec();
                    out.splice(at..at, copy);
                }
                4 if at < out.len() => out[at] = self.next() as u8,
                _ => {
                    let token = TOKENS[self.below(TOKENS.len())].as_bytes();
                    out.splice(at..at, token.iter().copied());
                }
            }
        }
        out
    }
}

/// Runs `target` on `iterations` mutations of each of `seeds`; a panic names
/// the seed input, the iteration and the bytes that caused it.
pub fn fuzz(name: &str, seeds: &[Vec<u8>], iterations: usize, mut target: impl FnMut(&[u8])) {
    for (s, seed) in seeds.iter().enumerate() {
        let mut mutator = Mutator::new(0x5EED ^ s as u64);
        for i in 0..iterations {
            let input = mutator.mutate(seed);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
            if outcome.is_err() {
                let shown = String::from_utf8_lossy(&input[..input.len().min(4096)]).into_owned();
                panic!("fuzz target {name}: seed input {s}, iteration {i} panicked on {shown:?}");
            }
        }
    }
}

/// A server identity for TLS tests, as PEM files.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The server's certificate, for `localhost` and `127.0.0.1`.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// The CA that signed it, which clients trust.
    pub ca: PathBuf,
    /// The CA certificate's PEM text.
    pub ca_pem: String,
}

/// A CA generated for the test and a server certificate it signed, written
/// into `dir`.
pub fn certificates(dir: &Path) -> TestCertificates {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rt-predictor test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let files = TestCertificates {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        ca: dir.join("ca.pem"),
        ca_pem: ca.pem(),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    std::fs::write(&files.ca, &files.ca_pem).unwrap();
    files
}
