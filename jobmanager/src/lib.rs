//! rask-jobmanager: the JobManager process as a library — ResourceManager (TaskManager
//! registry, heartbeats), HA services, REST API and the entrypoint that wires them.
//! `main.rs` is a thin wrapper; tests and the local MiniCluster run it in-process.

pub mod checkpoint_coordinator;
pub mod cluster_mode;
pub mod configuration;
pub mod daemon;
pub mod dispatcher;
pub mod entrypoint;
pub mod execution_graph;
pub mod gateway;
pub mod ha;
pub mod job_master;
pub mod job_settings;
pub mod leadership;
pub mod metrics;
pub mod resource_manager;
pub mod resource_provider;
pub mod rest;
pub mod restart_strategy;

pub use configuration::JobManagerConfiguration;
pub use entrypoint::{JobManager, JobManagerError};
