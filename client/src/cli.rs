//! The command line: verbs and flags as Flink's CLI spells them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::address::{connect, ClusterOptions};
use crate::commands;
use crate::hints::{explain, Situation};

#[derive(Parser, Debug)]
#[command(name = "rask", version, about = "Run and manage Rask jobs (Flink's CLI, in Rust)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where `rask run` runs the job.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An in-process MiniCluster started for this job.
    Local,
    /// A running session cluster (-m, or the configuration).
    Remote,
    /// A cluster started for this job alone, which stops when the job ends.
    PerJob,
}

/// Where `rask run-application` runs the application.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationTarget {
    /// A new application cluster whose JobManager runs the program step.
    Application,
    /// A running session cluster: refused (it takes JobGraphs, not applications).
    Remote,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a job file: plan it here, submit it, and (attached) print its output.
    Run {
        /// Submit and return at once, printing the JobID.
        #[arg(short = 'd', long)]
        detached: bool,
        /// Parallelism of operators that set none (overrides the job file's default).
        #[arg(short = 'p', long)]
        parallelism: Option<u32>,
        /// local (default without a configured cluster) or remote.
        #[arg(short = 't', long, value_enum)]
        target: Option<Target>,
        /// Start from this savepoint (its directory).
        #[arg(short = 's', long = "fromSavepoint", value_name = "PATH")]
        from_savepoint: Option<String>,
        /// With --fromSavepoint: skip state of operators the job does not run.
        #[arg(short = 'n', long = "allowNonRestoredState")]
        allow_non_restored_state: bool,
        /// --target per-job: keep the cluster's directory (logs, JobGraph) after it
        /// stops; by default it is removed unless the job failed.
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        cluster: ClusterOptions,
        /// The job file (YAML).
        job_file: PathBuf,
    },
    /// Start an application cluster: ship the application file (and the files it
    /// references) to a new JobManager, which runs its jobs in order and stops after.
    #[command(name = "run-application")]
    RunApplication {
        /// application (a new cluster). A session cluster cannot run applications.
        #[arg(short = 't', long, value_enum, default_value = "application")]
        target: ApplicationTarget,
        /// Wait for the application: print each job's rows as it runs and exit with
        /// the application's result.
        #[arg(short = 'a', long, visible_alias = "wait")]
        attached: bool,
        /// Keep the cluster's directory (logs, shipped files) after it stops; by
        /// default only the printed rows (*.out) stay, and everything when a job failed.
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        cluster: ClusterOptions,
        /// The application file (YAML): `name` and `jobs` with execute / execute_async.
        app_file: PathBuf,
    },
    /// Trigger a savepoint of a running job (or dispose of one with --dispose).
    Savepoint {
        /// Delete the savepoint at this path instead.
        #[arg(short = 'd', long, value_name = "PATH")]
        dispose: Option<String>,
        #[command(flatten)]
        cluster: ClusterOptions,
        /// The job (not with --dispose).
        job_id: Option<String>,
        /// Target directory (default: state.savepoints.dir).
        target_directory: Option<String>,
    },
    /// Stop a job with a savepoint; it ends FINISHED.
    Stop {
        /// Target directory of the savepoint (default: state.savepoints.dir).
        #[arg(short = 'p', long = "savepointPath", value_name = "DIR")]
        savepoint_path: Option<String>,
        /// Advance event time to the end first, so that every window fires.
        #[arg(short = 'd', long)]
        drain: bool,
        #[command(flatten)]
        cluster: ClusterOptions,
        job_id: String,
    },
    /// Cancel a running job.
    Cancel {
        #[command(flatten)]
        cluster: ClusterOptions,
        job_id: String,
    },
    /// Print the planned execution graph of a job file as JSON.
    Info {
        /// Parallelism of operators that set none.
        #[arg(short = 'p', long)]
        parallelism: Option<u32>,
        #[command(flatten)]
        cluster: ClusterOptions,
        job_file: PathBuf,
    },
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

/// The configuration the CLI reads (file, environment, -D).
fn configuration(cluster: &ClusterOptions) -> anyhow::Result<rask_common::config::Configuration> {
    Ok(rask_common::config::Configuration::load(cluster.config.as_deref(), &cluster.dynamic)?)
}

/// `local` unless the user points at a cluster (-m, --config or RASK_CONF_DIR).
fn default_target(cluster: &ClusterOptions, conf: &rask_common::config::Configuration) -> Target {
    let ha = conf.get_string(&rask_common::config::options::HA_TYPE).is_some_and(|t| t.eq_ignore_ascii_case("etcd"));
    if ha || cluster.jobmanager.is_some() || cluster.config.is_some() || std::env::var_os(rask_common::config::CONF_DIR_ENV).is_some() {
        Target::Remote
    } else {
        Target::Local
    }
}

/// Runs the parsed command; the error is the one line the user sees.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { detached, parallelism, target, from_savepoint, allow_non_restored_state, keep, cluster, job_file } => {
            let conf = configuration(&cluster)?;
            let mut graphs = commands::run::plan(&job_file, parallelism, &conf)?;
            if let Some(path) = from_savepoint {
                let [graph] = graphs.as_mut_slice() else {
                    anyhow::bail!(
                        "--fromSavepoint restores one job, and {} plans {} jobs: put the INSERTs in one statement set (EXECUTE STATEMENT SET BEGIN … END;) or restore each from its own script",
                        job_file.display(),
                        graphs.len()
                    );
                };
                let dir = rask_common::checkpoint::savepoint_dir(&path);
                if !rask_common::checkpoint::savepoint_exists(&dir).await? {
                    anyhow::bail!("savepoint path {path} does not exist or holds no _metadata: give the path `rask savepoint` or `rask stop` printed (\"Savepoint completed. Path: …\"), a directory holding _metadata");
                }
                graph.savepoint = Some(rask_common::job::graph::SavepointRestore { path: dir, allow_non_restored_state });
            }
            let options = commands::run::RunOptions { detached, parallelism, keep };
            let target = target.unwrap_or_else(|| default_target(&cluster, &conf));
            if keep && target != Target::PerJob {
                anyhow::bail!("--keep keeps a per-job cluster's directory: it goes with --target per-job");
            }
            match target {
                Target::Local => {
                    if detached {
                        anyhow::bail!("--detached needs a cluster that outlives this command: use --target per-job (a cluster of this job's own, started now) or --target remote -m HOST:PORT (a running session cluster)");
                    }
                    commands::run::run_local(&graphs, &conf).await
                }
                Target::Remote => async {
                    let client = connect(&cluster).await?;
                    commands::run::run_remote(&client, &graphs, &conf, &options).await
                }
                .await
                .map_err(|e| explain(e, Situation::RunRemote)),
                Target::PerJob => {
                    let runs = graphs.iter().map(|graph| commands::run::run_per_job(graph, &cluster, &conf, &options));
                    futures::future::join_all(runs).await.into_iter().collect()
                }
            }
        }
        Command::RunApplication { target, attached, keep, cluster, app_file } => {
            if target == ApplicationTarget::Remote || cluster.jobmanager.is_some() {
                let fix = match &cluster.jobmanager {
                    Some(_) => "Drop -m (and use --target application)",
                    None => "Use --target application",
                };
                anyhow::bail!(
                    "run-application starts a new application cluster, whose JobManager runs the application's program step; a session cluster{} only runs JobGraphs submitted with `rask run`. {fix}, or submit each job with `rask run`",
                    cluster.jobmanager.as_ref().map(|m| format!(" (-m {m})")).unwrap_or_default()
                );
            }
            let conf = configuration(&cluster)?;
            commands::application::run(&app_file, &cluster, &conf, commands::application::Options { attached, keep }).await
        }
        Command::Savepoint { dispose, cluster, job_id, target_directory } => {
            let situation = if dispose.is_some() { Situation::Cluster } else { Situation::JobVerb };
            async {
                let client = connect(&cluster).await?;
                match (dispose, job_id) {
                    (Some(path), _) => commands::savepoint::dispose(&client, &path).await,
                    (None, Some(job)) => commands::savepoint::trigger(&client, &job, target_directory.as_deref()).await,
                    (None, None) => anyhow::bail!("rask savepoint needs a JobID (or --dispose PATH); `rask list` shows the running jobs"),
                }
            }
            .await
            .map_err(|e| explain(e, situation))
        }
        Command::Stop { savepoint_path, drain, cluster, job_id } => async {
            let client = connect(&cluster).await?;
            commands::savepoint::stop(&client, &job_id, savepoint_path.as_deref(), drain).await
        }
        .await
        .map_err(|e| explain(e, Situation::JobVerb)),
        Command::Cancel { cluster, job_id } => async {
            let client = connect(&cluster).await?;
            commands::cancel::run(&client, &job_id).await
        }
        .await
        .map_err(|e| explain(e, Situation::JobVerb)),
        Command::Info { parallelism, cluster, job_file } => {
            let conf = configuration(&cluster)?;
            let graphs = commands::run::plan(&job_file, parallelism, &conf)?;
            let rendered: Vec<String> = graphs.iter().map(commands::info::render).collect();
            let _ = std::io::Write::write_all(&mut std::io::stdout(), rendered.join("\n").as_bytes());
            Ok(())
        }
        Command::List { running, scheduled, all, cluster } => async {
            let client = connect(&cluster).await?;
            let filter = commands::list::Filter::from_flags(running, scheduled, all);
            let out = commands::list::run(&client, filter).await?;
            let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
            Ok(())
        }
        .await
        .map_err(|e| explain(e, Situation::Cluster)),
    }
}
