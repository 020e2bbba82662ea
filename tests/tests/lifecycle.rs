//! End-to-end tests of a TaskManager's lifecycle without its JobManager: orphaned
//! tasks are cancelled after heartbeat.timeout, and SIGTERM stops it within seconds
//! whether or not a JobManager is reachable.

use std::time::{Duration, Instant};

use rask_tests::*;

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The share of one core `pid` uses over `window`.
fn cpu_share(pid: u32, window: Duration) -> f64 {
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    (cpu_seconds(pid) - before) / window.as_secs_f64()
}

/// SIGTERM stops the TaskManager cleanly within 5 s.
fn assert_stops_on_sigterm(tm: &mut Daemon) {
    let t0 = Instant::now();
    tm.sigterm();
    let status = tm.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", tm.log());
    assert!(t0.elapsed() < Duration::from_secs(5), "stopped in {:?}", t0.elapsed());
}

const BUSY_JOB: &str = "name: busy\nparallelism: 1\nsources:\n  - name: gen\n    connector: datagen\n    fields:\n      \
                        - {name: id, type: BIGINT, kind: sequence}\nsinks:\n  - {name: out, connector: blackhole}\n";

#[test]
fn a_taskmanager_that_loses_its_jobmanager_cancels_its_tasks_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("heartbeat.interval", "200").with("heartbeat.timeout", "1500");
    let mut jm = spec.jobmanager("jm", dir.path());
    let mut tm = spec.taskmanager("tm", dir.path(), &[]);
    spec.wait_slots(1, 1, Duration::from_secs(30));
    let job = dir.path().join("busy.yaml");
    std::fs::write(&job, BUSY_JOB).unwrap();
    let id = submit_detached(&format!("127.0.0.1:{}", spec.rest_port), &job);
    wait_for(Duration::from_secs(20), "the job running", || {
        get_json(&format!("{}/jobs/{id}", spec.rest_url())).filter(|j| j["status-counts"]["RUNNING"].as_u64() >= Some(1))
    });
    let busy = cpu_share(tm.pid(), Duration::from_millis(500));
    assert!(busy > 0.3, "the unbounded job keeps the TaskManager busy ({busy:.2} of a core)");

    jm.kill9();
    tm.wait_log("cancelled its 1 tasks", Duration::from_secs(10));
    wait_for(Duration::from_secs(5), "the TaskManager idle", || (cpu_share(tm.pid(), Duration::from_millis(500)) < 0.1).then_some(()));

    assert_stops_on_sigterm(&mut tm);
}

#[test]
fn a_taskmanager_that_never_reached_a_jobmanager_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let mut tm = spec.taskmanager("tm", dir.path(), &[]);
    tm.wait_log("not reachable", Duration::from_secs(10));
    assert_stops_on_sigterm(&mut tm);
}

#[test]
fn an_attached_run_prints_each_restart_and_the_final_cause() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new()
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.attempts", "2")
        .with("restart-strategy.fixed-delay.delay", "100");
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[]);
    spec.wait_slots(1, 1, Duration::from_secs(30));
    let job = dir.path().join("boom.yaml");
    std::fs::write(
        &job,
        "name: boom\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 100\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\npipeline:\n  - map: \"id / (id - id) AS boom\"\nsinks:\n  - {name: out, connector: print}\n",
    )
    .unwrap();
    let out = rask(&["run", "-m", &format!("127.0.0.1:{}", spec.rest_port), job.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let restarts: Vec<&str> = err.lines().filter(|l| l.contains("restarting (restart")).collect();
    assert_eq!(restarts.len(), 2, "each of the two restarts, as it happens:\n{err}");
    assert!(restarts[0].contains("restart 1") && restarts[1].contains("restart 2"), "{err}");
    assert!(restarts.iter().all(|l| l.to_lowercase().contains("divide by zero")), "with its cause:\n{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("FAILED") && last.to_lowercase().contains("divide by zero"), "the final cause last:\n{err}");
}

#[test]
fn a_job_whose_tasks_were_canceled_behind_its_back_is_never_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new()
        .with("heartbeat.interval", "200")
        .with("heartbeat.timeout", "1000")
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.attempts", "5")
        .with("restart-strategy.fixed-delay.delay", "100");
    let jm = spec.jobmanager("jm", dir.path());
    let tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(30));
    let id = submit_detached(&format!("127.0.0.1:{}", spec.rest_port), &examples_dir().join("page-views.yaml"));
    let url = format!("{}/jobs/{id}", spec.rest_url());
    let running = |j: &serde_json::Value| j["state"] == "RUNNING" && j["status-counts"]["RUNNING"] == 4;
    wait_for(Duration::from_secs(20), "every task running", || get_json(&url).filter(running));

    // The JobManager freezes past heartbeat.timeout: the TaskManager gives up on it and
    // cancels its tasks. When it wakes up, the job must not stay RUNNING over them.
    jm.signal(libc::SIGSTOP);
    tm.wait_log("cancelled its 4 tasks", Duration::from_secs(15));
    jm.signal(libc::SIGCONT);
    let job = wait_for(Duration::from_secs(30), "the job restarted (or failed)", || {
        get_json(&url).filter(|j| j["state"] == "FAILED" || (running(j) && j["timestamps"]["RESTARTING"].as_i64() > Some(0)))
    });
    let exceptions = get_json(&format!("{url}/exceptions")).unwrap();
    assert!(exceptions["exceptionHistory"]["entries"].as_array().is_some_and(|e| !e.is_empty()), "{job} {exceptions}");
}
