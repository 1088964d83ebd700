//! Compiles `rtpredictor/v1/predictor.proto` with protox (a pure-Rust
//! protobuf compiler, so no `protoc` is needed) and keeps the descriptor
//! set for server reflection.

use std::path::PathBuf;

use prost::Message;

const PROTO: &str = "rtpredictor/v1/predictor.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("rtpredictor_v1_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .codec_path("crate::codec::WireCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
