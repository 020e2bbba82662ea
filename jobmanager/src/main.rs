//! rask-jobmanager: the JobManager daemon. Loads configuration, starts the
//! JobManager, and stops it cleanly on SIGTERM/SIGINT.

use std::path::PathBuf;

use clap::Parser;
use rask_common::config::{options, Configuration};
use rask_jobmanager::{JobManager, JobManagerConfiguration};

#[derive(Parser)]
#[command(name = "rask-jobmanager", version, about = "Rask JobManager daemon")]
struct Args {
    /// Configuration file (rask.yaml) or the directory holding it.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Override a configuration key: -D key=value (repeatable).
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    dynamic: Vec<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let conf = match Configuration::load(args.config.as_deref(), &args.dynamic)
        .and_then(|c| JobManagerConfiguration::from_configuration(&c).map(|j| (c, j)))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rask-jobmanager: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    rask_common::logging::init(&conf.0.get_string(&options::LOG_LEVEL).unwrap_or_default());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(conf.1)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(conf: JobManagerConfiguration) -> anyhow::Result<()> {
    let jm = JobManager::start(conf).await?;
    let signal = rask_common::signals::terminated().await;
    tracing::info!("received {signal}, shutting down");
    jm.shutdown().await;
    Ok(())
}
