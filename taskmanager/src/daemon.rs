//! rask-taskmanager: the TaskManager daemon. Loads configuration, starts the
//! TaskManager, and deregisters on SIGTERM/SIGINT.
//!
//! It lives in the library, not in `main.rs`, so that the runtime and every future it
//! polls are compiled once, with this crate (a release build of the binary takes
//! seconds instead of half a minute).

use std::path::PathBuf;

use crate::resource_manager_connection::ConnectionError;
use crate::{TaskManager, TaskManagerConfiguration, TaskManagerError};
use clap::Parser;
use rask_common::config::{options, Configuration};

#[derive(Parser)]
#[command(name = "rask-taskmanager", version, about = "Rask TaskManager daemon")]
struct Args {
    /// Configuration file (rask.yaml) or the directory holding it.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Override a configuration key: -D key=value (repeatable).
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    dynamic: Vec<String>,
}

/// The daemon's `main`: the command line, the configuration, the runtime, the exit code.
pub fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let conf = match Configuration::load(args.config.as_deref(), &args.dynamic)
        .and_then(|c| TaskManagerConfiguration::from_configuration(&c).map(|t| (c, t)))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rask-taskmanager: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    rask_common::logging::init(&conf.0.get_string(&options::LOG_LEVEL).unwrap_or_default());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(conf.1)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            // 2 = refused by the JobManager: restarting would be refused again.
            let refused =
                matches!(e.downcast_ref::<TaskManagerError>(), Some(TaskManagerError::Connection(ConnectionError::Refused { .. })));
            std::process::ExitCode::from(if refused { 2 } else { 1 })
        }
    }
}

async fn run(conf: TaskManagerConfiguration) -> anyhow::Result<()> {
    let mut tm = TaskManager::start(conf).await?;
    tokio::select! {
        result = tm.wait() => result?,
        signal = rask_common::signals::terminated() => {
            tracing::info!("received {signal}, shutting down");
            tm.shutdown().await?;
        }
    }
    Ok(())
}
