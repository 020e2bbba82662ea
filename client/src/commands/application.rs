//! `rask run-application`: ships an application file (and the files it references) to
//! a new application cluster, whose JobManager runs its jobs in order. Detached (the
//! default, as Flink's) it says where the application runs and how to follow it;
//! attached (`--attached`) it prints each job's rows as the job runs and exits with
//! the application's result.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use rask_common::config::Configuration;
use serde::Deserialize;

use super::follow::follow;
use super::run::say;
use crate::address::ClusterOptions;
use crate::deployment::{self, StartedCluster};
use crate::rest_client::RestClient;

pub struct Options {
    pub attached: bool,
    pub keep: bool,
}

pub async fn run(app_file: &Path, cluster: &ClusterOptions, conf: &Configuration, options: Options) -> anyhow::Result<()> {
    let application = rask_common::job::application::load_application(app_file)?;
    let cluster_id = format!("application-{}", &rask_common::ids::random_hex_id()[..12]);
    let dir = deployment::cluster_dir(&cluster_id)?;
    let shipped = deployment::ship(&application, &dir)?;
    let mut args = vec!["--application".to_string(), shipped.display().to_string(), "--output-dir".into(), dir.display().to_string()];
    if options.attached {
        args.push("--attached".into());
    }
    if !options.keep {
        args.extend(["--cleanup-dir".to_string(), dir.display().to_string()]);
    }
    let mut started = deployment::start(&cluster_id, &dir, cluster, conf, &args).await?;
    let m = deployment::host_port(&started.rest_url).to_string();
    say(&format!(
        "Application '{}' ({} jobs) runs on application cluster {} at {}",
        application.name,
        application.jobs.len(),
        started.cluster_id,
        started.rest_url
    ));
    say(&format!("Shipped files: {}", shipped.parent().unwrap_or(&dir).display()));
    if !options.attached {
        say(&format!(
            "It runs on in the background; the cluster stops when every job has ended. `rask list -m {m}` shows its jobs, `rask cancel -m {m} JOBID` cancels the application, `rask run-application --attached` waits for it instead."
        ));
        say(&format!("Each job's printed rows land in {}/<job>-<id>.out when the job ends.", dir.display()));
        say(&format!(
            "Logs: {}{}",
            started.log_dir.display(),
            if options.keep {
                ""
            } else {
                " (removed with the shipped files when no job fails, leaving only what the jobs wrote; --keep keeps them)"
            }
        ));
        return Ok(());
    }
    let tls = rask_common::security::RestTls::client_from_configuration(conf)?;
    let client = RestClient::new(started.rest_url.clone(), tls.as_deref())?;
    let followed = follow_jobs(&client, &application.name, &mut started).await;
    let status = deployment::wait_for_exit(&mut started.process).await;
    if dir.exists() {
        eprintln!("The application cluster's files stay in {} (logs in {})", dir.display(), started.log_dir.display());
    }
    followed?;
    match status {
        Some(s) if s.success() => {
            say(&format!("Application '{}' finished.", application.name));
            Ok(())
        }
        Some(s) => {
            let log = started.log_dir.join("jobmanager.log");
            let cause = deployment::last_error(&log).map(|e| format!(": {e}")).unwrap_or_default();
            anyhow::bail!("application '{}' did not finish ({s}){cause} (log: {})", application.name, log.display())
        }
        None => anyhow::bail!("application '{}': its JobManager did not stop", application.name),
    }
}

#[derive(Deserialize)]
struct Overview {
    jobs: Vec<JobSummary>,
}

#[derive(Deserialize)]
struct JobSummary {
    jid: String,
    name: String,
    #[serde(rename = "start-time")]
    start_time: i64,
}

/// Follows each job of the application in the order they start, until the cluster
/// stops; the first job that did not finish is the error.
async fn follow_jobs(client: &RestClient, application: &str, started: &mut StartedCluster) -> anyhow::Result<()> {
    let mut followed = HashSet::new();
    let mut first_error = None;
    loop {
        let overview = match client.get::<Overview>("/jobs/overview").await {
            Ok(o) => o,
            // The cluster stopped: after the last job's end was read, or because the
            // application failed.
            Err(e) => match deployment::wait_for_exit(&mut started.process).await {
                Some(_) => break,
                None => return Err(e.into()),
            },
        };
        let mut jobs = overview.jobs;
        jobs.sort_by_key(|j| j.start_time);
        let mut new = false;
        for job in &jobs {
            if !followed.insert(job.jid.clone()) {
                continue;
            }
            new = true;
            say(&format!("Job '{}' ({}) of application '{application}':", job.name, job.jid));
            if let Err(e) = follow(client, &job.jid, Duration::from_millis(20)).await {
                eprintln!("rask: {e:#}");
                first_error.get_or_insert(e);
            }
        }
        if !new {
            // The next job, or the cluster's end (its JobManager exits).
            tokio::select! {
                _ = started.process.wait() => break,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
