//! rask-common: the parts every Rask process shares — the generated gRPC contract,
//! configuration (Flink's keys), identifiers, leader discovery and logging set-up.

pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod etcd;
pub mod hardware;
pub mod ids;
pub mod job;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod proto;
pub mod security;
pub mod signals;

/// Rask's version, reported where Flink reports `flink-version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
