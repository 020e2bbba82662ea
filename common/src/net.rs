//! Networking helpers shared by the daemons' gRPC servers.

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Accepted connections of `listener` with TCP_NODELAY set: heartbeats and control
/// messages are small, and Nagle's algorithm with delayed ACKs would hold them ~40 ms.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// `host:port`, with an IPv6 literal host in brackets (`[::1]:6123`).
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv6_literals_get_brackets() {
        assert_eq!(super::host_port("::1", 80), "[::1]:80");
        assert_eq!(super::host_port("localhost", 80), "localhost:80");
        assert_eq!(super::host_port("[::1]", 80), "[::1]:80");
    }
}
