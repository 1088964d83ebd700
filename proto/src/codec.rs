//! The codec of the `rtpredictor.v1` services: prost's, except that a
//! message that does not decode is reported as INVALID_ARGUMENT.
//!
//! gRPC's status-code table files undecodable messages under INTERNAL, but
//! for a server the bytes at fault are the caller's: INTERNAL would count a
//! client's bug against the server's error-rate alert, and tell the caller
//! to retry a request that can never succeed.

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder};

/// How every undecodable-message status starts, so that layers outside the
/// handlers can recognise it.
pub const MALFORMED_MESSAGE: &str = "malformed protobuf message";

/// prost's codec with undecodable messages mapped to INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct WireCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for WireCodec<T, U> {
    fn default() -> Self {
        Self(ProstCodec::default())
    }
}

impl<T, U> Codec for WireCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = WireDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder(self.0.decoder())
    }
}

/// prost's decoder with its errors mapped to INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct WireDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for WireDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            Status::invalid_argument(format!("{MALFORMED_MESSAGE}: {}", status.message()))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
