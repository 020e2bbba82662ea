//! End-to-end tests of the deployment modes beside the session cluster: per-job
//! clusters (`rask run --target per-job`) and application clusters
//! (`rask run-application`, `rask-jobmanager --application`). They check the output,
//! the order of an application's jobs, isolation after a TaskManager dies, and that
//! no process is left once a cluster's work is done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rask_tests::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A bounded job counting `rows` ids by `id % keys` into a file sink under `out`, at
/// `rate` rows/s; `dir/name.yaml`.
fn counting_job(dir: &Path, name: &str, rows: u64, keys: u64, rate: u64, out: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "name: {name}\nparallelism: 1\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: {rows}\n    rows-per-second: {rate}\n    \
             fields:\n      - {{name: id, type: BIGINT, kind: sequence}}\npipeline:\n  - map: \"id % {keys} AS k\"\n  - key_by: k\n  \
             - name: counts\n    aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {{name: out, connector: file, path: {out}, format: csv}}\n"
        ),
    )
    .unwrap();
    path
}

/// The per-job cluster id `rask run --target per-job` gives a job.
fn per_job_cluster(job_id: &str) -> String {
    format!("per-job-{}", &job_id[..12])
}

/// The directory the CLI made for a dedicated cluster (logs, shipped files). A test
/// holds one to remove it at the end, unless the test failed (its logs are there).
struct ClusterDir(PathBuf);

impl ClusterDir {
    fn of(cluster: &str) -> Self {
        Self(dedicated_cluster_dir(cluster))
    }
}

impl Drop for ClusterDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn per_job_attached_prints_the_output_and_leaves_no_process() {
    let out = rask(&["run", "--target", "per-job", examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(printed_word_counts(&text), expected_word_counts());
    assert!(text.contains("has finished"), "{text}");
    let job_id = line_value(&text, "Job has been submitted with JobID ").expect("a JobID");
    // The command returns once the cluster is gone: nothing of it is left, and the
    // rows were printed, so its directory is removed too.
    assert!(processes_with(&per_job_cluster(&job_id)).is_empty(), "left: {:?}", processes_with(&per_job_cluster(&job_id)));
    assert!(!ClusterDir::of(&per_job_cluster(&job_id)).0.exists());
}

#[test]
fn per_job_detached_prints_the_address_and_the_cli_manages_the_job_there() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk").display().to_string();
    let savepoints = dir.path().join("savepoints").display().to_string();
    let settings = ["-D", &format!("state.checkpoints.dir={chk}"), "-D", &format!("state.savepoints.dir={savepoints}")];
    // A finite job: exact output, then the cluster stops on its own.
    let finite = counting_job(dir.path(), "finite", 20_000, 10, 40_000, "out-finite");
    let mut args = vec!["run", "--target", "per-job", "--detached"];
    args.extend_from_slice(&settings);
    args.push(finite.to_str().unwrap());
    let out = rask(&args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let finite_id = line_value(&stdout(&out), "Job has been submitted with JobID ").expect("a JobID");
    let _finite_dir = ClusterDir::of(&per_job_cluster(&finite_id));
    assert!(stdout(&out).contains("runs at http://"), "{}", stdout(&out));
    // A long job, stopped with a savepoint through -m.
    let long = counting_job(dir.path(), "long", 10_000_000, 10, 20_000, "out-long");
    args.pop();
    args.push(long.to_str().unwrap());
    let out = rask(&args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let long_id = line_value(&stdout(&out), "Job has been submitted with JobID ").expect("a JobID");
    let _long_dir = ClusterDir::of(&per_job_cluster(&long_id));
    let address = line_value(&stdout(&out), &format!("Per-job cluster {} runs at http://", per_job_cluster(&long_id)))
        .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
        .expect("the cluster's address");
    wait_for(Duration::from_secs(20), "tasks running", || {
        get_json(&format!("http://{address}/jobs/{long_id}")).filter(|j| j["status-counts"]["RUNNING"] == 2)
    });
    let list = rask(&["list", "-m", &address], &[]);
    assert!(stdout(&list).contains(&format!("{long_id} : long (RUNNING)")), "{}", stdout(&list));
    assert!(!stdout(&list).contains(&finite_id), "the clusters are separate: {}", stdout(&list));
    let savepoint = rask(&["savepoint", "-m", &address, &long_id], &[]);
    assert!(savepoint.status.success(), "{}", stderr(&savepoint));
    let stop = rask(&["stop", "-m", &address, &long_id], &[]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    let path = line_value(&stdout(&stop), "Savepoint completed. Path: ").expect("a savepoint path");
    assert!(Path::new(path.trim_start_matches("file:")).join("_metadata").is_file(), "{path}");
    wait_no_process_with(&per_job_cluster(&long_id), Duration::from_secs(10));
    wait_no_process_with(&per_job_cluster(&finite_id), Duration::from_secs(30));
    assert_exact_counts(&dir.path().join("out-finite"), 20_000, 10);
}

#[test]
fn cancel_of_a_per_job_cluster_job_stops_the_cluster() {
    // The example that runs until it is cancelled.
    let endless = examples_dir().join("page-views.yaml");
    let out = rask(&["run", "--target", "per-job", "-d", endless.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = line_value(&stdout(&out), "Job has been submitted with JobID ").unwrap();
    let _dir = ClusterDir::of(&per_job_cluster(&id));
    let address = line_value(&stdout(&out), &format!("Per-job cluster {} runs at http://", per_job_cluster(&id)))
        .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
        .unwrap();
    wait_for(Duration::from_secs(20), "page-views running", || {
        get_json(&format!("http://{address}/jobs/{id}")).filter(|j| j["status-counts"]["RUNNING"] == 4)
    });
    let cancel = rask(&["cancel", "-m", &address, &id], &[]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    wait_no_process_with(&per_job_cluster(&id), Duration::from_secs(10));
}

/// Writes an application of `jobs` (mode, job file name) into `dir/app.yaml`.
fn application(dir: &Path, jobs: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("name: test-app\njobs:\n");
    for (mode, file) in jobs {
        text.push_str(&format!("  - {mode}: {file}\n"));
    }
    let path = dir.join("app.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `rask run-application --keep` (the logs stay for the test to read) and returns
/// (cluster id, REST address, shipped dir, log dir).
fn run_application(app: &Path) -> (String, String, PathBuf, PathBuf) {
    let out = rask(&["run-application", "--keep", "--target", "application", app.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let started = line_value(&text, "Application 'test-app' (").expect("started");
    let (_, rest) = started.split_once("application cluster ").unwrap();
    let (cluster, address) = rest.split_once(" at http://").unwrap();
    let shipped = PathBuf::from(line_value(&text, "Shipped files: ").unwrap());
    let logs = PathBuf::from(line_value(&text, "Logs: ").unwrap());
    (cluster.to_string(), address.to_string(), shipped, logs)
}

#[test]
fn an_application_runs_execute_and_execute_async_in_order_then_its_cluster_exits() {
    let dir = tempfile::tempdir().unwrap();
    counting_job(dir.path(), "first", 2_000, 10, 100_000, "out/first");
    counting_job(dir.path(), "slow", 30_000, 10, 15_000, "out/slow");
    counting_job(dir.path(), "third", 2_000, 10, 100_000, "out/third");
    let app = application(dir.path(), &[("execute", "first.yaml"), ("execute_async", "slow.yaml"), ("execute", "third.yaml")]);
    let (cluster, _, shipped, logs) = run_application(&app);
    let _dir = ClusterDir::of(&cluster);
    wait_no_process_with(&cluster, Duration::from_secs(60));
    let log = std::fs::read_to_string(logs.join("jobmanager.log")).unwrap();
    // The application's starts and ends, in the order the JobManager logged them.
    let events: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("Application 'test-app': ")?.1;
            let job = rest.split('\'').nth(1)?;
            if rest.starts_with("submitted job") {
                Some(format!("start {job}"))
            } else if rest.starts_with("job ") && rest.contains("ended FINISHED") {
                Some(format!("end {job}"))
            } else {
                None
            }
        })
        .collect();
    let at = |e: &str| events.iter().position(|x| x == e).unwrap_or_else(|| panic!("{e} in {events:?}"));
    // execute: first ends before slow starts; execute_async: third starts without
    // waiting for slow, and ends before it.
    assert!(at("start first") < at("end first") && at("end first") < at("start slow"), "{events:?}");
    assert!(at("start slow") < at("start third") && at("end third") < at("end slow"), "{events:?}");
    assert!(log.contains("every job finished"), "{log}");
    // The program step ran in the cluster, on the shipped files.
    assert!(shipped.join("slow.yaml").is_file());
    for (name, rows) in [("first", 2_000), ("slow", 30_000), ("third", 2_000)] {
        assert_exact_counts(&shipped.join("out").join(name), rows, 10);
    }
}

#[test]
fn cancelling_one_application_job_cancels_all_and_stops_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    counting_job(dir.path(), "background", 10_000_000, 10, 10_000, "out/background");
    counting_job(dir.path(), "foreground", 10_000_000, 10, 10_000, "out/foreground");
    let app = application(dir.path(), &[("execute_async", "background.yaml"), ("execute", "foreground.yaml")]);
    let (cluster, address, _, logs) = run_application(&app);
    let _dir = ClusterDir::of(&cluster);
    let foreground = wait_for(Duration::from_secs(20), "both jobs running", || {
        let jobs = get_json(&format!("http://{address}/jobs/overview"))?;
        let jobs = jobs["jobs"].as_array()?.clone();
        (jobs.len() == 2 && jobs.iter().all(|j| j["state"] == "RUNNING"))
            .then(|| jobs.iter().find(|j| j["name"] == "foreground").map(|j| j["jid"].as_str().unwrap().to_string()))
            .flatten()
    });
    let cancel = rask(&["cancel", "-m", &address, &foreground], &[]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    wait_no_process_with(&cluster, Duration::from_secs(20));
    let log = std::fs::read_to_string(logs.join("jobmanager.log")).unwrap();
    assert!(log.contains("job 'foreground'") && log.contains("ended CANCELED"), "{log}");
    let canceled = log.lines().filter(|l| l.contains("Application 'test-app': job") && l.contains("ended CANCELED")).count();
    assert_eq!(canceled, 2, "both jobs were cancelled:\n{log}");
}

#[test]
fn run_application_against_a_session_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    counting_job(dir.path(), "one", 10, 1, 100, "out");
    let app = application(dir.path(), &[("execute", "one.yaml")]);
    let out = rask(&["run-application", "-m", "127.0.0.1:8081", app.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a session cluster (-m 127.0.0.1:8081) only runs JobGraphs"), "{}", stderr(&out));
    let out = rask(&["run-application", "--target", "remote", app.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("run-application starts a new application cluster"), "{}", stderr(&out));
}

#[test]
fn a_broken_application_file_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, "name: broken\njobs:\n  - execute: missing.yaml\n").unwrap();
    let out = rask(&["run-application", app.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("app.yaml:3: jobs[0].execute: no job file"), "{err}");

    // A job file given as an application, and the other way round: the position once,
    // and what to run instead.
    let job = examples_dir().join("word-count.yaml");
    let err = stderr(&rask(&["run-application", job.to_str().unwrap()], &[]));
    assert!(err.contains("word-count.yaml:") && err.contains("unknown field `"), "{err}");
    assert!(err.contains("this looks like a job file: run it with `rask run`") && !err.contains(" column "), "{err}");
    let err = stderr(&rask(&["run", "--target", "per-job", app.to_str().unwrap()], &[]));
    assert!(err.contains("app.yaml:2: unknown field `jobs`") && err.contains("`rask run-application`"), "{err}");
}

#[test]
fn a_relative_config_path_reaches_the_per_job_cluster() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/rask.yaml"), "parallelism.default: 2\n").unwrap();
    let job = examples_dir().join("word-count.yaml");
    let out = clean_command("rask")
        .args(["run", "--target", "per-job", "--config", "conf", job.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_word_counts(&stdout(&out)), expected_word_counts());
}

#[test]
fn a_standalone_application_cluster_runs_with_self_registering_taskmanagers_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    counting_job(dir.path(), "first", 2_000, 10, 100_000, "out/first");
    counting_job(dir.path(), "second", 2_000, 10, 100_000, "out/second");
    std::fs::write(
        dir.path().join("printed.yaml"),
        "name: printed\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 5\n    \
         fields:\n      - {name: id, type: BIGINT, kind: sequence}\nsinks:\n  - {name: out, connector: print}\n",
    )
    .unwrap();
    let app = application(dir.path(), &[("execute", "first.yaml"), ("execute_async", "second.yaml"), ("execute", "printed.yaml")]);
    let spec = ClusterSpec::new();
    let mut args: Vec<String> = vec!["--application".into(), app.display().to_string()];
    args.extend(
        [
            ("jobmanager.rpc.address", "127.0.0.1".to_string()),
            ("jobmanager.rpc.port", spec.rpc_port.to_string()),
            ("rest.port", spec.rest_port.to_string()),
        ]
        .iter()
        .flat_map(|(k, v)| ["-D".to_string(), format!("{k}={v}")]),
    );
    let mut jm = Daemon::spawn("jm", "rask-jobmanager", &args, dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    assert!(jm.wait_exit(Duration::from_secs(60)).success(), "{}", jm.log());
    assert!(jm.log().contains("every job finished"));
    assert_exact_counts(&dir.path().join("out/first"), 2_000, 10);
    assert_exact_counts(&dir.path().join("out/second"), 2_000, 10);
    // Without env.log.dir, printed rows are kept beside the application file.
    let out = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("printed-") && p.extension().is_some_and(|e| e == "out"))
        .unwrap_or_else(|| panic!("no printed-*.out beside the application: {}", jm.log()));
    let ids: Vec<String> = table_rows(&std::fs::read_to_string(&out).unwrap(), "id").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
}

/// The resource id and pid of the live TaskManager processes whose command line
/// contains `cluster`.
fn taskmanagers_of(cluster: &str) -> Vec<(u32, String)> {
    processes_with(cluster).into_iter().filter(|(_, cmd)| cmd.contains("rask-taskmanager")).collect()
}

#[test]
fn a_taskmanager_failure_stays_inside_its_per_job_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut clusters = Vec::new();
    let mut dirs = Vec::new();
    for name in ["victim", "bystander"] {
        let job = counting_job(dir.path(), name, 10_000_000, 10, 20_000, &format!("out-{name}"));
        let out = rask(&["run", "--target", "per-job", "-d", job.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let id = line_value(&stdout(&out), "Job has been submitted with JobID ").unwrap();
        dirs.push(ClusterDir::of(&per_job_cluster(&id)));
        let address = line_value(&stdout(&out), &format!("Per-job cluster {} runs at http://", per_job_cluster(&id)))
            .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
            .unwrap();
        wait_for(Duration::from_secs(20), "running", || {
            get_json(&format!("http://{address}/jobs/{id}")).filter(|j| j["status-counts"]["RUNNING"] == 2)
        });
        clusters.push((id, address));
    }
    let (victim_id, _) = &clusters[0];
    let (bystander_id, bystander) = &clusters[1];
    let bystander_tms = taskmanagers_of(&per_job_cluster(bystander_id));
    let victims = taskmanagers_of(&per_job_cluster(victim_id));
    assert!(!victims.is_empty() && !bystander_tms.is_empty());
    unsafe {
        libc::kill(victims[0].0 as i32, libc::SIGKILL);
    }
    // Without checkpointing the victim's job fails and its cluster stops.
    wait_no_process_with(&per_job_cluster(victim_id), Duration::from_secs(20));
    let job = get_json(&format!("http://{bystander}/jobs/{bystander_id}")).unwrap();
    assert_eq!(job["state"], "RUNNING", "{job}");
    assert_eq!(job["timestamps"]["RESTARTING"].as_i64().unwrap_or(0), 0, "the other cluster's job never restarted: {job}");
    assert_eq!(taskmanagers_of(&per_job_cluster(bystander_id)), bystander_tms, "its TaskManagers are untouched");
    let cancel = rask(&["cancel", "-m", bystander, bystander_id], &[]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    wait_no_process_with(&per_job_cluster(bystander_id), Duration::from_secs(20));
}

#[test]
fn in_a_session_cluster_a_taskmanager_failure_affects_only_the_jobs_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let _jm = spec.jobmanager("jm", dir.path());
    let mut tms: Vec<Daemon> =
        (0..2).map(|i| spec.taskmanager(&format!("tm{i}"), dir.path(), &[("taskmanager.numberOfTaskSlots", "1")])).collect();
    spec.wait_slots(2, 2, Duration::from_secs(30));
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let mut jobs = Vec::new();
    for name in ["one", "two"] {
        let job = counting_job(dir.path(), name, 10_000_000, 10, 20_000, &format!("out-{name}"));
        let id = submit_detached(&m, &job);
        wait_for(Duration::from_secs(20), "running", || {
            get_json(&format!("{}/jobs/{id}", spec.rest_url())).filter(|j| j["status-counts"]["RUNNING"] == 2)
        });
        jobs.push(id);
    }
    // Each job (parallelism 1) sits on its own TaskManager: kill the first one's.
    let detail = get_json(&format!("{}/jobs/{}", spec.rest_url(), jobs[0])).unwrap();
    let victim = detail["vertices"][0]["subtasks"][0]["taskmanager-id"].as_str().unwrap().to_string();
    let port = victim.rsplit_once('-').unwrap().0.rsplit_once(':').unwrap().1.to_string();
    let needle = format!("TaskExecutor at 127.0.0.1:{port}");
    let other = get_json(&format!("{}/jobs/{}", spec.rest_url(), jobs[1])).unwrap();
    assert_ne!(other["vertices"][0]["subtasks"][0]["taskmanager-id"], detail["vertices"][0]["subtasks"][0]["taskmanager-id"]);
    tms.iter_mut().find(|d| d.log().contains(&needle)).expect("the victim's process").kill9();
    wait_for(Duration::from_secs(20), "the first job to fail", || {
        get_json(&format!("{}/jobs/{}", spec.rest_url(), jobs[0])).filter(|j| j["state"] == "FAILED")
    });
    let job = get_json(&format!("{}/jobs/{}", spec.rest_url(), jobs[1])).unwrap();
    assert_eq!(job["state"], "RUNNING", "{job}");
    assert_eq!(job["timestamps"]["RESTARTING"].as_i64().unwrap_or(0), 0, "the other job never restarted: {job}");
    cancel_all(&m, &jobs[1..]);
}

fn cancel_all(m: &str, ids: &[String]) {
    for id in ids {
        rask(&["cancel", "-m", m, id], &[]);
    }
}

#[test]
fn the_example_application_runs_its_three_jobs_and_keeps_their_printed_rows() {
    let app = examples_dir().join("application.yaml");
    let out = rask(&["run-application", app.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let cluster = line_value(&text, "Application 'examples' (3 jobs) runs on application cluster ").unwrap();
    let cluster = cluster.split_whitespace().next().unwrap().to_string();
    let dir = ClusterDir::of(&cluster);
    assert!(text.contains(&format!("Each job's printed rows land in {}/<job>-<id>.out", dir.0.display())), "{text}");
    wait_no_process_with(&cluster, Duration::from_secs(60));
    // Every job finished: the cluster removed its logs and the shipped files, and
    // only the printed rows are left in its directory.
    let left: Vec<PathBuf> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(left.len(), 3, "{left:?}");
    let outputs: Vec<PathBuf> = left.into_iter().filter(|p| p.extension().is_some_and(|e| e == "out")).collect();
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    let word_count =
        outputs.iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with("word-count-")).expect("word-count's rows");
    assert_eq!(printed_word_counts(&std::fs::read_to_string(word_count).unwrap()), expected_word_counts());
}

#[test]
fn taskmanagers_that_cannot_start_are_retried_with_back_off_and_the_job_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    // Every TaskManager of this cluster tries a port that is taken: it exits at once.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let job = counting_job(dir.path(), "doomed", 1_000, 10, 10_000, "out");
    let out = rask(
        &[
            "run",
            "--target",
            "per-job",
            "-d",
            "-D",
            &format!("taskmanager.rpc.port={port}"),
            "-D",
            "taskmanager.host=127.0.0.1",
            "-D",
            "slot.request.timeout=2000",
            job.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = line_value(&stdout(&out), "Job has been submitted with JobID ").unwrap();
    let _dir = ClusterDir::of(&per_job_cluster(&id));
    let logs = line_value(&stdout(&out), &format!("Per-job cluster {} runs at ", per_job_cluster(&id)))
        .and_then(|rest| rest.split_once("(logs in ").map(|(_, l)| l.split_once(')').unwrap().0.to_string()))
        .unwrap();
    wait_no_process_with(&per_job_cluster(&id), Duration::from_secs(30));
    let log = std::fs::read_to_string(Path::new(&logs).join("jobmanager.log")).unwrap();
    assert!(log.contains("exited before it registered"), "{log}");
    assert!(log.contains("Could not acquire the minimum required resources"), "{log}");
    let starts = log.matches("started TaskManager").count();
    assert!((1..=12).contains(&starts), "back-off between starts, not a start every tick: {starts} starts\n{log}");
}
