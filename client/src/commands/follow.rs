//! Following an attached job: its printed rows as they come, each restart as it
//! happens, a progress line on a terminal (off when the output is piped), and at the
//! end Flink's lines plus a one-line summary (rows, runtime, restarts, checkpoints).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::run::say;
use crate::rest_client::RestClient;

#[derive(Deserialize)]
struct Output {
    lines: Vec<String>,
    next: usize,
    #[serde(rename = "root-exception", default)]
    root_exception: Option<String>,
    #[serde(default)]
    dropped: usize,
    /// Failures so far, the newest last; `failure_count` counts those no longer kept.
    #[serde(rename = "failure-count", default)]
    failure_count: u64,
    #[serde(default)]
    failures: Vec<Failure>,
    state: String,
    terminal: bool,
    /// Rows the job's print sinks have printed.
    #[serde(default)]
    rows: u64,
    #[serde(default)]
    checkpoints: Checkpoints,
}

#[derive(Deserialize)]
struct Failure {
    cause: String,
}

#[derive(Deserialize, Default)]
struct Checkpoints {
    #[serde(default)]
    completed: u64,
    #[serde(rename = "state-size", default)]
    state_size: u64,
}

/// Follows a job to its end, printing its rows; errors when it did not finish.
pub async fn follow(client: &RestClient, job_id: &str, poll: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut from = 0usize;
    let mut lost = 0usize;
    let mut failures_seen = 0u64;
    let mut progress = Progress::new();
    loop {
        // A long poll: the JobManager answers when rows come, the job ends, or after
        // a second (the progress line's pace).
        let asked = std::time::Instant::now();
        let out: Output = client.get(&format!("/jobs/{job_id}/output?from={from}&wait=1000")).await?;
        let answered_at_once = out.lines.is_empty() && asked.elapsed() < Duration::from_millis(100);
        if out.dropped > 0 {
            lost += out.dropped;
            progress.clear();
            eprintln!(
                "rask: {} printed rows were dropped before this client read them (the JobManager keeps the latest 100,000 lines, 64 MiB at most)",
                out.dropped
            );
        }
        // Each failure as it happens: a restart's cause (the last one, if the job
        // failed for good, is reported below with its end).
        let new = out.failure_count.saturating_sub(failures_seen) as usize;
        let restarts = if out.state == "FAILED" { new.saturating_sub(1) } else { new };
        let shown = out.failures.len().saturating_sub(new);
        for (i, f) in out.failures.iter().skip(shown).take(restarts).enumerate() {
            progress.clear();
            eprintln!("rask: job {job_id} restarting (restart {}) after: {}", failures_seen + i as u64 + 1, f.cause);
        }
        failures_seen += restarts as u64;
        if !out.lines.is_empty() {
            progress.clear();
        }
        let mut stdout = std::io::stdout().lock();
        for line in &out.lines {
            if let Err(e) = writeln!(stdout, "{line}") {
                // The reader went away (`rask run ... | head`): stop following quietly.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e.into());
            }
        }
        drop(stdout);
        from = out.next;
        if out.terminal {
            progress.clear();
            let summary = format!(
                "Summary: {} printed, runtime {}, {} restarts, {} completed checkpoints",
                plural(out.rows, "row"),
                human_duration(started.elapsed()),
                failures_seen,
                out.checkpoints.completed
            );
            if out.state == "FINISHED" {
                say(&format!("Job with JobID {job_id} has finished."));
                say(&format!("Job Runtime: {} ms", started.elapsed().as_millis()));
                say(&summary);
                if lost > 0 {
                    anyhow::bail!("job {job_id} finished, but {lost} printed rows were lost before this client read them");
                }
                return Ok(());
            }
            eprintln!("{summary}");
            let cause = out.root_exception.unwrap_or_default();
            if cause.is_empty() {
                anyhow::bail!("job {job_id} ended {}", out.state);
            }
            anyhow::bail!("job {job_id} ended {}: {cause}", out.state);
        }
        progress.show(started, &out);
        // Only an answer that neither waited nor brought rows (a JobManager without
        // long polls) is followed by a pause.
        if answered_at_once {
            tokio::time::sleep(poll).await;
        }
    }
}

impl Drop for Progress {
    /// An error or the end never prints onto a half-drawn progress line.
    fn drop(&mut self) {
        self.clear();
    }
}

/// The progress line: on stderr, only when both stdout and stderr are terminals,
/// redrawn at most once a second after the job has run for two seconds.
struct Progress {
    enabled: bool,
    drawn: bool,
    last: Option<(Instant, u64)>,
    rate: f64,
}

impl Progress {
    fn new() -> Self {
        let enabled = std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && std::env::var_os("RASK_NO_PROGRESS").is_none();
        Self { enabled, drawn: false, last: None, rate: 0.0 }
    }

    fn show(&mut self, started: Instant, out: &Output) {
        if !self.enabled || started.elapsed() < Duration::from_secs(2) {
            return;
        }
        let now = Instant::now();
        match self.last {
            Some((at, _)) if now.duration_since(at) < Duration::from_secs(1) => return,
            Some((at, rows)) => self.rate = out.rows.saturating_sub(rows) as f64 / now.duration_since(at).as_secs_f64(),
            None => {}
        }
        self.last = Some((now, out.rows));
        let line = progress_line(started.elapsed(), &out.state, out.rows, self.rate, out.checkpoints.completed, out.checkpoints.state_size);
        let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
        self.drawn = true;
    }

    /// Takes the line away before other output is written.
    fn clear(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

fn progress_line(elapsed: Duration, state: &str, rows: u64, rate: f64, checkpoints: u64, state_size: u64) -> String {
    format!(
        "[{state} {}] {} printed ({:.0} rows/s) · {checkpoints} checkpoints · state {}",
        human_duration(elapsed),
        plural(rows, "row"),
        rate,
        human_bytes(state_size)
    )
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..=9_999 => format!("{ms} ms"),
        10_000..=599_999 => format!("{:.1} s", d.as_secs_f64()),
        _ => format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60),
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        0..=1023 => format!("{b} B"),
        1024..=1_048_575 => format!("{:.1} KiB", b as f64 / 1024.0),
        _ => format!("{:.1} MiB", b as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_reads_as_a_sentence() {
        let line = progress_line(Duration::from_secs(12), "RUNNING", 1234, 103.4, 3, 45 * 1024);
        assert_eq!(line, "[RUNNING 12.0 s] 1234 rows printed (103 rows/s) · 3 checkpoints · state 45.0 KiB");
        assert_eq!(plural(1, "row"), "1 row");
        assert_eq!(human_duration(Duration::from_millis(640)), "640 ms");
        assert_eq!(human_duration(Duration::from_secs(754)), "12 min 34 s");
    }
}
