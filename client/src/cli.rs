//! The command line: verbs and flags as Flink's CLI spells them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::address::resolve_rest_url;
use crate::commands;
use crate::rest_client::RestClient;

#[derive(Parser, Debug)]
#[command(
    name = "rask",
    version,
    about = "Run and manage Rask jobs (Flink's CLI, in Rust)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb that talks to a JobManager takes.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Address of the JobManager's REST endpoint (host:port).
    #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
    pub jobmanager: Option<String>,
    /// Configuration file or directory (default: $RASK_CONF_DIR/rask.yaml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Configuration override, e.g. -D rest.port=8082 (repeatable).
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub dynamic: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List running and scheduled jobs (all jobs with --all).
    List {
        /// Show only running jobs.
        #[arg(short = 'r', long)]
        running: bool,
        /// Show only scheduled jobs.
        #[arg(short = 's', long)]
        scheduled: bool,
        /// Show all jobs, finished ones included.
        #[arg(short = 'a', long)]
        all: bool,
        #[command(flatten)]
        cluster: ClusterOptions,
    },
}

/// Runs the parsed command; the error is the one line the user sees.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::List {
            running,
            scheduled,
            all,
            cluster,
        } => {
            let url = resolve_rest_url(&cluster)?;
            let client = RestClient::new(url);
            let filter = commands::list::Filter::from_flags(running, scheduled, all);
            let out = commands::list::run(&client, filter).await?;
            print!("{out}");
            Ok(())
        }
    }
}
