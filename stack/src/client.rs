//! The gRPC channel every benchmark and the soak open to a served
//! endpoint: connected now (a server that is not there fails the run at
//! once), with Nagle's delay off as a latency-minded client sets it.

use tonic::transport::Channel;

use crate::error::{Result, StackError};

/// A connected channel to `address` (`http://host:port`).
pub async fn connect(address: &str) -> Result<Channel> {
    Channel::from_shared(address.to_owned())
        .map_err(StackError::call(address))?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(StackError::call(address))
}
