//! End-to-end tests of the security issue: mutual TLS inside the cluster and on REST,
//! outsiders refused, secrets and tokens never answered, forged task reports refused,
//! savepoint disposal that deletes only savepoints, allowed paths, and bounds that
//! turn hostile inputs into clear errors instead of aborted processes.

use std::path::Path;
use std::time::Duration;

use rask_common::proto::job_master_gateway_client::JobMasterGatewayClient;
use rask_common::proto::resource_manager_client::ResourceManagerClient;
use rask_common::proto::task_executor_client::TaskExecutorClient;
use rask_common::proto::{CheckpointAck, RequestSlotRequest, TaskExecutionState, TaskExecutorMessage, TaskOutput};
use rask_tests::*;
use serde_json::Value;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn settings(spec: ClusterSpec, pairs: Vec<(String, String)>) -> ClusterSpec {
    pairs.into_iter().fold(spec, |s, (k, v)| s.with(&k, &v))
}

/// A gRPC endpoint for `address`: plain, or TLS with the files of `certs`.
async fn channel(address: &str, certs: Option<&ClusterCertificates>) -> Result<tonic::transport::Channel, String> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let endpoint = match certs {
        None => Endpoint::from_shared(format!("http://{address}")).unwrap(),
        Some(c) => {
            let read = |f: &str| std::fs::read(c.dir.join(f)).unwrap();
            Endpoint::from_shared(format!("https://{address}"))
                .unwrap()
                .tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(read("ca.crt")))
                        .identity(Identity::from_pem(read("internal.crt"), read("internal.key"))),
                )
                .unwrap()
        }
    };
    endpoint.connect_timeout(Duration::from_secs(3)).timeout(Duration::from_secs(3)).connect().await.map_err(|e| format!("{e:?}"))
}

/// Every call an outsider could make on the JobManager's and a TaskManager's gRPC
/// endpoints, with `certs` (or none); the answer of each.
fn outsider_calls(jm_rpc: &str, tm_rpc: &str, certs: Option<&ClusterCertificates>) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    block_on(async {
        let mut results = Vec::new();
        let connection_refused = |e: String| tonic::Status::unavailable(format!("no connection: {e}"));
        match channel(jm_rpc, certs).await {
            Err(e) => {
                results.push(("ResourceManager.Session", Err(connection_refused(e.clone()))));
                results.push(("JobMasterGateway.AcknowledgeCheckpoint", Err(connection_refused(e))));
            }
            Ok(ch) => {
                let register = TaskExecutorMessage { kind: None };
                let session = ResourceManagerClient::new(ch.clone()).session(tokio_stream::once(register)).await;
                let session = match session {
                    Ok(mut stream) => stream.get_mut().message().await.map(drop),
                    Err(e) => Err(e),
                };
                results.push(("ResourceManager.Session", session));
                let ack = JobMasterGatewayClient::new(ch).acknowledge_checkpoint(CheckpointAck::default()).await.map(drop);
                results.push(("JobMasterGateway.AcknowledgeCheckpoint", ack));
            }
        }
        match channel(tm_rpc, certs).await {
            Err(e) => results.push(("TaskExecutor.RequestSlot", Err(connection_refused(e)))),
            Ok(ch) => {
                let request =
                    RequestSlotRequest { leader_token: "guess".into(), slot_index: 0, allocation_id: "a".into(), job_id: "j".into() };
                results.push(("TaskExecutor.RequestSlot", TaskExecutorClient::new(ch).request_slot(request).await.map(drop)));
            }
        }
        results
    })
}

fn taskmanager_rpc(rest: &str) -> String {
    let tms = get_json(&format!("{rest}/taskmanagers")).expect("/taskmanagers");
    tms["taskmanagers"][0]["path"].as_str().unwrap().trim_start_matches("grpc://").to_string()
}

#[test]
fn internal_tls_runs_a_job_across_taskmanagers_and_refuses_outsiders() {
    let dir = tempfile::tempdir().unwrap();
    let certs = ClusterCertificates::make(&dir.path().join("certs"));
    let foreign = ClusterCertificates::make(&dir.path().join("foreign"));
    let spec = settings(ClusterSpec::new(), certs.internal());
    let jm = spec.jobmanager("jm", dir.path());
    let _tm1 = spec.taskmanager("tm1", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    let _tm2 = spec.taskmanager("tm2", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    spec.wait_slots(2, 2, Duration::from_secs(30));

    // A job whose data crosses between the TaskManagers, over TLS.
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let out = rask(&["run", "-m", &m, examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "rask run: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(printed_word_counts(&stdout), expected_word_counts());

    let jm_rpc = format!("127.0.0.1:{}", spec.rpc_port);
    let tm_rpc = taskmanager_rpc(&spec.rest_url());
    for (call, result) in outsider_calls(&jm_rpc, &tm_rpc, None).into_iter().chain(outsider_calls(&jm_rpc, &tm_rpc, Some(&foreign))) {
        assert!(result.is_err(), "{call} without the cluster's certificate must be refused");
    }
    // Broken and abandoned handshakes stop neither server.
    let mut idle = Vec::new();
    for address in [&jm_rpc, &tm_rpc] {
        use std::io::Write;
        let mut garbage = std::net::TcpStream::connect(address.as_str()).unwrap();
        let _ = garbage.write_all(b"\x16\x03\x01\x00\x05hello, not TLS\r\n\r\n");
        drop(garbage);
        idle.push(std::net::TcpStream::connect(address.as_str()).unwrap());
    }
    // With the cluster's certificate the same calls reach the services, which answer
    // them on their merits (the slot request's guessed token is refused by fencing).
    let member = outsider_calls(&jm_rpc, &tm_rpc, Some(&certs));
    let slot = &member.iter().find(|(c, _)| *c == "TaskExecutor.RequestSlot").unwrap().1;
    assert_eq!(slot.as_ref().unwrap_err().code(), tonic::Code::FailedPrecondition, "{slot:?}");
    assert!(spec.overview().is_some_and(|o| o["taskmanagers"] == 2), "no TaskManager was disturbed");
    let again = rask(&["run", "-m", &m, examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(again.status.success(), "the cluster still runs jobs: {}", String::from_utf8_lossy(&again.stderr));
    drop(idle);
    let log = jm.log();
    let warning = log.lines().find(|l| l.contains("this cluster is unauthenticated")).unwrap_or_else(|| panic!("one WARN line:\n{log}"));
    assert!(warning.contains("REST at") && !warning.contains("gRPC at"), "only REST is reported unauthenticated: {warning}");
}

#[test]
fn rest_tls_with_authentication_requires_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = ClusterCertificates::make(&dir.path().join("certs"));
    let spec = settings(ClusterSpec::new(), certs.rest_server());
    let _jm = spec.jobmanager("jm", dir.path());
    let https = format!("https://127.0.0.1:{}", spec.rest_port);
    let client = certs.https_client(true);
    wait_for(Duration::from_secs(30), "the HTTPS REST endpoint", || client.get(format!("{https}/overview")).send().ok());
    let overview: Value = client.get(format!("{https}/overview")).send().unwrap().json().unwrap();
    assert_eq!(overview["taskmanagers"], 0);

    let m = format!("127.0.0.1:{}", spec.rest_port);
    let mut args = vec!["list".to_string(), "-m".into(), m.clone()];
    args.extend(certs.rest_client_args(true));
    let out = rask(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(out.status.success(), "rask list over mutual TLS: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No running jobs."));

    let mut args = vec!["list".to_string(), "-m".into(), m.clone()];
    args.extend(certs.rest_client_args(false));
    let out = rask(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(!out.status.success(), "without a client certificate the CLI is refused");
    assert!(certs.https_client(false).get(format!("{https}/overview")).send().is_err(), "no client certificate: handshake refused");
    assert!(get_json(&format!("http://{m}/overview")).is_none(), "plain HTTP gets nothing");
}

#[test]
fn an_unauthenticated_cluster_says_so_and_never_answers_a_secret_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("high-availability.etcd.password", "hunter2-do-not-show");
    let jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[]);
    spec.wait_slots(1, 1, Duration::from_secs(30));
    jm.wait_log("this cluster is unauthenticated", Duration::from_secs(5));

    let config = get_json(&format!("{}/jobmanager/config", spec.rest_url())).unwrap();
    let text = config.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    let password = config.as_array().unwrap().iter().find(|e| e["key"] == "high-availability.etcd.password").unwrap();
    assert_eq!(password["value"], "******");
    assert!(!jm.log().contains("hunter2"));

    // A guessed fencing token is refused without learning the real one.
    let tm_rpc = taskmanager_rpc(&spec.rest_url());
    let calls = outsider_calls(&format!("127.0.0.1:{}", spec.rpc_port), &tm_rpc, None);
    let refused = calls.iter().find(|(c, _)| *c == "TaskExecutor.RequestSlot").unwrap().1.as_ref().unwrap_err().clone();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    let message = refused.message();
    let hex_run = message.as_bytes().windows(16).any(|w| w.iter().all(u8::is_ascii_hexdigit));
    assert!(message.contains("stale leader token") && !hex_run, "the refusal names no token: {message}");
}

#[test]
fn reports_from_attempts_the_jobmaster_did_not_deploy_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "100")
        .with("state.checkpoints.dir", &format!("file://{}", dir.path().join("chk").display()));
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(30));
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let id = submit_detached(&m, &examples_dir().join("page-views.yaml"));
    let job_url = format!("{}/jobs/{id}", spec.rest_url());
    let job = wait_for(Duration::from_secs(20), "the job running", || get_json(&job_url).filter(|j| j["state"] == "RUNNING"));
    let vertex = job["vertices"][0]["id"].as_str().unwrap().to_string();

    let refusals = block_on(async {
        let ch = channel(&format!("127.0.0.1:{}", spec.rpc_port), None).await.unwrap();
        let mut gateway = JobMasterGatewayClient::new(ch);
        let forged_attempt = "0123456789abcdef0123456789abcdef".to_string();
        let mut results = Vec::new();
        for checkpoint_id in 1..20 {
            let ack = CheckpointAck {
                job_id: id.clone(),
                vertex_id: vertex.clone(),
                subtask_index: 0,
                checkpoint_id,
                state_path: "forged".into(),
                execution_attempt_id: forged_attempt.clone(),
                ..Default::default()
            };
            results.push(gateway.acknowledge_checkpoint(ack).await.map(drop));
        }
        let unknown_vertex = CheckpointAck { job_id: id.clone(), vertex_id: "f".repeat(32), checkpoint_id: 1, ..Default::default() };
        results.push(gateway.acknowledge_checkpoint(unknown_vertex).await.map(drop));
        let out_of_range = CheckpointAck { job_id: id.clone(), vertex_id: vertex.clone(), subtask_index: 99, ..Default::default() };
        results.push(gateway.acknowledge_checkpoint(out_of_range).await.map(drop));
        let failed = TaskExecutionState {
            job_id: id.clone(),
            vertex_id: vertex.clone(),
            subtask_index: 0,
            state: rask_common::proto::ExecutionState::Failed.into(),
            error: "forged failure".into(),
            execution_attempt_id: forged_attempt.clone(),
            ..Default::default()
        };
        results.push(gateway.update_task_execution_state(failed).await.map(drop));
        let rows = TaskOutput {
            job_id: id.clone(),
            lines: vec!["| injected |".into()],
            vertex_id: vertex.clone(),
            subtask_index: 0,
            execution_attempt_id: forged_attempt,
            rows: 1,
        };
        results.push(gateway.publish_output(rows).await.map(drop));
        results
    });
    for r in &refusals {
        assert_eq!(r.as_ref().unwrap_err().code(), tonic::Code::PermissionDenied, "{r:?}");
    }
    // The job runs on, with no failure, and keeps completing real checkpoints.
    let before = get_json(&format!("{job_url}/checkpoints")).unwrap()["counts"]["completed"].as_u64().unwrap();
    wait_for(Duration::from_secs(20), "more completed checkpoints", || {
        get_json(&format!("{job_url}/checkpoints")).filter(|c| c["counts"]["completed"].as_u64() > Some(before + 1))
    });
    let job = get_json(&job_url).unwrap();
    assert_eq!(job["state"], "RUNNING");
    let exceptions = get_json(&format!("{job_url}/exceptions")).unwrap();
    assert!(!exceptions.to_string().contains("forged failure"), "{exceptions}");
    let output = get_json(&format!("{job_url}/output?from=0")).unwrap();
    assert!(!output.to_string().contains("injected"), "{output}");
}

fn dispose(rest: &str, path: &str) -> (u16, Value) {
    post_status_json(&format!("{rest}/savepoint-disposal"), &serde_json::json!({ "savepoint-path": path }))
}

/// The disposal's result once done: Ok, or the failure cause.
fn disposal_result(rest: &str, answer: &Value) -> Result<(), String> {
    let trigger = answer["request-id"].as_str().expect("a request id");
    let status = wait_for(Duration::from_secs(10), "the disposal", || {
        get_json(&format!("{rest}/savepoint-disposal/{trigger}")).filter(|s| s["status"]["id"] == "COMPLETED")
    });
    match status["operation"]["failure-cause"]["stack-trace"].as_str() {
        Some(cause) => Err(cause.to_string()),
        None => Ok(()),
    }
}

#[test]
fn savepoint_disposal_deletes_only_savepoints_rask_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "100")
        .with("state.checkpoints.dir", &format!("file://{}", chk.display()));
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(30));
    let rest = spec.rest_url();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let id = submit_detached(&m, &examples_dir().join("page-views.yaml"));
    wait_for(Duration::from_secs(20), "a completed checkpoint", || {
        get_json(&format!("{rest}/jobs/{id}/checkpoints")).filter(|c| c["counts"]["completed"].as_u64() >= Some(1))
    });

    // A foreign directory that happens to hold a file named _metadata.
    let foreign = dir.path().join("precious");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("_metadata"), "not Rask's").unwrap();
    std::fs::write(foreign.join("data.db"), "keep me").unwrap();
    let (status, answer) = dispose(&rest, foreign.to_str().unwrap());
    assert_eq!(status, 202);
    assert!(disposal_result(&rest, &answer).unwrap_err().contains("not a Rask savepoint"));
    assert!(foreign.join("_metadata").exists() && foreign.join("data.db").exists(), "nothing deleted");

    // The running job's live checkpoints: refused, and the job keeps its state.
    let live = chk.join(&id);
    let (status, answer) = dispose(&rest, live.to_str().unwrap());
    assert_eq!(status, 409, "{answer}");
    assert!(answer["errors"][0].as_str().unwrap().contains("still running"));
    assert!(live.exists());

    let (status, answer) = dispose(&rest, "relative/savepoint");
    assert_eq!(status, 400, "{answer}");

    // A real savepoint, with a stray file beside its own: only its own files go.
    let sp_dir = dir.path().join("savepoints");
    let out = rask(&["savepoint", "-m", &m, &id, sp_dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let location = text.lines().find_map(|l| l.split("Path: ").nth(1)).unwrap_or_else(|| panic!("{text}")).trim().to_string();
    let sp = Path::new(location.trim_start_matches("file:")).to_path_buf();
    std::fs::write(sp.join("notes.txt"), "mine").unwrap();
    let (status, answer) = dispose(&rest, &location);
    assert_eq!(status, 202);
    disposal_result(&rest, &answer).unwrap();
    assert!(!sp.join("_metadata").exists(), "the savepoint is gone");
    assert_eq!(std::fs::read_to_string(sp.join("notes.txt")).unwrap(), "mine", "a file the savepoint does not list stays");
    assert_eq!(get_json(&format!("{rest}/jobs/{id}")).unwrap()["state"], "RUNNING");
}

#[test]
fn allowed_paths_refuse_jobs_and_savepoints_outside_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(examples_dir().join("data/words.txt"), data.join("words.txt")).unwrap();
    let allowed = format!("{};{}", data.display(), dir.path().join("out").display());
    let spec = ClusterSpec::new().with("rask.io.allowed-paths", &allowed);
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(30));
    let m = format!("127.0.0.1:{}", spec.rest_port);

    // examples/data is outside: refused at submission, naming the path and the key.
    let out = rask(&["run", "-d", "-m", &m, examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("words.txt") && err.contains("rask.io.allowed-paths"), "{err}");

    // A `..` that climbs out of an allowed directory is refused too.
    let climbing = dir.path().join("climb.yaml");
    let text = std::fs::read_to_string(examples_dir().join("word-count.yaml")).unwrap();
    let escape = format!("{}/../../../../../../../etc/passwd", data.display());
    std::fs::write(&climbing, text.replace("path: data/words.txt", &format!("path: {escape}"))).unwrap();
    let out = rask(&["run", "-d", "-m", &m, climbing.to_str().unwrap()], &[]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("rask.io.allowed-paths"));

    // Inside: runs, with the exact counts.
    let inside = data.join("word-count.yaml");
    std::fs::write(&inside, text.replace("path: data/words.txt", "path: words.txt")).unwrap();
    let out = rask(&["run", "-m", &m, inside.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(printed_word_counts(&String::from_utf8_lossy(&out.stdout)), expected_word_counts());

    // Savepoint targets outside: a 400 naming the path.
    let id = submit_detached(&m, &examples_dir().join("page-views.yaml"));
    let (status, answer) = post_status_json(
        &format!("{}/jobs/{id}/savepoints", spec.rest_url()),
        &serde_json::json!({ "target-directory": "/tmp/elsewhere" }),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["errors"][0].as_str().unwrap().contains("/tmp/elsewhere"));
}

const HOSTILE_JOB: &str = "name: hostile\nparallelism: 1\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 100\n    \
                           fields:\n      - {name: id, type: BIGINT, kind: sequence}\n      - {name: s, type: STRING, length: 8}\n\
                           pipeline:\n  - filter: \"id >= 0\"\nsinks:\n  - {name: out, connector: blackhole}\n";

/// `rask info` on a variant of the hostile job: its exit and stderr.
fn info(dir: &Path, name: &str, text: &str) -> (Option<i32>, String) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let out = rask(&["info", file.to_str().unwrap()], &[]);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn hostile_inputs_get_clear_errors_and_abort_no_process() {
    let dir = tempfile::tempdir().unwrap();
    // The client: each is a one-line error naming the file, line and field.
    let (code, err) = info(dir.path(), "wide", &HOSTILE_JOB.replace("parallelism: 1", "parallelism: 4000000000"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("wide.yaml:2: parallelism"), "{err}");
    let deep = vec!["id"; 5_000].join(" + ");
    let (code, err) = info(dir.path(), "deep", &HOSTILE_JOB.replace("id >= 0", &format!("{deep} >= 0")));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("deep.yaml:") && err.contains("filter") && (err.contains("levels") || err.contains("tokens")), "{err}");
    let (code, err) = info(dir.path(), "long", &HOSTILE_JOB.replace("length: 8", "length: 4000000000"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("long.yaml:") && err.contains(".length"), "{err}");

    // The JobManager and TaskManager: REST submissions are untrusted.
    let spec = ClusterSpec::new().with("rest.server.max-content-length", "65536");
    let jm = spec.jobmanager("jm", dir.path());
    let tm = spec.taskmanager("tm", dir.path(), &[]);
    spec.wait_slots(1, 1, Duration::from_secs(30));
    let rest = spec.rest_url();
    let file = dir.path().join("hostile.yaml");
    std::fs::write(&file, HOSTILE_JOB).unwrap();
    let graph = rask_common::job::plan_job_file(&file, &Default::default()).unwrap();
    let mut json = serde_json::to_value(&graph).unwrap();

    json["vertices"][0]["parallelism"] = 4_000_000_000u64.into();
    let (status, answer) = post_status_json(&format!("{rest}/jobs"), &json);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["errors"][0].as_str().unwrap().contains("parallelism"), "{answer}");

    let (status, answer) = post_bytes(&format!("{rest}/jobs"), vec![b' '; 100_000]);
    assert_eq!(status, 413, "{answer}");
    assert!(answer["errors"][0].as_str().unwrap().contains("rest.server.max-content-length"), "{answer}");
    let (status, answer) = get_status_json(&format!("{rest}/jobs/overview?x={}", "a".repeat(10_000)));
    assert_eq!(status, 414, "{answer}");
    assert!(answer["errors"].is_array(), "{answer}");
    let (status, answer) = post_bytes(&format!("{rest}/jobs"), b"{\"version\": [[[[".to_vec());
    assert_eq!(status, 400, "{answer}");

    // A predicate that only the TaskManager compiles: the task fails with the reason,
    // the TaskManager stays.
    let mut json = serde_json::to_value(&graph).unwrap();
    let text = json.to_string().replace("id >= 0", &format!("{deep} >= 0"));
    json = serde_json::from_str(&text).unwrap();
    let (status, answer) = post_status_json(&format!("{rest}/jobs"), &json);
    assert_eq!(status, 202, "{answer}");
    let id = answer["jobid"].as_str().unwrap().to_string();
    let job =
        wait_for(Duration::from_secs(20), "the job to fail", || get_json(&format!("{rest}/jobs/{id}")).filter(|j| j["state"] == "FAILED"));
    let exceptions = get_json(&format!("{rest}/jobs/{id}/exceptions")).unwrap();
    let cause = exceptions["root-exception"].as_str().unwrap_or_default();
    assert!(cause.contains("levels") || cause.contains("tokens"), "{job} {exceptions}");
    assert!(spec.overview().is_some_and(|o| o["taskmanagers"] == 1), "the TaskManager is still registered");
    let mut jm = jm;
    let mut tm = tm;
    assert!(jm.try_exit().is_none() && tm.try_exit().is_none(), "no process aborted");
}
