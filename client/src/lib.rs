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

/// The `rask` binary: parses the command line, runs the command on a small runtime and
/// turns an error into one line on stderr and exit code 1. (Here rather than in
/// `main.rs`, so that the runtime and every future it polls are compiled once, with
/// this crate.)
pub fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rask: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
