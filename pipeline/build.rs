//! Builds the repository's feature SQL (`sql/*.sql`) into `rtp`, so it runs
//! from any directory; a `sql` directory in the working directory, or the
//! configured `features.sql_dir`, still takes precedence.

use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let sql_dir = manifest_dir.join("../sql");
    println!("cargo:rerun-if-changed={}", sql_dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sql_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", sql_dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut code = String::from("/// The feature SQL files `rtp` was built with, in run order.\n");
    code.push_str("pub const BUILT_IN_SQL: &[(&str, &str)] = &[\n");
    for path in &files {
        let name = path.file_name().expect("a file").to_string_lossy();
        let absolute = path.canonicalize().expect("listed file exists");
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("built_in_sql.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
