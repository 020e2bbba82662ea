//! `rask list`: running, scheduled (and with --all, finished) jobs, printed as Flink's
//! `flink list` prints them.

use chrono::{Local, TimeZone};
use serde::Deserialize;

use crate::rest_client::{RestClient, RestError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    pub running: bool,
    pub scheduled: bool,
    pub finished: bool,
}

impl Filter {
    /// Flink's rules: no flag = running and scheduled; -a = everything.
    pub fn from_flags(running: bool, scheduled: bool, all: bool) -> Self {
        if all {
            return Self { running: true, scheduled: true, finished: true };
        }
        if !running && !scheduled {
            return Self { running: true, scheduled: true, finished: false };
        }
        Self { running, scheduled, finished: false }
    }
}

#[derive(Debug, Deserialize)]
pub struct JobsOverview {
    pub jobs: Vec<JobOverview>,
}

#[derive(Debug, Deserialize)]
pub struct JobOverview {
    pub jid: String,
    pub name: String,
    pub state: String,
    #[serde(rename = "start-time", default)]
    pub start_time: i64,
    /// For a FAILED job: its root cause (from `/jobs/:id/exceptions`).
    #[serde(skip)]
    pub root_cause: Option<String>,
}

const RULE: &str = "--------------------------------------------------------------";

fn is_scheduled(state: &str) -> bool {
    matches!(state, "CREATED" | "INITIALIZING")
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "FINISHED" | "FAILED" | "CANCELED" | "SUSPENDED")
}

fn line(job: &JobOverview) -> String {
    let when = Local
        .timestamp_millis_opt(job.start_time)
        .single()
        .map(|t| t.format("%d.%m.%Y %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into());
    let mut out = format!("{when} : {} : {} ({})\n", job.jid, job.name, job.state);
    if let Some(cause) = &job.root_cause {
        out.push_str(&format!("    Root cause: {cause}\n"));
    }
    out
}

fn section(out: &mut String, title: &str, empty: &str, jobs: &[&JobOverview]) {
    if jobs.is_empty() {
        out.push_str(empty);
        out.push('\n');
        return;
    }
    out.push_str(&format!("------------------ {title} -------------------\n"));
    for job in jobs {
        out.push_str(&line(job));
    }
    out.push_str(RULE);
    out.push('\n');
}

/// Renders the listing for `jobs` under `filter`.
pub fn render(mut jobs: Vec<JobOverview>, filter: Filter) -> String {
    jobs.sort_by_key(|j| j.start_time);
    let running: Vec<&JobOverview> = jobs.iter().filter(|j| !is_scheduled(&j.state) && !is_terminal(&j.state)).collect();
    let scheduled: Vec<&JobOverview> = jobs.iter().filter(|j| is_scheduled(&j.state)).collect();
    let finished: Vec<&JobOverview> = jobs.iter().filter(|j| is_terminal(&j.state)).collect();
    let mut out = String::new();
    if filter.running {
        section(&mut out, "Running/Restarting Jobs", "No running jobs.", &running);
    }
    if filter.scheduled {
        section(&mut out, "Scheduled Jobs", "No scheduled jobs.", &scheduled);
    }
    if filter.finished {
        section(&mut out, "Terminated Jobs", "No terminated jobs.", &finished);
    }
    out
}

pub async fn run(client: &RestClient, filter: Filter) -> Result<String, RestError> {
    let mut overview: JobsOverview = client.get("/jobs/overview").await?;
    if filter.finished {
        for job in overview.jobs.iter_mut().filter(|j| j.state == "FAILED") {
            let exceptions: serde_json::Value = client.get(&format!("/jobs/{}/exceptions", job.jid)).await?;
            job.root_cause = exceptions["root-exception"].as_str().map(str::to_string);
        }
    }
    Ok(render(overview.jobs, filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, state: &str) -> JobOverview {
        JobOverview { jid: id.into(), name: format!("job {id}"), state: state.into(), start_time: 1_700_000_000_000, root_cause: None }
    }

    #[test]
    fn empty_listing_matches_flink() {
        let out = render(vec![], Filter::from_flags(false, false, false));
        assert_eq!(out, "No running jobs.\nNo scheduled jobs.\n");
    }

    #[test]
    fn sections_and_filters() {
        let jobs = || vec![job("a", "RUNNING"), job("b", "CREATED"), job("c", "FINISHED")];
        let out = render(jobs(), Filter::from_flags(false, false, false));
        assert!(out.contains("Running/Restarting Jobs"));
        assert!(out.contains(" : a : job a (RUNNING)"));
        assert!(out.contains(" : b : job b (CREATED)"));
        assert!(!out.contains("job c"));
        let out = render(jobs(), Filter::from_flags(true, false, false));
        assert!(!out.contains("job b"));
        let out = render(jobs(), Filter::from_flags(false, false, true));
        assert!(out.contains(" : c : job c (FINISHED)"));
    }
}
