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
    spec.wait_slots(2, 2, Duration::from_secs(30));
    let job = dir.path().join("job.yaml");
    std::fs::write(
        &job,
        "name: counting\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 20000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\n      - {name: k, type: BIGINT, min: 0, max: 999}\npipeline:\n  - key_by: k\n  \
         - name: counts\n    aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let id = submit_detached(&m, &job);
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

/// Which Daemon runs the TaskManager with this resource id (`host:port-xxxxxx`).
fn process_of<'a>(tms: &'a mut [Daemon], resource_id: &str) -> Option<&'a mut Daemon> {
    let port = resource_id.rsplit_once('-')?.0.rsplit_once(':')?.1;
    let needle = format!("TaskExecutor at 127.0.0.1:{port}");
    tms.iter_mut().filter(|d| d.log().contains(&needle)).find_map(|d| d.try_exit().is_none().then_some(d))
}

/// A cluster with checkpoints every 100 ms and fixed-delay restarts, `tms`
/// TaskManagers of one slot, running a bounded counting job at parallelism 2 into an
/// exactly-once file sink: `rows` ids counted by `id % keys`.
struct CountingJob {
    _spec: ClusterSpec,
    jm: Daemon,
    tms: Vec<Daemon>,
    id: String,
    url: String,
    rows: u64,
    keys: u64,
}

fn start_counting_job(dir: &std::path::Path, settings: &[(&str, &str)], tms: usize, keys: u64, rows: u64) -> CountingJob {
    let mut spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "100")
        .with("state.checkpoints.dir", &dir.join("checkpoints").display().to_string())
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.delay", "100");
    for (k, v) in settings {
        spec = spec.with(k, v);
    }
    let jm = spec.jobmanager("jm", dir);
    let tms: Vec<Daemon> = (0..tms).map(|i| spec.taskmanager(&format!("tm{i}"), dir, &[("taskmanager.numberOfTaskSlots", "1")])).collect();
    spec.wait_slots(tms.len() as u64, tms.len() as u64, Duration::from_secs(30));
    let job = write_counting_job(dir, rows, keys, 100_000);
    let id = submit_detached(&format!("127.0.0.1:{}", spec.rest_port), &job);
    let url = format!("{}/jobs/{id}", spec.rest_url());
    CountingJob { _spec: spec, jm, tms, id, url, rows, keys }
}

impl CountingJob {
    fn m(&self) -> String {
        format!("127.0.0.1:{}", self._spec.rest_port)
    }

    fn wait_checkpoints(&self, n: u64) {
        wait_for(Duration::from_secs(20), "completed checkpoints", || {
            get_json(&format!("{}/checkpoints", self.url)).filter(|s| s["counts"]["completed"].as_u64() >= Some(n))
        });
    }

    /// `rask stop`: returns the printed savepoint path once the job is FINISHED.
    fn stop_with_savepoint(&self) -> String {
        let out = rask(&["stop", "-m", &self.m(), &self.id], &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let path = text.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).expect("a savepoint path").trim().to_string();
        wait_for(Duration::from_secs(10), "FINISHED", || get_json(&self.url).filter(|j| j["state"] == "FINISHED"));
        path
    }
    fn wait_finished(&self) -> serde_json::Value {
        let done = wait_for(Duration::from_secs(90), "the job to finish", || {
            get_json(&self.url).filter(|j| j["state"] == "FINISHED" || j["state"] == "FAILED")
        });
        assert_eq!(done["state"], "FINISHED", "{done}");
        done
    }

    /// The committed output holds every key's exact count, no update twice.
    fn assert_exact_output(&self, dir: &std::path::Path) {
        assert_exact_counts(&dir.join("out"), self.rows, self.keys);
    }
}

#[test]
fn exactly_once_output_while_taskmanagers_are_killed_three_times() {
    let dir = tempfile::tempdir().unwrap();
    // Five TaskManagers with one slot each: the job takes two; three can die.
    let mut job = start_counting_job(dir.path(), &[("restart-strategy.fixed-delay.attempts", "5")], 5, 1000, 600_000);
    let url = job.url.clone();
    for round in 0..3u64 {
        // Let the job run and checkpoint a little (a different moment each round).
        let before = get_json(&format!("{url}/checkpoints")).map(|s| s["counts"]["completed"].as_u64().unwrap_or(0)).unwrap_or(0);
        wait_for(Duration::from_secs(30), "RUNNING with new checkpoints", || {
            let j = get_json(&url)?;
            let s = get_json(&format!("{url}/checkpoints"))?;
            (j["state"] == "RUNNING" && j["status-counts"]["RUNNING"] == 4 && s["counts"]["completed"].as_u64()? >= before + 1 + round)
                .then_some(())
        });
        std::thread::sleep(Duration::from_millis(50 + 120 * round));
        let job_now = get_json(&url).unwrap();
        let victim =
            job_now["vertices"][(round % 2) as usize]["subtasks"][(round / 2) as usize]["taskmanager-id"].as_str().unwrap().to_string();
        process_of(&mut job.tms, &victim).expect("the victim's process").kill9();
    }
    let done = job.wait_finished();
    assert!(done["timestamps"]["RESTARTING"].as_i64().unwrap() > 0, "the job restarted");
    let stats = get_json(&format!("{url}/checkpoints")).unwrap();
    assert!(stats["counts"]["restored"].as_u64() >= Some(3), "restored from checkpoints: {}", stats["counts"]);
    job.assert_exact_output(dir.path());
}

#[test]
fn exactly_once_output_with_internal_tls_while_a_taskmanager_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let certs = ClusterCertificates::make(&dir.path().join("certs"));
    let tls = certs.internal();
    let mut settings: Vec<(&str, &str)> = tls.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    settings.push(("restart-strategy.fixed-delay.attempts", "3"));
    let mut job = start_counting_job(dir.path(), &settings, 3, 1000, 400_000);
    let url = job.url.clone();
    job.wait_checkpoints(2);
    wait_for(Duration::from_secs(30), "every task RUNNING", || get_json(&url).filter(|j| j["status-counts"]["RUNNING"] == 4));
    let victim = get_json(&url).unwrap()["vertices"][1]["subtasks"][0]["taskmanager-id"].as_str().unwrap().to_string();
    process_of(&mut job.tms, &victim).expect("the victim's process").kill9();
    let done = job.wait_finished();
    assert!(done["timestamps"]["RESTARTING"].as_i64().unwrap() > 0, "the job restarted");
    job.assert_exact_output(dir.path());
}

#[test]
fn a_restart_that_finds_no_readable_checkpoint_fails_the_job_with_that_cause() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("restart-strategy.fixed-delay.attempts", "3"), ("restart-strategy.fixed-delay.delay", "2000")];
    let mut job = start_counting_job(dir.path(), &settings, 3, 100, 50_000_000);
    let url = job.url.clone();
    job.wait_checkpoints(2);
    wait_for(Duration::from_secs(30), "every task RUNNING", || get_json(&url).filter(|j| j["status-counts"]["RUNNING"] == 4));
    let victim = get_json(&url).unwrap()["vertices"][1]["subtasks"][0]["taskmanager-id"].as_str().unwrap().to_string();
    process_of(&mut job.tms, &victim).expect("the victim's process").kill9();
    wait_for(Duration::from_secs(10), "RESTARTING", || get_json(&url).filter(|j| j["state"] == "RESTARTING"));
    // Every checkpoint of the job is lost while it waits to restart.
    std::fs::remove_dir_all(dir.path().join("checkpoints").join(&job.id)).unwrap();
    let done = wait_for(Duration::from_secs(30), "the job to end", || {
        get_json(&url).filter(|j| j["state"] == "FAILED" || j["state"] == "FINISHED")
    });
    assert_eq!(done["state"], "FAILED", "never silently restarted from empty state: {done}");
    let cause = get_json(&format!("{url}/exceptions")).unwrap()["root-exception"].as_str().unwrap_or_default().to_string();
    assert!(cause.contains("no completed checkpoint") && cause.contains("empty state"), "{cause}");
}

#[test]
fn cancel_during_checkpoints_leaves_no_uncommitted_files_visible() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "50")
        .with("state.checkpoints.dir", &dir.path().join("chk").display().to_string());
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(30));
    let job = dir.path().join("job.yaml");
    std::fs::write(
        &job,
        "name: endless\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 50000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\nsinks:\n  - {name: out, connector: file, path: out, format: csv}\n",
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let id = submit_detached(&m, &job);
    wait_for(Duration::from_secs(20), "checkpoints", || {
        get_json(&format!("{}/jobs/{id}/checkpoints", spec.rest_url())).filter(|s| s["counts"]["completed"].as_u64() >= Some(3))
    });
    cancel_and_wait(&spec, &m, &id);
    let out_dir = dir.path().join("out");
    // Visible files are committed ones: every row in them is whole, ids unique.
    let mut ids = std::collections::HashSet::new();
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        assert!(name.starts_with("part-") && name.ends_with(".csv"), "{name}");
        for line in std::fs::read_to_string(entry.path()).unwrap().lines().filter(|l| *l != "id") {
            assert!(ids.insert(line.parse::<i64>().unwrap()), "id {line} twice");
        }
    }
    assert!(!ids.is_empty());
    // Nothing is left in progress.
    let in_progress: Vec<_> = std::fs::read_dir(out_dir.join(".inprogress")).unwrap().collect();
    assert!(in_progress.is_empty(), "{in_progress:?}");
}

#[test]
fn a_corrupt_latest_checkpoint_falls_back_to_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("checkpoints");
    let settings = [("state.checkpoints.num-retained", "3"), ("restart-strategy.fixed-delay.attempts", "2")];
    let mut job = start_counting_job(dir.path(), &settings, 3, 100, 300_000);
    let (id, url) = (job.id.clone(), job.url.clone());
    wait_for(Duration::from_secs(20), "three checkpoints", || {
        get_json(&format!("{url}/checkpoints")).filter(|s| s["counts"]["completed"].as_u64() >= Some(3))
    });
    // Freeze the TaskManagers so that no newer checkpoint completes, then corrupt the
    // latest one and kill a TaskManager of the job.
    for tm in &job.tms {
        tm.signal(libc::SIGSTOP);
    }
    std::thread::sleep(Duration::from_millis(200));
    let stats = get_json(&format!("{url}/checkpoints")).unwrap();
    let latest = stats["latest"]["completed"]["id"].as_u64().unwrap();
    let metadata: CheckpointMetadata =
        serde_json::from_slice(&std::fs::read(chk.join(&id).join(format!("chk-{latest}/_metadata"))).unwrap()).unwrap();
    for task in &metadata.tasks {
        std::fs::write(chk.join(&task.path), b"garbage").unwrap();
    }
    let victim = get_json(&url).unwrap()["vertices"][0]["subtasks"][0]["taskmanager-id"].as_str().unwrap().to_string();
    process_of(&mut job.tms, &victim).expect("victim").kill9();
    for tm in &job.tms {
        tm.signal(libc::SIGCONT);
    }
    job.wait_finished();
    let stats = get_json(&format!("{url}/checkpoints")).unwrap();
    let restored = stats["latest"]["restored"]["id"].as_u64().expect("restored");
    assert!(restored < latest, "restored {restored}, the corrupt one was {latest}");
    job.jm.wait_log(&format!("Checkpoint {latest} of job {id} cannot be restored"), Duration::from_secs(1));
    job.assert_exact_output(dir.path());
}

#[test]
fn stop_with_savepoint_then_resume_from_it_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let savepoints = dir.path().join("savepoints");
    let settings = [("state.savepoints.dir", savepoints.to_str().unwrap()), ("restart-strategy.fixed-delay.attempts", "1")];
    let job = start_counting_job(dir.path(), &settings, 2, 500, 300_000);
    let m = job.m();
    job.wait_checkpoints(1);
    // Stop with a savepoint half-way: the job ends FINISHED, the path is printed.
    let path = job.stop_with_savepoint();
    assert!(path.starts_with(&format!("file:{}/savepoint-", savepoints.display())), "{path}");
    let (partial, _) = committed_counts(&dir.path().join("out"));
    assert!(partial.values().any(|&n| n < 600), "stopped half-way");
    // Resume the same job file from the savepoint: sources and state continue.
    let resumed = submit_detached_with(&m, &dir.path().join("job.yaml"), &["--fromSavepoint", &path]);
    wait_for(Duration::from_secs(30), "the resumed job to finish", || {
        get_json(&format!("{}/jobs/{resumed}", job._spec.rest_url())).filter(|j| j["state"] == "FINISHED")
    });
    job.assert_exact_output(dir.path());

    // A savepoint path that does not exist is a clear error; dispose removes it.
    let out = rask(&["run", "-m", &m, "--fromSavepoint", "/no/such/savepoint", dir.path().join("job.yaml").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/savepoint does not exist"));
    let out = rask(&["savepoint", "--dispose", &path, "-m", &m], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!std::path::Path::new(&rask_common::checkpoint::savepoint_dir(&path)).exists());
    let out = rask(&["savepoint", "--dispose", dir.path().to_str().unwrap(), "-m", &m], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a savepoint"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("job.yaml").exists(), "nothing deleted");
}

#[test]
fn a_savepoint_of_other_operators_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let savepoints = dir.path().join("savepoints");
    let settings = [("state.savepoints.dir", savepoints.to_str().unwrap()), ("restart-strategy.fixed-delay.attempts", "1")];
    let job = start_counting_job(dir.path(), &settings, 2, 50, 5_000_000);
    let m = format!("127.0.0.1:{}", job._spec.rest_port);
    wait_for(Duration::from_secs(20), "running", || get_json(&job.url).filter(|j| j["status-counts"]["RUNNING"] == 4));
    let out = rask(&["savepoint", "-m", &m, &job.id], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Savepoint completed. Path: ").map(str::to_string))
        .expect("path");
    rask(&["cancel", "-m", &m, &job.id], &[]);
    // A different job: its aggregate has another uid, so the saved state matches nothing.
    let other = dir.path().join("other.yaml");
    let text = std::fs::read_to_string(dir.path().join("job.yaml")).unwrap().replace("name: counts", "name: totals");
    std::fs::write(&other, text.replace("number-of-rows: 5000000", "number-of-rows: 1000")).unwrap();
    let refused = submit_detached_with(&m, &other, &["--fromSavepoint", &path]);
    let failed = wait_for(Duration::from_secs(20), "refused", || {
        get_json(&format!("{}/jobs/{refused}", job._spec.rest_url())).filter(|j| j["state"] == "FAILED")
    });
    let _ = failed;
    let exceptions = get_json(&format!("{}/jobs/{refused}/exceptions", job._spec.rest_url())).unwrap();
    let cause = exceptions["root-exception"].as_str().unwrap_or_default().to_string();
    assert!(cause.contains("operators this job does not run") && cause.contains("counts"), "{cause}");
    let allowed = submit_detached_with(&m, &other, &["--fromSavepoint", &path, "--allowNonRestoredState"]);
    wait_for(Duration::from_secs(20), "allowed", || {
        get_json(&format!("{}/jobs/{allowed}", job._spec.rest_url())).filter(|j| j["state"] == "FINISHED")
    });
}

#[test]
fn resuming_a_savepoint_at_another_parallelism_redistributes_state_by_key_group() {
    let dir = tempfile::tempdir().unwrap();
    let savepoints = dir.path().join("savepoints");
    let settings = [("state.savepoints.dir", savepoints.to_str().unwrap()), ("restart-strategy.fixed-delay.attempts", "1")];
    // Three TaskManagers of one slot: parallelism 2 first, then 3.
    let job = start_counting_job(dir.path(), &settings, 3, 500, 300_000);
    let m = job.m();
    job.wait_checkpoints(1);
    let path = job.stop_with_savepoint();
    let resumed = submit_detached_with(&m, &dir.path().join("job.yaml"), &["-p", "3", "--fromSavepoint", &path]);
    let done = wait_for(Duration::from_secs(30), "the resumed job to finish", || {
        get_json(&format!("{}/jobs/{resumed}", job._spec.rest_url())).filter(|j| j["state"] == "FINISHED" || j["state"] == "FAILED")
    });
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert!(done["vertices"].as_array().unwrap().iter().all(|v| v["parallelism"] == 3));
    job.assert_exact_output(dir.path());
}

#[test]
fn stop_with_drain_fires_the_open_windows_and_without_drain_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "200")
        .with("state.checkpoints.dir", &dir.path().join("chk").display().to_string())
        .with("state.savepoints.dir", &dir.path().join("sp").display().to_string());
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(30));
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let mut windows_written = Vec::new();
    for (name, drain) in [("drained", true), ("plain", false)] {
        // Event time runs 200 s per second of wall time: an hour-long window stays open.
        let job = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &job,
            format!(
                "name: {name}\nsources:\n  - name: ticks\n    connector: datagen\n    rows-per-second: 20000\n    fields:\n      \
                 - {{name: ts, type: TIMESTAMP, kind: sequence, start: 0, step: 10}}\n    watermark: {{column: ts}}\npipeline:\n  \
                 - window: {{type: tumbling, size: 1 h, time: event, select: \"COUNT(*) AS n\"}}\n  - map: \"n\"\n\
                 sinks:\n  - {{name: out, connector: file, path: {name}-out, format: csv}}\n"
            ),
        )
        .unwrap();
        let id = submit_detached(&m, &job);
        wait_for(Duration::from_secs(20), "a checkpoint", || {
            get_json(&format!("{}/jobs/{id}/checkpoints", spec.rest_url())).filter(|s| s["counts"]["completed"].as_u64() >= Some(1))
        });
        let mut args = vec!["stop", "-m", m.as_str(), id.as_str()];
        if drain {
            args.insert(1, "--drain");
        }
        let out = rask(&args, &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        wait_for(Duration::from_secs(10), "FINISHED", || {
            get_json(&format!("{}/jobs/{id}", spec.rest_url())).filter(|j| j["state"] == "FINISHED")
        });
        let mut rows = 0u64;
        for entry in std::fs::read_dir(dir.path().join(format!("{name}-out"))).unwrap() {
            let entry = entry.unwrap();
            if !entry.file_name().to_string_lossy().starts_with('.') {
                rows += std::fs::read_to_string(entry.path())
                    .unwrap()
                    .lines()
                    .filter(|l| *l != "n")
                    .map(|l| l.parse::<u64>().unwrap())
                    .sum::<u64>();
            }
        }
        windows_written.push(rows);
    }
    assert!(windows_written[0] > 0, "--drain fires the open window: {windows_written:?}");
    assert_eq!(windows_written[1], 0, "without --drain the open window stays unfired");
}
