//! End-to-end tests of checkpoints: barriers from the sources through keyed state
//! across TaskManagers, state written through object_store, `_metadata` last,
//! retention, and the REST API's view of it.

use std::time::Duration;

use rask_common::checkpoint::{decode_task_state, CheckpointMetadata};
use rask_tests::*;

#[test]
fn periodic_checkpoints_write_state_and_metadata_and_keep_num_retained() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("checkpoints");
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "200")
        .with("state.checkpoints.dir", &format!("file://{}", chk.display()))
        .with("state.checkpoints.num-retained", "2");
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm1 = spec.taskmanager("tm1", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    let _tm2 = spec.taskmanager("tm2", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    spec.wait_slots(2, 2, Duration::from_secs(10));
    let job = dir.path().join("job.yaml");
    std::fs::write(
        &job,
        "name: counting\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 20000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\n      - {name: k, type: BIGINT, min: 0, max: 999}\npipeline:\n  - key_by: k\n  \
         - name: counts\n    aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let out = rask(&["run", "-d", "-m", &m, job.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let id = text.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("job id").trim().to_string();
    let url = format!("{}/jobs/{id}/checkpoints", spec.rest_url());
    let stats = wait_for(Duration::from_secs(20), "three completed checkpoints", || {
        get_json(&url).filter(|s| s["counts"]["completed"].as_u64() >= Some(3))
    });
    let latest = &stats["latest"]["completed"];
    assert_eq!(latest["status"], "COMPLETED");
    assert_eq!(latest["num_subtasks"], 4);
    assert_eq!(latest["num_acknowledged_subtasks"], 4);
    assert!(latest["state_size"].as_u64().unwrap() > 0);
    let path = latest["external_path"].as_str().unwrap().trim_start_matches("file:").to_string();
    let metadata: CheckpointMetadata = serde_json::from_slice(&std::fs::read(format!("{path}/_metadata")).unwrap()).unwrap();
    assert_eq!(metadata.job_id, id);
    assert_eq!(metadata.tasks.len(), 4);
    // The keyed aggregate's subtasks hold between them every key seen so far.
    let mut aggregate_states = 0;
    for task in &metadata.tasks {
        let bytes = std::fs::read(chk.join(&task.path)).unwrap();
        assert_eq!(bytes.len() as u64, task.size);
        let states = decode_task_state(&task.path, &bytes).unwrap();
        aggregate_states += states.iter().filter(|(uid, _)| uid.starts_with("counts")).count();
    }
    assert_eq!(aggregate_states, 2);
    // Only the retained checkpoints are left on disk.
    cancel_and_wait(&spec, &m, &id);
    let left: Vec<String> =
        std::fs::read_dir(chk.join(&id)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(left.len() <= 2, "retained: {left:?}");
    assert!(left.iter().all(|d| chk.join(&id).join(d).join("_metadata").exists()), "only completed checkpoints remain: {left:?}");
}

fn cancel_and_wait(spec: &ClusterSpec, m: &str, id: &str) {
    rask(&["cancel", "-m", m, id], &[]);
    wait_for(Duration::from_secs(10), "canceled", || {
        get_json(&format!("{}/jobs/{id}", spec.rest_url())).filter(|j| j["state"] == "CANCELED").map(|_| ())
    });
}

#[test]
fn checkpointing_without_a_directory_is_a_named_configuration_error() {
    let out = run_to_exit("rask-jobmanager", &["-D", "execution.checkpointing.interval=1000"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("state.checkpoints.dir") && err.contains("must be set"), "{err}");
}

#[test]
fn a_killed_taskmanager_restarts_the_job_from_its_latest_checkpoint_with_exact_state() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("checkpoints");
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "100")
        .with("state.checkpoints.dir", &chk.display().to_string())
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.attempts", "3")
        .with("restart-strategy.fixed-delay.delay", "100");
    let _jm = spec.jobmanager("jm", dir.path());
    // Three TaskManagers with one slot each: the job takes two, one is spare.
    let mut tms: Vec<Daemon> =
        (0..3).map(|i| spec.taskmanager(&format!("tm{i}"), dir.path(), &[("taskmanager.numberOfTaskSlots", "1")])).collect();
    spec.wait_slots(3, 3, Duration::from_secs(10));
    let rows = 400_000u64;
    let job = dir.path().join("job.yaml");
    std::fs::write(
        &job,
        format!(
            "name: recoverable\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: {rows}\n    rows-per-second: 100000\n    \
             fields:\n      - {{name: id, type: BIGINT, kind: sequence}}\npipeline:\n  - map: \"id % 1000 AS k\"\n  - key_by: k\n  \
             - name: counts\n    aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {{name: out, connector: file, path: out, format: csv}}\n"
        ),
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let out = rask(&["run", "-d", "-m", &m, job.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let id = text.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("job id").trim().to_string();
    let url = format!("{}/jobs/{id}", spec.rest_url());
    wait_for(Duration::from_secs(20), "a completed checkpoint", || {
        get_json(&format!("{url}/checkpoints")).filter(|s| s["counts"]["completed"].as_u64() >= Some(2))
    });
    // Kill a TaskManager that runs part of the job.
    let job_now = get_json(&url).unwrap();
    let victim = job_now["vertices"][0]["subtasks"][0]["taskmanager-id"].as_str().unwrap().to_string();
    let victim_port: u16 = victim.split(['-', ':']).nth(1).unwrap().parse().unwrap();
    let index = (0..3)
        .find(|&i| {
            let list = get_json(&format!("{}/taskmanagers", spec.rest_url())).unwrap();
            list["taskmanagers"].as_array().unwrap().iter().any(|t| t["id"] == victim.as_str())
                && tms[i].log().contains(&format!("TaskExecutor at 127.0.0.1:{victim_port}"))
        })
        .expect("the victim's process");
    tms[index].kill9();
    let done = wait_for(Duration::from_secs(60), "the job to finish after the restart", || {
        get_json(&url).filter(|j| j["state"] == "FINISHED" || j["state"] == "FAILED")
    });
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert!(done["timestamps"]["RESTARTING"].as_i64().unwrap() > 0, "the job restarted");
    let stats = get_json(&format!("{url}/checkpoints")).unwrap();
    assert!(stats["counts"]["restored"].as_u64() >= Some(1), "restored from a checkpoint: {stats}");
    let exceptions = get_json(&format!("{url}/exceptions")).unwrap();
    assert!(exceptions["root-exception"].as_str().unwrap().contains(&victim), "{exceptions}");
    // The restored keyed state plus the replayed rows give exact counts.
    let mut last: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for entry in std::fs::read_dir(dir.path().join("out")).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path()).unwrap().lines().filter(|l| *l != "k,n") {
            let (k, n) = line.split_once(',').unwrap();
            let v = last.entry(k.to_string()).or_default();
            *v = (*v).max(n.parse().unwrap());
        }
    }
    assert_eq!(last.len(), 1000);
    assert!(
        last.values().all(|&n| n == rows / 1000),
        "counts: {:?}",
        last.values().filter(|&&n| n != rows / 1000).take(5).collect::<Vec<_>>()
    );
}
