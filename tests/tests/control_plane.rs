//! End-to-end tests of the control plane: real JobManager and TaskManager processes on
//! loopback, checked through the REST API and the CLI as a user would.

use std::time::{Duration, Instant};

use rask_tests::*;
use serde_json::Value;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn tm_detail(spec: &ClusterSpec, id: &str) -> Value {
    get_json(&format!("{}/taskmanagers/{id}", spec.rest_url())).expect("taskmanager detail")
}

#[test]
fn two_taskmanagers_register_with_their_slots_and_memory_split() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm1 = spec.taskmanager(
        "tm1",
        dir.path(),
        &[("taskmanager.numberOfTaskSlots", "2"), ("taskmanager.memory.process.size", "1g"), ("taskmanager.resource-id", "tm-a")],
    );
    let _tm2 = spec.taskmanager(
        "tm2",
        dir.path(),
        &[("taskmanager.numberOfTaskSlots", "3"), ("taskmanager.memory.process.size", "768m"), ("taskmanager.resource-id", "tm-b")],
    );
    let overview = spec.wait_slots(2, 5, SECS(30));
    assert_eq!(overview["slots-available"], 5);
    assert_eq!(overview["jobs-running"], 0);

    let list = get_json(&format!("{}/taskmanagers", spec.rest_url())).unwrap();
    let tms = list["taskmanagers"].as_array().unwrap();
    assert_eq!(tms.len(), 2);
    let a = tm_detail(&spec, "tm-a");
    assert_eq!(a["slotsNumber"], 2);
    assert_eq!(a["freeSlots"], 2);
    assert_eq!(a["memoryConfiguration"]["totalProcessMemory"], 1u64 << 30);
    assert!(a["hardware"]["cpuCores"].as_u64().unwrap() >= 1);
    assert!(a["path"].as_str().unwrap().starts_with("grpc://127.0.0.1:"));
    assert!(a["dataPort"].as_u64().unwrap() > 0);
    let budgets: Vec<u64> = a["slots"].as_array().unwrap().iter().map(|s| s["memoryBudget"].as_u64().unwrap()).collect();
    assert_eq!(budgets, vec![512 << 20, 512 << 20]);
    let b = tm_detail(&spec, "tm-b");
    let budgets: Vec<u64> = b["slots"].as_array().unwrap().iter().map(|s| s["memoryBudget"].as_u64().unwrap()).collect();
    assert_eq!(budgets, vec![256 << 20; 3]);
    assert_eq!(b["totalResource"]["managedMemory"], 768);
}

#[test]
fn killed_taskmanager_leaves_overview_when_its_connection_drops() {
    let dir = tempfile::tempdir().unwrap();
    // Default heartbeats (10 s / 50 s): only connection-drop detection can be fast.
    let spec = ClusterSpec::new();
    let jm = spec.jobmanager("jm", dir.path());
    let mut tm1 = spec.taskmanager("tm1", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    let _tm2 = spec.taskmanager("tm2", dir.path(), &[("taskmanager.numberOfTaskSlots", "4")]);
    spec.wait_slots(2, 6, SECS(30));
    let killed = Instant::now();
    tm1.kill9();
    spec.wait_slots(1, 4, SECS(5));
    assert!(killed.elapsed() < SECS(5), "loss took {:?}", killed.elapsed());
    jm.wait_log("lost: connection closed", SECS(2));
}

#[test]
fn stopped_taskmanager_is_lost_after_heartbeat_timeout_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new()
        .with("heartbeat.interval", "100")
        .with("heartbeat.timeout", "600")
        .with("cluster.registration.max-timeout", "300");
    let jm = spec.jobmanager("jm", dir.path());
    let tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, SECS(30));
    // SIGSTOP keeps the socket open: only the heartbeat timeout can tell.
    tm.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    spec.wait_slots(0, 0, SECS(5));
    let took = stopped.elapsed();
    assert!(took >= Duration::from_millis(500), "declared lost before heartbeat.timeout: {took:?}");
    jm.wait_log("no heartbeat for 600 ms", SECS(2));
    tm.signal(libc::SIGCONT);
    spec.wait_slots(1, 2, SECS(30));
}

#[test]
fn taskmanagers_reregister_after_jobmanager_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("cluster.registration.max-timeout", "200");
    let mut jm = spec.jobmanager("jm1", dir.path());
    let _tm1 = spec.taskmanager("tm1", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    let _tm2 = spec.taskmanager("tm2", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(2, 4, SECS(30));
    jm.kill9();
    std::thread::sleep(Duration::from_millis(300));
    let mut jm2 = spec.jobmanager("jm2", dir.path());
    spec.wait_slots(2, 4, SECS(30));

    // A clean stop (SIGTERM) of the JobManager exits 0; the TaskManagers come back
    // to the next one as well.
    jm2.sigterm();
    assert!(jm2.wait_exit(SECS(5)).success());
    let _jm3 = spec.jobmanager("jm3", dir.path());
    spec.wait_slots(2, 4, SECS(30));
}

#[test]
fn sigterm_deregisters_taskmanager_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let jm = spec.jobmanager("jm", dir.path());
    let mut tm1 = spec.taskmanager("tm1", dir.path(), &[("taskmanager.resource-id", "leaving")]);
    let _tm2 = spec.taskmanager("tm2", dir.path(), &[]);
    spec.wait_slots(2, 2, SECS(30));
    tm1.sigterm();
    let status = tm1.wait_exit(SECS(5));
    assert!(status.success(), "TaskManager exit status {status:?}");
    // Already gone when the process has exited: no waiting for any timeout.
    let o = spec.overview().unwrap();
    assert_eq!((o["taskmanagers"].as_u64(), o["slots-total"].as_u64()), (Some(1), Some(1)));
    jm.wait_log("TaskManager leaving at 127.0.0.1:", SECS(1));
    assert!(jm.log().contains("deregistered (TaskManager is shutting down)"));
}

#[test]
fn duplicate_resource_id_and_foreign_cluster_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("high-availability.cluster-id", "blue");
    let jm = spec.jobmanager("jm", dir.path());
    let _tm1 = spec.taskmanager("tm1", dir.path(), &[("taskmanager.resource-id", "tm-x")]);
    spec.wait_slots(1, 1, SECS(30));

    let mut dup = spec.taskmanager("dup", dir.path(), &[("taskmanager.resource-id", "tm-x")]);
    assert_eq!(dup.wait_exit(SECS(10)).code(), Some(2));
    assert!(dup.log().contains("a TaskManager with id 'tm-x' is already registered"), "{}", dup.log());
    jm.wait_log("refused registration of TaskManager tm-x", SECS(2));

    let mut foreign = spec.taskmanager("foreign", dir.path(), &[("cluster.id", "green")]);
    assert_eq!(foreign.wait_exit(SECS(10)).code(), Some(2));
    assert!(foreign.log().contains("cluster id mismatch"), "{}", foreign.log());
    jm.wait_log("belongs to cluster 'green'", SECS(2));
    assert_eq!(spec.overview().unwrap()["taskmanagers"], 1);
}

#[test]
fn bad_configuration_is_rejected_with_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rask.yaml");
    std::fs::write(&file, "rest:\n  port: abc\n").unwrap();
    let file_arg = file.display().to_string();
    let out = run_to_exit("rask-jobmanager", &["--config", &file_arg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("'rest.port'") && err.contains("'abc'") && err.contains(&file_arg), "{err}");

    let out = run_to_exit("rask-taskmanager", &["-D", "heartbeat.timeout=-5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("'heartbeat.timeout'") && err.contains("negative"), "{err}");

    std::fs::write(&file, "taskmanager.numberOfTaskSlot: 4\n").unwrap();
    let out = run_to_exit("rask-taskmanager", &["--config", &file_arg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("unknown configuration key 'taskmanager.numberOfTaskSlot'") && err.contains(&file_arg), "{err}");

    let out = run_to_exit("rask-jobmanager", &["-D", "heartbeat.interval=5000", "-D", "heartbeat.timeout=1000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("'heartbeat.timeout'") && err.contains("greater than heartbeat.interval"), "{err}");
}

#[test]
fn rest_api_speaks_flinks_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[]);
    spec.wait_slots(1, 1, SECS(30));
    let url = spec.rest_url();
    let overview = get_json(&format!("{url}/overview")).unwrap();
    for key in [
        "taskmanagers",
        "slots-total",
        "slots-available",
        "jobs-running",
        "jobs-finished",
        "jobs-cancelled",
        "jobs-failed",
        "flink-version",
    ] {
        assert!(overview.get(key).is_some(), "/overview lacks {key}");
    }
    let config = get_json(&format!("{url}/config")).unwrap();
    assert!(config["refresh-interval"].is_number() && config["features"].is_object());
    let jm_config = get_json(&format!("{url}/jobmanager/config")).unwrap();
    assert!(jm_config
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["key"] == "rest.port" && e["value"].as_str() == Some(spec.rest_port.to_string().as_str())));
    assert_eq!(get_json(&format!("{url}/jobs/overview")).unwrap()["jobs"], serde_json::json!([]));

    let (status, body) = get_status_json(&format!("{url}/no/such/path"));
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0], "Not found: /no/such/path");
    let (status, body) = get_status_json(&format!("{url}/taskmanagers/nobody"));
    assert_eq!(status, 404);
    assert!(body["errors"][0].as_str().unwrap().contains("nobody"));
    let (status, body) = get_status_json(&format!("{url}/jobmanager/metrics?get=heartbeatRttP99Ms,taskSlotsTotal"));
    assert_eq!(status, 200);
    assert_eq!(body[1]["value"], "1");
}

#[test]
fn cli_lists_jobs_and_finds_the_jobmanager_like_flink() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let _jm = spec.jobmanager("jm", dir.path());
    spec.wait_slots(0, 0, SECS(30));
    let expected = "No running jobs.\nNo scheduled jobs.\n";

    let m = format!("127.0.0.1:{}", spec.rest_port);
    let out = rask(&["list", "-m", &m], &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let port = format!("rest.port={}", spec.rest_port);
    let out = rask(&["list", "-D", "rest.address=127.0.0.1", "-D", &port], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let conf_dir = dir.path().join("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    std::fs::write(conf_dir.join("rask.yaml"), format!("rest.address: 127.0.0.1\nrest.port: {}\n", spec.rest_port)).unwrap();
    let out = rask(&["list"], &[("RASK_CONF_DIR", conf_dir.to_str().unwrap())]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let out = rask(&["list", "--config", conf_dir.join("rask.yaml").to_str().unwrap()], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let dead = format!("127.0.0.1:{}", free_port());
    let out = rask(&["list", "-m", &dead], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    // One line naming the address, and one with the way out.
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains(&format!("http://{dead}")), "{err}");
    assert!(lines[1].starts_with("hint: ") && lines[1].contains("deploy/bin/start-cluster.sh"), "{err}");
}
