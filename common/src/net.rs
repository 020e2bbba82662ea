//! Networking helpers shared by the daemons' gRPC servers.

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Accepted connections of `listener` with TCP_NODELAY set: heartbeats and control
/// messages are small, and Nagle's algorithm with delayed ACKs would hold them ~40 ms.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from_listener(listener, true, None).expect("a bound listener has a local address")
}
