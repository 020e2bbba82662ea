//! Deployment-mode benchmark (not a test): a per-job cluster from `rask run --target
//! per-job --detached` until every task of the job runs, and from the job's end
//! (the JobManager's log) until every process of the cluster is gone; an application
//! of three small jobs from `rask run-application` until its REST endpoint serves,
//! until the last job ended, and until every process is gone. Medians of N runs.
//!
//!   cargo run --release -p rask-tests --bin rask-bench-deploy [-- --runs 5]

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use rask_tests::*;

/// Milliseconds since the epoch of the first log line containing `needle`.
fn logged_at(log: &Path, needle: &str) -> f64 {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("'{needle}' in {}", log.display()));
    let stamp = line.split_whitespace().next().unwrap();
    chrono::DateTime::parse_from_rfc3339(stamp).unwrap().timestamp_micros() as f64 / 1000.0
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_micros() as f64 / 1000.0
}

/// Polls every millisecond until no process of `cluster` is left; returns when.
fn gone_at(cluster: &str) -> f64 {
    wait_for(Duration::from_secs(60), "the cluster to be gone", || processes_with(cluster).is_empty().then(now_ms))
}

fn write(dir: &Path, name: &str, rows: u64, rate: u64) {
    std::fs::write(
        dir.join(format!("{name}.yaml")),
        format!(
            "name: {name}\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: {rows}\n    rows-per-second: {rate}\n    \
             fields:\n      - {{name: id, type: BIGINT, kind: sequence}}\npipeline:\n  - map: \"id % 100 AS k\"\n  - key_by: k\n  \
             - aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {{name: out, connector: blackhole}}\n"
        ),
    )
    .unwrap();
}

fn main() {
    let runs = runs_arg("rask-bench-deploy", 5);
    bin_dir();
    let dir = tempfile::tempdir().unwrap();
    println!("rask deployment-mode benchmark ({} build)", if bin_dir().ends_with("release") { "release" } else { "debug" });
    write(dir.path(), "one-second", 100_000, 100_000);
    let job = dir.path().join("one-second.yaml");

    let (mut running, mut teardown) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        let out = rask(&["run", "--target", "per-job", "--detached", job.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let id = line_value(&text, "Job has been submitted with JobID ").unwrap();
        let cluster = format!("per-job-{}", &id[..12]);
        let rest = line_value(&text, &format!("Per-job cluster {cluster} runs at ")).unwrap();
        let url = rest.split_whitespace().next().unwrap().to_string();
        let logs = rest.split_once("(logs in ").unwrap().1.split_once(')').unwrap().0.to_string();
        wait_for(Duration::from_secs(30), "every task RUNNING", || {
            get_json(&format!("{url}/jobs/{id}")).filter(|j| j["status-counts"]["RUNNING"] == 4)
        });
        running.push(start.elapsed().as_secs_f64() * 1000.0);
        let gone = gone_at(&cluster);
        let ended = logged_at(&Path::new(&logs).join("jobmanager.log"), "to FINISHED.");
        teardown.push(gone - ended);
        let _ = std::fs::remove_dir_all(dedicated_cluster_dir(&cluster));
    }
    println!(
        "per-job: command start -> every task RUNNING {:.0} ms (target 500 ms); job end -> every process gone {:.1} ms (target 200 ms); median of {runs}",
        median(running),
        median(teardown)
    );

    for (name, rows) in [("small-a", 2_000), ("small-b", 2_000), ("small-c", 2_000)] {
        write(dir.path(), name, rows, 1_000_000);
    }
    let app = dir.path().join("app.yaml");
    std::fs::write(
        &app,
        "name: three-small\njobs:\n  - execute: small-a.yaml\n  - execute_async: small-b.yaml\n  - execute: small-c.yaml\n",
    )
    .unwrap();
    let (mut rest_up, mut all_ended, mut app_teardown, mut total) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started_ms = now_ms();
        let start = Instant::now();
        let out = rask(&["run-application", app.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        rest_up.push(start.elapsed().as_secs_f64() * 1000.0);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let cluster = line_value(&text, "Application 'three-small' (3 jobs) runs on application cluster ").unwrap();
        let cluster = cluster.split_whitespace().next().unwrap().to_string();
        let logs = line_value(&text, "Logs: ").unwrap();
        let gone = gone_at(&cluster);
        let ended = logged_at(&Path::new(&logs).join("jobmanager.log"), "every job finished");
        all_ended.push(ended - started_ms);
        app_teardown.push(gone - ended);
        total.push(gone - started_ms);
        let _ = std::fs::remove_dir_all(dedicated_cluster_dir(&cluster));
    }
    println!(
        "application of 3 small jobs: REST up {:.0} ms, last job ended {:.0} ms, every process gone {:.0} ms after the command started; \
         last job end -> every process gone {:.1} ms (target 1000 ms); median of {runs}",
        median(rest_up),
        median(all_ended),
        median(total),
        median(app_teardown)
    );
}
