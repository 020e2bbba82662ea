//! Security shared by every Rask process: TLS for the internal gRPC connections and
//! the REST endpoint (Flink's `security.ssl.*` keys), and the directories jobs may
//! touch (`rask.io.allowed-paths`).

pub mod paths;
pub mod tls;

pub use paths::{AllowedPaths, PathNotAllowed};
pub use tls::{InternalTls, RestTls, TlsError};
