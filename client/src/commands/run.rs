//! `rask run`: the program step here in the client (job file -> JobGraph), then
//! submission to a cluster (`--target remote`) or to a MiniCluster started in this
//! process (`--target local`). Attached, it prints the job's printed rows as they
//! come and exits non-zero if the job fails. `--target per-job` hands the JobGraph to
//! a cluster started for it alone; `run-application` ships an application file to an
//! application cluster.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rask_common::config::{options as o, Configuration};
use rask_common::job::planner::{plan_file, PlanOptions};
use rask_common::job::JobGraph;
use serde::Deserialize;

use super::follow::follow;
use crate::address::ClusterOptions;
use crate::deployment;
use crate::minicluster::MiniCluster;
use crate::rest_client::RestClient;

pub struct RunOptions {
    pub detached: bool,
    pub parallelism: Option<u32>,
    /// --target per-job: keep the cluster's directory after it stops.
    pub keep: bool,
}

/// The program step, as `rask run` and `rask info` do it: a job file's job, or the
/// jobs of a SQL script (each INSERT, or statement set, is one).
pub fn plan(job_file: &Path, parallelism: Option<u32>, conf: &Configuration) -> anyhow::Result<Vec<JobGraph>> {
    let options = PlanOptions {
        parallelism,
        max_parallelism: conf
            .contains(&o::PIPELINE_MAX_PARALLELISM)
            .then(|| conf.get_positive_int(&o::PIPELINE_MAX_PARALLELISM))
            .transpose()?,
        default_parallelism: Some(conf.get_positive_int(&o::PARALLELISM_DEFAULT)?),
    };
    let mut graphs = Vec::new();
    for job in plan_file(job_file, &options)? {
        for warning in &job.warnings {
            eprintln!("rask: warning: {}: {warning}", job_file.display());
        }
        let mut graph = job.graph;
        // Flink's job configuration: the keys that apply per job travel with the
        // JobGraph; a script's SET wins over -D.
        let mut configuration = conf.job_configuration();
        configuration.append(&mut graph.configuration);
        graph.configuration = configuration;
        graphs.push(graph);
    }
    Ok(graphs)
}

/// Warns about `-D` keys a running cluster cannot take from a job (they would
/// otherwise be ignored without a word).
pub fn warn_cluster_keys(conf: &Configuration, cluster: &str) {
    for key in conf.dynamic_keys(rask_common::config::scope::Scope::Cluster) {
        eprintln!(
            "rask: warning: -D {key} is a cluster setting: the running cluster at {cluster} keeps its own value, so it does not apply to this job (set it in that cluster's configuration and restart it, or use --target per-job for a cluster of this job's own)"
        );
    }
}

#[derive(Deserialize)]
struct Submitted {
    jobid: String,
}

/// Submits a planned job to the cluster at `client`; returns the job id.
pub async fn submit(client: &RestClient, graph: &JobGraph) -> anyhow::Result<String> {
    let submitted: Submitted = client.post("/jobs", graph).await?;
    Ok(submitted.jobid)
}

pub async fn run_remote(client: &RestClient, graphs: &[JobGraph], conf: &Configuration, options: &RunOptions) -> anyhow::Result<()> {
    warn_cluster_keys(conf, &client.base());
    let mut ids = Vec::new();
    for graph in graphs {
        let job_id = submit(client, graph).await?;
        say(&format!("Job has been submitted with JobID {job_id}"));
        ids.push(job_id);
    }
    if options.detached {
        return Ok(());
    }
    follow_all(client, &ids, Duration::from_millis(100)).await
}

/// Follows every job until it ends; the first failure is the result.
async fn follow_all(client: &RestClient, ids: &[String], poll: Duration) -> anyhow::Result<()> {
    let results = futures::future::join_all(ids.iter().map(|id| follow(client, id, poll))).await;
    results.into_iter().collect()
}

/// Runs the jobs on a MiniCluster started here with slots for all of them, following
/// each until it ends.
pub async fn run_local(graphs: &[JobGraph], conf: &Configuration) -> anyhow::Result<()> {
    let cluster = MiniCluster::start(graphs.iter().map(JobGraph::slots_needed).sum(), conf).await?;
    let tls = rask_common::security::RestTls::client_from_configuration(conf)?;
    let client = RestClient::new(cluster.rest_url.clone(), tls.as_deref())?;
    let run = async {
        let mut ids = Vec::new();
        for graph in graphs {
            let job_id = submit(&client, graph).await?;
            say(&format!("Job has been submitted with JobID {job_id}"));
            ids.push(job_id);
        }
        follow_all(&client, &ids, Duration::from_millis(10)).await
    };
    // Ctrl-C (how a job that runs until cancelled ends here) stops the cluster cleanly.
    let result = tokio::select! {
        result = run => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted: the local cluster and its job are stopped")),
    };
    cluster.shutdown().await;
    result
}

/// `--target per-job`: starts a cluster for this job alone (the JobGraph planned
/// here is handed to its JobManager). Detached: prints the JobID and the cluster's
/// address and returns. Attached: follows the job; the cluster stops when it ends.
pub async fn run_per_job(graph: &JobGraph, cluster: &ClusterOptions, conf: &Configuration, options: &RunOptions) -> anyhow::Result<()> {
    let job_id = graph.job_id.clone();
    let cluster_id = format!("per-job-{}", &job_id[..12]);
    let dir = deployment::cluster_dir(&cluster_id)?;
    let graph_file = dir.join("job-graph.json");
    std::fs::write(&graph_file, serde_json::to_vec(graph)?).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", graph_file.display()))?;
    let mut args = vec!["--job-graph".to_string(), graph_file.display().to_string()];
    if !options.detached {
        args.push("--attached".into());
    }
    if !options.keep {
        args.extend(["--cleanup-dir".to_string(), dir.display().to_string()]);
    }
    let mut started = deployment::start(&cluster_id, &dir, cluster, conf, &args).await?;
    let tls = rask_common::security::RestTls::client_from_configuration(conf)?;
    let client = RestClient::new(started.rest_url.clone(), tls.as_deref())?;
    // The JobManager announces itself once it has taken the job.
    if let Err(e) = client.get::<serde_json::Value>(&format!("/jobs/{job_id}")).await {
        let _ = started.process.start_kill();
        anyhow::bail!("the per-job cluster at {} did not take job {job_id}: {e} (log: {})", started.rest_url, started.log_dir.display());
    }
    say(&format!("Job has been submitted with JobID {job_id}"));
    if options.detached {
        say(&format!(
            "Per-job cluster {} runs at {} (logs in {}); it stops when the job ends{}.",
            started.cluster_id,
            started.rest_url,
            started.log_dir.display(),
            if options.keep { "" } else { ", and removes its directory unless the job failed" }
        ));
        say(&format!(
            "Follow it with `rask list -m {}`; `rask cancel -m {} {job_id}` ends it.",
            deployment::host_port(&started.rest_url),
            deployment::host_port(&started.rest_url)
        ));
        return Ok(());
    }
    let result = follow(&client, &job_id, Duration::from_millis(20)).await;
    // The cluster stops (and cleans up) once it has told us the end.
    deployment::wait_for_exit(&mut started.process).await;
    if started.dir.exists() {
        eprintln!("The per-job cluster's files (logs in {}) stay in {}", started.log_dir.display(), started.dir.display());
    }
    result
}

/// Prints a line; a closed stdout (`rask run ... | head`) is not an error.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}
