//! rask-cli: the `rask` command-line client, mirroring Flink's `bin/flink`: it finds
//! the JobManager (-m, -D rest.*, the configuration file) and talks to its REST API.

pub mod address;
pub mod cli;
pub mod commands;
pub mod deployment;
pub mod hints;
pub mod minicluster;
pub mod rest_client;

pub use cli::{run, Cli};
