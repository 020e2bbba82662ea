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

    let t0 = Instant::now();
    tm.sigterm();
    let status = tm.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", tm.log());
    assert!(t0.elapsed() < Duration::from_secs(5), "stopped in {:?}", t0.elapsed());
}

#[test]
fn a_taskmanager_that_never_reached_a_jobmanager_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let mut tm = spec.taskmanager("tm", dir.path(), &[]);
    tm.wait_log("not reachable", Duration::from_secs(10));
    let t0 = Instant::now();
    tm.sigterm();
    let status = tm.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", tm.log());
    assert!(t0.elapsed() < Duration::from_secs(5), "stopped in {:?}", t0.elapsed());
}
