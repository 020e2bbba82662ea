//! End-to-end tests of what a new user meets in the first hour: `-D` job-level keys on
//! a session cluster, savepoints on a default cluster, the hint at every dead end,
//! labelled attached output with its summary and progress line, `run-application
//! --attached`, and dedicated clusters that leave no directory behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rask_tests::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A session cluster with one TaskManager of `slots` slots and extra JobManager keys.
fn session(dir: &Path, slots: u32, jobmanager: &[(&str, &str)]) -> (ClusterSpec, Daemon, Daemon) {
    let mut spec = ClusterSpec::new();
    for (k, v) in jobmanager {
        spec = spec.with(k, v);
    }
    let jm = spec.jobmanager("jm", dir);
    let tm = spec.taskmanager("tm", dir, &[("taskmanager.numberOfTaskSlots", &slots.to_string())]);
    spec.wait_slots(1, slots as u64, Duration::from_secs(20));
    (spec, jm, tm)
}

fn address(spec: &ClusterSpec) -> String {
    format!("127.0.0.1:{}", spec.rest_port)
}

fn wait_running(spec: &ClusterSpec, job: &str) {
    wait_for(Duration::from_secs(20), "every task running", || {
        let j = get_json(&format!("{}/jobs/{job}", spec.rest_url()))?;
        (j["state"] == "RUNNING" && j["status-counts"]["RUNNING"].as_u64()? > 0 && j["status-counts"]["DEPLOYING"] == 0).then_some(())
    });
}

fn savepoint_path(out: &std::process::Output) -> PathBuf {
    let text = stdout(out);
    let path = line_value(&text, "Savepoint completed. Path: ").unwrap_or_else(|| panic!("no savepoint in {text}{}", stderr(out)));
    PathBuf::from(path.trim_start_matches("file:"))
}

#[test]
fn job_level_keys_given_with_d_apply_to_the_job_on_a_session_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _jm, _tm) = session(dir.path(), 4, &[]);
    let m = address(&spec);
    let chk = dir.path().join("chk");
    let sp = dir.path().join("sp");
    let job = examples_dir().join("page-views.yaml");
    let out = rask(
        &[
            "run",
            "-m",
            &m,
            "-d",
            "-D",
            &format!("state.checkpoints.dir=file://{}", chk.display()),
            "-D",
            "execution.checkpointing.interval=200ms",
            "-D",
            &format!("state.savepoints.dir={}", sp.display()),
            "-D",
            "taskmanager.numberOfTaskSlots=8",
            job.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A key only a cluster honours is named, not dropped without a word.
    assert!(
        stderr(&out).contains("-D taskmanager.numberOfTaskSlots is a cluster setting") && stderr(&out).contains("--target per-job"),
        "{}",
        stderr(&out)
    );
    let id = line_value(&stdout(&out), "Job has been submitted with JobID ").unwrap();
    wait_running(&spec, &id);
    // Checkpoints go where -D said, although the cluster has no checkpointing at all.
    wait_for(Duration::from_secs(20), "a checkpoint under the job's own directory", || {
        std::fs::read_dir(chk.join(&id))
            .ok()?
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("chk-"))
            .then_some(())
    });
    let config = get_json(&format!("{}/jobs/{id}/config", spec.rest_url())).unwrap();
    assert_eq!(config["jid"], id.as_str());
    assert_eq!(config["checkpoint-interval"], 200);
    let keys = config["job-configuration"].as_array().unwrap();
    let entry = |key: &str| keys.iter().find(|k| k["key"] == key).cloned().unwrap_or_else(|| panic!("{key} in {config}"));
    assert_eq!(entry("state.checkpoints.dir")["origin"], "job");
    assert_eq!(entry("state.savepoints.dir")["value"], sp.display().to_string().as_str());
    assert_eq!(entry("state.checkpoints.num-retained")["origin"], "default", "{config}");
    assert!(keys.iter().all(|k| k["key"] != "taskmanager.numberOfTaskSlots"), "{config}");
    assert!(config["execution-config"]["restart-strategy"].as_str().unwrap().contains("exponential delay"), "{config}");
    // The savepoint goes to the job's state.savepoints.dir.
    let savepoint = rask(&["savepoint", "-m", &m, &id], &[]);
    assert!(savepoint.status.success(), "{}", stderr(&savepoint));
    let path = savepoint_path(&savepoint);
    assert!(path.starts_with(&sp) && path.join("_metadata").is_file(), "{}", path.display());
    // A JobGraph that carries a cluster key is refused, naming it.
    let mut graph = rask_common::job::plan_job_file(&job, &Default::default()).unwrap();
    graph.configuration.insert("taskmanager.memory.process.size".into(), "1g".into());
    let (status, body) = post_status_json(&format!("{}/jobs", spec.rest_url()), &serde_json::to_value(&graph).unwrap());
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0].as_str().unwrap().contains("'taskmanager.memory.process.size' cannot be set per job"), "{body}");
    let cancel = rask(&["cancel", "-m", &m, &id], &[]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
}

#[test]
fn a_savepoint_on_a_default_session_cluster_just_works() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let (spec, mut jm, _tm) = session(dir.path(), 4, &[("process.jobmanager.working-dir", work.to_str().unwrap())]);
    let m = address(&spec);
    let job = examples_dir().join("page-views.yaml");
    let id = submit_detached(&m, &job);
    wait_running(&spec, &id);
    // Without a target: the error says where to give one and what a restart needs.
    let refused = rask(&["savepoint", "-m", &m, &id], &[]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains(&format!("rask savepoint {id} DIR")) && err.contains("state.savepoints.dir") && err.contains("restart"), "{err}");
    // With one, it works although the cluster names no checkpoint directory: the tasks
    // stage their state in the JobManager's working directory.
    let target = dir.path().join("savepoints");
    let out = rask(&["savepoint", "-m", &m, &id, target.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = savepoint_path(&out);
    assert!(first.starts_with(&target) && first.join("_metadata").is_file(), "{}", first.display());
    let staging: Vec<PathBuf> = std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(staging.len() == 1 && staging[0].file_name().unwrap().to_string_lossy().starts_with("jm_"), "{staging:?}");
    // Stop with a savepoint, and start again from it.
    let stop = rask(&["stop", "-m", &m, "--savepointPath", target.to_str().unwrap(), &id], &[]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    let stopped = savepoint_path(&stop);
    let again = submit_detached_with(&m, &job, &["--fromSavepoint", stopped.to_str().unwrap()]);
    wait_running(&spec, &again);
    let log = jm.log();
    assert!(log.contains(&format!("Restoring job {again} from savepoint {}", stopped.display())), "{log}");
    assert!(!log.contains(&format!("Restoring job {again} from checkpoint")), "{log}");
    // An unknown job points at `rask list`.
    let unknown = rask(&["cancel", "-m", &m, "0123456789abcdef0123456789abcdef"], &[]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("hint: `rask list --all -m HOST:PORT`"), "{}", stderr(&unknown));
    // The working directory goes with the JobManager.
    jm.sigterm();
    jm.wait_exit(Duration::from_secs(20));
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0, "the JobManager's working directory is removed when it stops");
}

#[test]
fn every_dead_end_names_the_way_out() {
    let word_count = examples_dir().join("word-count.yaml");
    let word_count = word_count.to_str().unwrap();
    let nobody = format!("127.0.0.1:{}", free_port());
    let err = stderr(&rask(&["list", "-m", &nobody], &[]));
    assert!(
        err.contains("could not reach the JobManager") && err.contains("deploy/bin/start-cluster.sh") && err.contains("-m HOST:PORT"),
        "{err}"
    );
    let err = stderr(&rask(&["run", "-m", &nobody, word_count], &[]));
    assert!(err.contains("--target local") && err.contains("--target per-job"), "{err}");
    let err = stderr(&rask(&["run", "--detached", word_count], &[]));
    assert!(err.contains("--detached needs a cluster") && err.contains("--target per-job") && err.contains("--target remote"), "{err}");
    let err = stderr(&rask(&["run", "--keep", word_count], &[]));
    assert!(err.contains("--keep") && err.contains("--target per-job"), "{err}");
    let err = stderr(&rask(&["run", "no-such-job.yaml"], &[]));
    assert!(err.contains("no-such-job.yaml: cannot read the job file") && err.contains("examples/"), "{err}");
    let err = stderr(&rask(&["run", "--fromSavepoint", "/no/such/savepoint", word_count], &[]));
    assert!(err.contains("holds no _metadata") && err.contains("Savepoint completed. Path:"), "{err}");
    let err = stderr(&rask(&["list", "--config", "/no/such/conf"], &[]));
    assert!(err.contains("cannot read configuration file /no/such/conf") && err.contains("RASK_CONF_DIR"), "{err}");
    let app = examples_dir().join("application.yaml");
    let err = stderr(&rask(&["run", app.to_str().unwrap()], &[]));
    assert!(err.contains("`rask run-application`"), "{err}");
    // A dedicated cluster needs the daemons next to `rask`: a lone copy says so.
    let lone = tempfile::tempdir().unwrap();
    let copy = lone.path().join("rask");
    std::fs::hard_link(bin("rask"), &copy).or_else(|_| std::fs::copy(bin("rask"), &copy).map(|_| ())).unwrap();
    let out = Command::new(&copy).args(["run", "--target", "per-job", word_count]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("rask-jobmanager and") && err.contains("rask-taskmanager next to rask") && err.contains("cargo build --release"),
        "{err}"
    );
}

#[test]
fn attached_output_is_labelled_by_sink_and_subtask_and_ends_with_a_summary() {
    let out = rask(&["run", "--target", "local", examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(printed_word_counts(&text), expected_word_counts());
    let lines: Vec<&str> = text.lines().collect();
    // Every table starts right after the title of the sink task that printed it.
    let mut titles = std::collections::BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let starts_table = line.starts_with("+-") && lines.get(i + 1).is_some_and(|l| l.starts_with("| word"));
        if starts_table {
            let title = lines[i - 1];
            assert!(title.starts_with("Sink: word counts (") && title.ends_with("/2)"), "{title:?} before a table in\n{text}");
            titles.insert(title);
        }
    }
    assert_eq!(titles.into_iter().collect::<Vec<_>>(), ["Sink: word counts (1/2)", "Sink: word counts (2/2)"]);
    let rows = table_rows(&text, "word").len();
    let summary = line_value(&text, "Summary: ").expect("a summary line");
    assert!(summary.starts_with(&format!("{rows} rows printed, runtime ")), "{summary}");
    assert!(summary.ends_with("0 restarts, 0 completed checkpoints"), "{summary}");
    // Piped, there is no progress line.
    assert!(!stderr(&out).contains("rows/s"), "{}", stderr(&out));
}

#[test]
fn a_long_attached_job_shows_a_progress_line_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("slow.yaml");
    std::fs::write(
        &job,
        "name: slow\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 90\n    rows-per-second: 25\n    \
         fields:\n      - {name: id, type: BIGINT, kind: sequence}\nsinks:\n  - {name: ids, connector: print}\n",
    )
    .unwrap();
    // `script` gives the command a terminal (util-linux, in every Debian).
    let command = format!("{} run --target local {}", bin("rask").display(), job.display());
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RASK_") {
            script.env_remove(&key);
        }
    }
    let out = script.output().expect("script (util-linux) runs rask on a terminal");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let progress = text
        .split('\r')
        .find(|p| p.contains("rows printed (") && p.contains("rows/s)"))
        .unwrap_or_else(|| panic!("no progress line in {text:?}"));
    assert!(progress.contains("[RUNNING ") && progress.contains("checkpoints"), "{progress:?}");
    assert!(text.contains("Summary: 90 rows printed"), "{text}");
}

#[test]
fn run_application_attached_prints_each_job_and_exits_with_the_result() {
    let out = rask(&["run-application", "--attached", examples_dir().join("application.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let cluster = line_value(&text, "Application 'examples' (3 jobs) runs on application cluster ").unwrap();
    let cluster = cluster.split_whitespace().next().unwrap().to_string();
    for job in ["word-count", "state-machine", "top-products"] {
        assert!(text.contains(&format!("Job '{job}' (")), "{job} in {text}");
    }
    assert_eq!(text.matches("has finished.").count(), 3, "{text}");
    let word_count: String = text
        .split("Job 'word-count' (")
        .nth(1)
        .and_then(|rest| rest.split("has finished.").next())
        .expect("word-count's section")
        .to_string();
    assert_eq!(printed_word_counts(&word_count), expected_word_counts());
    assert!(text.trim_end().ends_with("Application 'examples' finished."), "{text}");
    // Its rows were printed here: the cluster left nothing behind.
    wait_no_process_with(&cluster, Duration::from_secs(10));
    assert!(!dedicated_cluster_dir(&cluster).exists());

    // A job that fails: the application fails, says why, and keeps its files.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "name: broken\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 10\n    \
         fields:\n      - {name: id, type: BIGINT, kind: sequence}\npipeline:\n  - map: \"10 / (id - id) AS x\"\nsinks:\n  - {name: out, connector: print}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("app.yaml"), "name: doomed\njobs:\n  - execute: broken.yaml\n").unwrap();
    let out = rask(&["run-application", "--attached", dir.path().join("app.yaml").to_str().unwrap()], &[]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("ended FAILED") && err.contains("files stay in"), "{err}");
    let cluster = line_value(&stdout(&out), "Application 'doomed' (1 jobs) runs on application cluster ").unwrap();
    let kept = dedicated_cluster_dir(cluster.split_whitespace().next().unwrap());
    assert!(kept.join("log/jobmanager.log").is_file(), "a failed run keeps its logs");
    std::fs::remove_dir_all(kept).unwrap();
}

#[test]
fn dedicated_clusters_remove_their_directory_unless_kept() {
    let word_count = examples_dir().join("word-count.yaml");
    // --keep: the logs and the JobGraph stay, and the command says where.
    let out = rask(&["run", "--target", "per-job", "--keep", word_count.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = line_value(&stdout(&out), "Job has been submitted with JobID ").unwrap();
    let kept = dedicated_cluster_dir(&format!("per-job-{}", &id[..12]));
    assert!(kept.join("log/jobmanager.log").is_file() && kept.join("job-graph.json").is_file());
    assert!(stderr(&out).contains(&format!("stay in {}", kept.display())), "{}", stderr(&out));
    std::fs::remove_dir_all(&kept).unwrap();
    // Detached and cancelled: nothing is left once the cluster has stopped.
    let out = rask(&["run", "--target", "per-job", "-d", examples_dir().join("page-views.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let id = line_value(&text, "Job has been submitted with JobID ").unwrap();
    let cluster = format!("per-job-{}", &id[..12]);
    let m = line_value(&text, "Follow it with `rask list -m ").unwrap().split('`').next().unwrap().to_string();
    assert!(dedicated_cluster_dir(&cluster).exists());
    wait_for(Duration::from_secs(20), "page-views running", || {
        get_json(&format!("http://{m}/jobs/{id}")).filter(|j| j["state"] == "RUNNING").map(|_| ())
    });
    let cancel = rask(&["cancel", "-m", &m, &id], &[]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    wait_no_process_with(&cluster, Duration::from_secs(20));
    assert!(!dedicated_cluster_dir(&cluster).exists(), "a cancelled per-job cluster removes its directory");
}

#[test]
fn job_level_directories_stay_inside_the_allowed_paths() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    let (spec, _jm, _tm) = session(dir.path(), 2, &[("rask.io.allowed-paths", allowed.to_str().unwrap())]);
    let job = examples_dir().join("page-views.yaml");
    let outside = dir.path().join("outside");
    for key in ["state.checkpoints.dir", "state.savepoints.dir"] {
        let out = rask(&["run", "-m", &address(&spec), "-d", "-D", &format!("{key}={}", outside.display()), job.to_str().unwrap()], &[]);
        assert!(!out.status.success(), "{key} outside rask.io.allowed-paths was accepted");
        let err = stderr(&out);
        assert!(err.contains("400") && err.contains(key) && err.contains("rask.io.allowed-paths"), "{err}");
    }
    // A key spelled otherwise cannot slip past the check.
    let mut graph = rask_common::job::plan_job_file(&job, &Default::default()).unwrap();
    graph.configuration.insert("STATE.CHECKPOINTS.DIR".into(), outside.display().to_string());
    let (status, body) = post_status_json(&format!("{}/jobs", spec.rest_url()), &serde_json::to_value(&graph).unwrap());
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0].as_str().unwrap().contains("'state.checkpoints.dir'"), "{body}");
    assert!(!outside.exists(), "nothing was created outside the allowed paths");
}
