//! The `rtpredictor.v1` gRPC contract, generated from
//! `proto/rtpredictor/v1/predictor.proto`: messages, the
//! `JobRuntimePredictor` client and server, and the encoded descriptor set
//! that server reflection publishes.
#![allow(missing_docs, missing_debug_implementations)]

pub mod codec;

/// Package `rtpredictor.v1`.
pub mod v1 {
    tonic::include_proto!("rtpredictor.v1");

    /// The encoded `FileDescriptorSet` of the package, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/rtpredictor_v1_descriptor.bin"));
}
