//! rask-jobmanager: the JobManager daemon. Loads configuration, starts the
//! JobManager in the deployment mode its flags name (session by default, per-job with
//! `--job-graph`, application with `--application`), and stops it cleanly on
//! SIGTERM/SIGINT or when a per-job or application cluster's work is done.
//!
//! It lives in the library, not in `main.rs`, so that the runtime and every future it
//! polls are compiled once, with this crate (a release build of the binary takes
//! seconds instead of half a minute).

use std::path::PathBuf;

use crate::cluster_mode::{self, ClusterMode, ClusterOutcome};
use crate::{JobManager, JobManagerConfiguration};
use clap::Parser;
use rask_common::config::{options, Configuration};
use rask_common::job::planner::PlanOptions;

#[derive(Parser)]
#[command(name = "rask-jobmanager", version, about = "Rask JobManager daemon")]
struct Args {
    /// Configuration file (rask.yaml) or the directory holding it.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Override a configuration key: -D key=value (repeatable).
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    dynamic: Vec<String>,
    /// Application mode: run the jobs of this application file, then exit.
    #[arg(long, value_name = "APP_FILE", conflicts_with = "job_graph")]
    application: Option<PathBuf>,
    /// Per-job mode: run this JobGraph (JSON, as `rask run --target per-job` writes
    /// it), then exit.
    #[arg(long, value_name = "FILE")]
    job_graph: Option<PathBuf>,
    /// Per-job and application mode: stay until a client has read every job's end
    /// (an attached client).
    #[arg(long)]
    attached: bool,
    /// Application mode: where each job's printed rows go (`<job>-<id6>.out`);
    /// default: env.log.dir, else beside the application file.
    #[arg(long, value_name = "DIR", requires = "application")]
    output_dir: Option<PathBuf>,
    /// A dedicated cluster's own directory (as `rask` makes it): on exit, when every job
    /// finished or was cancelled, its logs, JobGraph, ready file and the files listed in
    /// its `shipped-files` are removed (what jobs wrote stays); kept whole when a job
    /// failed, for diagnosis.
    #[arg(long, value_name = "DIR")]
    cleanup_dir: Option<PathBuf>,
    /// Once clients may come (a per-job cluster: once its job is submitted), write the
    /// REST endpoint's URL to this file and print it on stdout.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
}

/// The daemon's `main`: the command line, the configuration, the runtime, the exit code.
pub fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let loaded = Configuration::load(args.config.as_deref(), &args.dynamic)
        .and_then(|c| JobManagerConfiguration::from_configuration(&c).map(|j| (c, j)));
    let (conf, jm_conf) = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rask-jobmanager: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let mode = match cluster_mode_of(&args, &conf) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("rask-jobmanager: {e:#}");
            return std::process::ExitCode::from(1);
        }
    };
    if !matches!(mode, ClusterMode::Session) && jm_conf.ha.is_some() {
        eprintln!(
            "rask-jobmanager: high-availability.type: etcd is for session clusters; a per-job or application cluster has one JobManager (set high-availability.type: none)"
        );
        return std::process::ExitCode::from(1);
    }
    rask_common::logging::init(&conf.get_string(&options::LOG_LEVEL).unwrap_or_default());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    let outcome = runtime.block_on(run(jm_conf, mode, args.ready_file));
    if let Some(dir) = &args.cleanup_dir {
        cluster_mode::clean_up(dir, outcome.as_ref().ok().copied());
    }
    match outcome {
        Ok(None | Some(ClusterOutcome::Finished)) => std::process::ExitCode::SUCCESS,
        Ok(Some(_)) => std::process::ExitCode::from(1),
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn cluster_mode_of(args: &Args, conf: &Configuration) -> anyhow::Result<ClusterMode> {
    if let Some(file) = &args.application {
        let plan = PlanOptions {
            parallelism: None,
            max_parallelism: conf
                .contains(&options::PIPELINE_MAX_PARALLELISM)
                .then(|| conf.get_positive_int(&options::PIPELINE_MAX_PARALLELISM))
                .transpose()?,
            default_parallelism: Some(conf.get_positive_int(&options::PARALLELISM_DEFAULT)?),
        };
        // Checked before anything starts: a broken application file names file and line.
        rask_common::job::application::load_application(file)?;
        // Printed rows go beside the logs, else beside the application file (where its
        // relative paths lead too).
        let out_dir = args.output_dir.clone().unwrap_or_else(|| {
            conf.get_string(&options::ENV_LOG_DIR)
                .map(PathBuf::from)
                .unwrap_or_else(|| file.parent().map(PathBuf::from).unwrap_or_default())
        });
        return Ok(ClusterMode::Application { file: file.clone(), plan, out_dir, attached: args.attached });
    }
    if let Some(path) = &args.job_graph {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the JobGraph {}: {e}", path.display()))?;
        let graph = serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{} is not a JobGraph: {e}", path.display()))?;
        return Ok(ClusterMode::PerJob { graph: Box::new(graph), attached: args.attached });
    }
    Ok(ClusterMode::Session)
}

/// Runs until a signal (any mode: `None`) or until the mode's jobs are done (how they
/// ended).
async fn run(conf: JobManagerConfiguration, mode: ClusterMode, ready_file: Option<PathBuf>) -> anyhow::Result<Option<ClusterOutcome>> {
    let rest_host = conf.rest_address.clone();
    let scheme = if conf.rest_tls.is_some() { "https" } else { "http" };
    let jm = JobManager::start(conf).await?;
    let url = format!("{scheme}://{}", rask_common::net::host_port(&rest_host, jm.rest_address.port()));
    // Announced once the mode's first step is done (a per-job cluster's job submitted).
    let announce = move || {
        if let Some(path) = ready_file {
            let tmp = path.with_extension("tmp");
            if let Err(e) = std::fs::write(&tmp, format!("{url}\n")).and_then(|_| std::fs::rename(&tmp, &path)) {
                tracing::error!("cannot write the ready file {}: {e}", path.display());
            }
            // Whoever started this JobManager and waits on its stdout learns at once.
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{url}").and_then(|_| stdout.flush());
        }
    };
    let outcome = tokio::select! {
        signal = rask_common::signals::terminated() => {
            tracing::info!("received {signal}, shutting down");
            Ok(None)
        }
        done = cluster_mode::run(&jm, mode, announce) => done.map(Some),
    };
    jm.shutdown().await;
    Ok(outcome?)
}
