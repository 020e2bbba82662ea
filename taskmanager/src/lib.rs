//! rask-taskmanager: the TaskManager process as a library — its configuration, slot
//! table, TaskExecutor gRPC service and session with the JobManager's ResourceManager.
//! `main.rs` is a thin wrapper; tests and the local MiniCluster run it in-process.

pub mod configuration;
pub mod daemon;
pub mod fencing;
pub mod metrics;
pub mod resource_manager_connection;
pub mod runner;
pub mod runtime;
pub mod slot_table;
pub mod task_executor;

pub use configuration::TaskManagerConfiguration;
pub use runner::{TaskManager, TaskManagerError};
