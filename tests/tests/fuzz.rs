//! Fuzzing with proptest: generated hostile job files through the planner, and
//! generated REST bodies and gRPC messages into a running JobManager and TaskManager.
//! No process may abort; every answer is a clear error (or a success). The seed
//! corpus is `tests/fuzz/corpus/`: valid job files that the generators mutate.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rask_common::job::planner::{plan_job_text, PlanOptions};
use rask_tests::*;

fn corpus() -> &'static Vec<(PathBuf, String)> {
    static CORPUS: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        files.sort();
        assert!(files.len() >= 5, "the seed corpus is in {}", dir.display());
        files
    })
}

/// Values a careless or hostile author might write anywhere.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("4000000000".to_string()),
        Just("4294967296".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e309".to_string()),
        Just(".nan".to_string()),
        Just("\"\"".to_string()),
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
        Just("\"💥\\u0000\u{202e}\"".to_string()),
        Just(format!("\"{}\"", "x".repeat(70_000))),
        Just(format!("\"{}id{}\"", "(".repeat(3_000), ")".repeat(3_000))),
        Just(format!("\"{} id\"", "id +".repeat(3_000))),
        Just(format!("\"id IN ({})\"", vec!["1"; 2_000].join(","))),
        Just(format!("{}{}", "[".repeat(2_000), "]".repeat(2_000))),
        Just("&a [*a, *a]".to_string()),
        Just("!!binary AAAA".to_string()),
        Just("\"1000000000 d\"".to_string()),
        Just("\"1 ms\"".to_string()),
        "[a-zA-Z0-9 _.,:*()'\"-]{0,40}",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "\\PC{0,20}",
    ]
}

/// One mutation of a seed file's lines.
#[derive(Debug, Clone)]
enum Mutation {
    /// The value after the first `: ` on a line.
    ReplaceValue(usize, String),
    /// A line repeated many times (huge lists, keys set twice).
    Repeat(usize, usize),
    DeleteLine(usize),
    /// The file cut short at a byte.
    Truncate(usize),
    /// A line's indentation changed.
    Indent(usize, usize),
    /// Garbage inserted into a line.
    Insert(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), hostile_value()).prop_map(|(l, v)| Mutation::ReplaceValue(l, v)),
        1 => (any::<usize>(), 2usize..3_000).prop_map(|(l, n)| Mutation::Repeat(l, n)),
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 0usize..12).prop_map(|(l, n)| Mutation::Indent(l, n)),
        1 => (any::<usize>(), "\\PC{1,12}").prop_map(|(l, s)| Mutation::Insert(l, s)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::ReplaceValue(l, v) => {
                let line = &mut lines[l % n];
                if let Some(at) = line.find(": ") {
                    line.truncate(at + 2);
                    line.push_str(v);
                }
            }
            Mutation::Repeat(l, times) => {
                let line = lines[l % n].clone();
                for _ in 0..*times {
                    lines.insert(l % n, line.clone());
                }
            }
            Mutation::DeleteLine(l) => {
                lines.remove(l % n);
            }
            Mutation::Truncate(at) => {
                let joined = lines.join("\n");
                let mut cut = at % (joined.len() + 1);
                while !joined.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines = joined[..cut].lines().map(str::to_string).collect();
            }
            Mutation::Indent(l, spaces) => {
                let line = &mut lines[l % n];
                *line = format!("{}{}", " ".repeat(*spaces), line.trim_start());
            }
            Mutation::Insert(l, s) => {
                let line = &mut lines[l % n];
                let mut at = line.len() / 2;
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.insert_str(at, s);
            }
        }
    }
    lines.join("\n")
}

/// At least 10,000 mutated job files through the planner, on a 2 MiB stack (a
/// TaskManager's worker thread): each plans, or fails with a message naming the file.
#[test]
fn ten_thousand_mutated_job_files_plan_or_fail_clearly() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut runner = TestRunner::new(Config { cases: 10_000, failure_persistence: None, ..Config::default() });
            let seeds = corpus().len();
            let strategy = (0..seeds, proptest::collection::vec(mutation(), 1..4));
            let planned = std::cell::Cell::new(0u32);
            let result = runner.run(&strategy, |(seed, mutations)| {
                let (path, text) = &corpus()[seed];
                let mutated = apply(text, &mutations);
                match plan_job_text(&mutated, path, &PlanOptions::default()) {
                    Ok(graph) => {
                        planned.set(planned.get() + 1);
                        prop_assert!(rask_common::job::validate_job_graph(&graph).is_ok());
                    }
                    Err(e) => {
                        let message = e.to_string();
                        let name = path.file_name().unwrap().to_string_lossy().to_string();
                        prop_assert!(message.contains(&name), "the error names the file: {}", message);
                        prop_assert!(message.len() < 4_000, "a clear, bounded message: {} bytes", message.len());
                    }
                }
                Ok(())
            });
            (result.map_err(|e| e.to_string()), planned.get())
        })
        .unwrap();
    let (result, planned) = worker.join().expect("the planner never overflows its stack or panics");
    result.map_err(|e| e.chars().take(2_000).collect::<String>()).unwrap();
    assert!(planned > 100, "some mutations stay valid ({planned} planned)");
}

#[test]
fn the_seed_corpus_plans() {
    for (path, text) in corpus() {
        plan_job_text(text, path, &PlanOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 10].join(", ")));
    }
    text.push_str("name: bomb\nsources: *a11\n");
    let started = std::time::Instant::now();
    let err = plan_job_text(&text, Path::new("bomb.yaml"), &PlanOptions::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "refused quickly");
    assert!(err.to_string().contains("bomb.yaml"), "{err}");
}

/// A JSON value that a careless or hostile client might send where another is due.
fn hostile_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        Just(json!(4_000_000_000u64)),
        Just(json!(-1)),
        Just(json!(1e300)),
        "\\PC{0,30}".prop_map(Value::String),
        Just(json!("x".repeat(100_000))),
        Just(json!(format!("{} id", "id + ".repeat(4_000)))),
        Just(json!("../../../../etc/passwd")),
        Just(json!("/")),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-zA-Z-]{1,12}", inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the `n`-th leaf (in a walk) of `value` with `with`.
fn replace_leaf(value: &mut serde_json::Value, n: &mut usize, with: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Array(items) => items.iter_mut().any(|v| replace_leaf(v, n, with)),
        serde_json::Value::Object(map) => map.values_mut().any(|v| replace_leaf(v, n, with)),
        leaf => {
            if *n == 0 {
                *leaf = with.clone();
                return true;
            }
            *n -= 1;
            false
        }
    }
}

/// A path segment made safe for a URL (every byte outside [A-Za-z0-9-_] escaped).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn planned_graphs() -> Vec<serde_json::Value> {
    corpus()
        .iter()
        .filter_map(|(path, text)| plan_job_text(text, path, &PlanOptions::default()).ok())
        .map(|g| serde_json::to_value(g).unwrap())
        .collect()
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(serde_json::Value),
    /// A planned JobGraph with one leaf replaced.
    Graph(usize, usize, serde_json::Value),
    Raw(Vec<u8>),
}

const PATHS: &[&str] = &[
    "/overview",
    "/config",
    "/taskmanagers",
    "/taskmanagers/{id}",
    "/jobmanager/config",
    "/jobmanager/metrics?get={id}",
    "/jobs",
    "/jobs/overview",
    "/jobs/{id}",
    "/jobs/{id}/exceptions",
    "/jobs/{id}/checkpoints",
    "/jobs/{id}/savepoints",
    "/jobs/{id}/savepoints/{id}",
    "/jobs/{id}/stop",
    "/jobs/{id}/output?from={id}",
    "/savepoint-disposal",
    "/savepoint-disposal/{id}",
    "/applications/{id}",
    "/taskmanagers/{id}/metrics?get={id}",
    "/taskmanagers/{id}/logs/{id}",
    "/jobs/{id}/metrics?get={id}",
    "/jobs/{id}/checkpoints/details/{id}",
    "/jobs/{id}/vertices/{id}",
    "/jobs/{id}/vertices/{id}/subtasks/metrics?get={id}&agg={id}",
    "/jobs/{id}/vertices/{id}/subtasks/{id}/metrics?get={id}",
    "/jobs/{id}/vertices/{id}/backpressure",
    "/jobmanager/logs/{id}",
    "/{id}",
    "/jobs/{id}/{id}/{id}",
];

#[test]
fn ten_thousand_hostile_rest_requests_and_grpc_messages_abort_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("slot.request.timeout", "200").with("jobstore.expiration-time", "1 s");
    let mut jm = spec.jobmanager("jm", dir.path());
    let mut tm = spec.taskmanager("tm", dir.path(), &[]);
    spec.wait_slots(1, 1, Duration::from_secs(30));
    let rest = spec.rest_url();
    let graphs = planned_graphs();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    // REST: every answer is a JSON error or a success, never a 5xx or a dropped connection.
    let methods = ["GET", "POST", "PATCH", "PUT", "DELETE"];
    let id = prop_oneof![
        Just("0123456789abcdef0123456789abcdef".to_string()),
        "[0-9a-f]{32}",
        "\\PC{0,40}",
        any::<u64>().prop_map(|n| n.to_string()),
        Just("x".repeat(5_000)),
    ];
    let body = prop_oneof![
        1 => Just(Body::None),
        2 => hostile_json().prop_map(Body::Json),
        4 => (any::<usize>(), any::<usize>(), hostile_json()).prop_map(|(g, l, v)| Body::Graph(g, l, v)),
        1 => proptest::collection::vec(any::<u8>(), 0..2_000).prop_map(Body::Raw),
    ];
    let strategy = (0..methods.len(), 0..PATHS.len(), id, body);
    let closed = std::cell::Cell::new(0u32);
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(Config { cases: 10_000, failure_persistence: None, ..Config::default() });
    runner
        .run(&strategy, |(method, path, id, body)| {
            let path = PATHS[path].replace("{id}", &segment(&id));
            let url = format!("{rest}{path}");
            let mut request = http.request(reqwest::Method::from_bytes(methods[method].as_bytes()).unwrap(), &url);
            request = match body {
                Body::None => request,
                Body::Json(v) => request.json(&v),
                Body::Graph(g, leaf, v) => {
                    let mut graph = graphs[g % graphs.len()].clone();
                    let mut n = leaf % 200;
                    replace_leaf(&mut graph, &mut n, &v);
                    request.json(&graph)
                }
                Body::Raw(bytes) => request.header("content-type", "application/json").body(bytes),
            };
            let response = match request.send() {
                Ok(r) => r,
                Err(e) => {
                    // A request refused before its body was read may see its
                    // connection closed; that is fine only while the server lives.
                    closed.set(closed.get() + 1);
                    let alive = reqwest::blocking::get(format!("{rest}/overview")).is_ok_and(|r| r.status().is_success());
                    prop_assert!(alive, "{url}: no answer and the JobManager is gone: {e}");
                    return Ok(());
                }
            };
            let status = response.status().as_u16();
            let text = response.text().unwrap_or_default();
            prop_assert!(status < 500 || status == 503, "{} {url} answered {status}: {text}", methods[method]);
            if status >= 400 {
                let json: serde_json::Value =
                    serde_json::from_str(&text).map_err(|_| TestCaseError::fail(format!("{url}: {status} without a JSON body: {text}")))?;
                prop_assert!(json["errors"][0].is_string(), "{url}: {status} {text}");
            }
            // Jobs that a mutated graph started are cancelled at once.
            if status == 202 && path == "/jobs" {
                if let Some(job) =
                    serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|j| j["jobid"].as_str().map(str::to_string))
                {
                    let _ = http.patch(format!("{rest}/jobs/{job}?mode=cancel")).send();
                }
            }
            Ok(())
        })
        .map_err(|e| e.to_string().chars().take(2_000).collect::<String>())
        .unwrap();
    assert!(closed.get() < 200, "{} of 10,000 requests got no answer", closed.get());
    eprintln!("10,000 REST requests in {:?} ({} connections closed early)", started.elapsed(), closed.get());
    let started = std::time::Instant::now();
    assert!(jm.try_exit().is_none() && tm.try_exit().is_none(), "no process aborted during the REST fuzzing");

    grpc_fuzz(&spec);
    eprintln!("10,000 gRPC messages in {:?}", started.elapsed());
    assert!(jm.try_exit().is_none(), "the JobManager survived:\n{}", jm.log());
    assert!(tm.try_exit().is_none(), "the TaskManager survived:\n{}", tm.log());
    let overview = spec.overview().expect("the JobManager still answers");
    assert!(overview["taskmanagers"].as_u64() >= Some(1), "{overview}");
}

/// 10,000 generated gRPC messages to every service of the JobManager and the TaskManager.
fn grpc_fuzz(spec: &ClusterSpec) {
    use rask_common::proto::job_master_gateway_client::JobMasterGatewayClient;
    use rask_common::proto::resource_manager_client::ResourceManagerClient;
    use rask_common::proto::task_executor_client::TaskExecutorClient;
    use rask_common::proto::*;

    let tms = get_json(&format!("{}/taskmanagers", spec.rest_url())).unwrap();
    let tm_rpc = tms["taskmanagers"][0]["path"].as_str().unwrap().trim_start_matches("grpc://").to_string();
    let jm_rpc = format!("127.0.0.1:{}", spec.rpc_port);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (jm_ch, tm_ch) = rt.block_on(async {
        let connect = |a: String| async move {
            tonic::transport::Endpoint::from_shared(format!("http://{a}")).unwrap().timeout(Duration::from_secs(5)).connect().await.unwrap()
        };
        (connect(jm_rpc).await, connect(tm_rpc).await)
    });
    let graphs: Vec<Vec<u8>> = planned_graphs().iter().map(|g| serde_json::to_vec(g).unwrap()).collect();
    let text = || prop_oneof!["\\PC{0,64}", "[0-9a-f]{32}", Just(String::new())];
    let strategy = (
        0u8..15,
        (text(), text(), text(), text()),
        (any::<u32>(), any::<u64>(), any::<i64>(), any::<bool>()),
        (0..graphs.len(), proptest::collection::vec(any::<u8>(), 0..512), any::<bool>()),
        proptest::collection::vec(text(), 0..4),
    );
    let mut runner = TestRunner::new(Config { cases: 10_000, failure_persistence: None, ..Config::default() });
    runner
        .run(&strategy, |(rpc, (a, b, c, d), (n32, n64, i64v, flag), (g, raw, use_graph), list)| {
            rt.block_on(async {
                let mut gateway = JobMasterGatewayClient::new(jm_ch.clone());
                let mut executor = TaskExecutorClient::new(tm_ch.clone());
                let answer: Result<(), tonic::Status> = match rpc {
                    0 => gateway
                        .update_task_execution_state(TaskExecutionState {
                            job_id: a,
                            vertex_id: b,
                            subtask_index: n32,
                            attempt: n32,
                            state: i64v as i32,
                            error: d.clone(),
                            resource_id: d,
                            execution_attempt_id: list.first().cloned().unwrap_or_default(),
                            io_metrics: Some(rask_common::proto::TaskIoMetrics {
                                records_in: u64::MAX,
                                bytes_out: i64v as u64,
                                ..Default::default()
                            }),
                        })
                        .await
                        .map(drop),
                    1 => gateway
                        .publish_output(TaskOutput {
                            job_id: a,
                            lines: list,
                            vertex_id: b,
                            subtask_index: n32,
                            execution_attempt_id: c,
                            rows: n64,
                        })
                        .await
                        .map(drop),
                    2 => gateway
                        .acknowledge_checkpoint(CheckpointAck {
                            job_id: a,
                            vertex_id: b,
                            subtask_index: n32,
                            checkpoint_id: n64,
                            state_path: c,
                            state_size: n64,
                            operator_uids: list,
                            execution_attempt_id: d,
                        })
                        .await
                        .map(drop),
                    3 => gateway
                        .decline_checkpoint(CheckpointDecline {
                            job_id: a,
                            vertex_id: b,
                            subtask_index: n32,
                            checkpoint_id: n64,
                            reason: c,
                            execution_attempt_id: d,
                        })
                        .await
                        .map(drop),
                    4 => {
                        let register = TaskExecutorMessage {
                            kind: Some(task_executor_message::Kind::Register(RegisterTaskExecutor {
                                resource_id: a,
                                instance_id: b,
                                cluster_id: if flag { "default".into() } else { c },
                                rpc_address: d,
                                data_port: n32,
                                hardware: None,
                                process_memory_bytes: n64,
                                slot_report: None,
                            })),
                        };
                        let mut rm = ResourceManagerClient::new(jm_ch.clone());
                        match rm.session(tokio_stream::iter(vec![register])).await {
                            Ok(mut s) => {
                                tokio::time::timeout(Duration::from_millis(20), s.get_mut().message()).await.unwrap_or(Ok(None)).map(drop)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    5 => executor
                        .request_slot(RequestSlotRequest { leader_token: a, slot_index: n32, allocation_id: b, job_id: c })
                        .await
                        .map(drop),
                    6 => executor.free_slot(FreeSlotRequest { leader_token: a, allocation_id: b }).await.map(drop),
                    7 => executor
                        .submit_task(TaskDeploymentDescriptor {
                            leader_token: a,
                            job_id: b,
                            vertex_id: c,
                            subtask_index: n32,
                            attempt: n32,
                            allocation_id: d,
                            job_graph_json: if use_graph { graphs[g].clone().into() } else { raw.into() },
                            jobmaster_address: "127.0.0.1:1".into(),
                            inputs: vec![],
                            memory_budget_bytes: n64,
                            buffer_timeout_ms: n64,
                            checkpoint_dir: list.first().cloned().unwrap_or_default(),
                            restore_state_path: list.get(1).cloned().unwrap_or_default(),
                            exactly_once: flag,
                            allow_non_restored_state: flag,
                            rescale_state_paths: list,
                            execution_attempt_id: String::new(),
                        })
                        .await
                        .map(drop),
                    8 => executor.cancel_job_tasks(CancelJobTasksRequest { leader_token: a, job_id: b }).await.map(drop),
                    9 => match tokio::time::timeout(
                        Duration::from_millis(20),
                        executor.read_partition(PartitionRequest {
                            job_id: a,
                            producer_vertex_id: b,
                            producer_subtask: n32,
                            consumer_subtask: n32,
                            attempt: n32,
                        }),
                    )
                    .await
                    {
                        Ok(r) => r.map(drop),
                        Err(_) => Ok(()),
                    },
                    10 => executor
                        .trigger_checkpoint(TriggerCheckpointRequest {
                            leader_token: a,
                            job_id: b,
                            checkpoint_id: n64,
                            timestamp: i64v,
                            stop: flag,
                            drain: flag,
                        })
                        .await
                        .map(drop),
                    11 => executor
                        .notify_checkpoint_complete(NotifyCheckpointCompleteRequest { leader_token: a, job_id: b, checkpoint_id: n64 })
                        .await
                        .map(drop),
                    12 => executor.request_metrics(rask_common::proto::MetricsRequest { leader_token: a }).await.map(drop),
                    13 => executor
                        .request_log(rask_common::proto::LogRequest { leader_token: a, kind: n32 as i32, max_bytes: n64 })
                        .await
                        .map(drop),
                    _ => {
                        let bye = TaskExecutorMessage {
                            kind: Some(task_executor_message::Kind::Disconnect(DisconnectTaskExecutor { reason: a })),
                        };
                        let mut rm = ResourceManagerClient::new(jm_ch.clone());
                        rm.session(tokio_stream::iter(vec![bye])).await.map(drop)
                    }
                };
                if let Err(status) = answer {
                    // A clear refusal, not a broken connection (which would mean a crash).
                    prop_assert!(status.code() != tonic::Code::Unknown || !status.message().is_empty(), "{status:?}");
                    prop_assert!(!status.message().contains("panicked"), "{status:?}");
                    prop_assert!(
                        !matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Internal),
                        "rpc {rpc} answered {status:?}"
                    );
                }
                Ok(())
            })
        })
        .map_err(|e| e.to_string().chars().take(2_000).collect::<String>())
        .unwrap();
}

/// One mutation of a SQL script's text, at a byte (moved to a char boundary).
#[derive(Debug, Clone)]
enum SqlMutation {
    Insert(usize, String),
    Delete(usize, usize),
    /// A stretch repeated many times.
    Repeat(usize, usize, usize),
    Truncate(usize),
}

fn sql_mutation() -> impl Strategy<Value = SqlMutation> {
    let hostile = prop_oneof![
        Just("'".to_string()),
        Just(";".to_string()),
        Just("(".repeat(5_000)),
        Just("ROW<".repeat(100)),
        Just(" JOIN t ON ".to_string()),
        Just(" GROUP BY ".to_string()),
        Just("TABLE(TUMBLE(TABLE t, DESCRIPTOR(x), INTERVAL '0' SECOND))".to_string()),
        Just("INTERVAL '99999999999999999' DAY".to_string()),
        Just("`\u{202e}💥`".to_string()),
        Just("END;".to_string()),
        Just("EXECUTE STATEMENT SET BEGIN".to_string()),
        Just(" AS ".to_string()),
        Just(" - INTERVAL '1' SECOND".to_string()),
        "[a-zA-Z0-9 _.,;:*()'`<>=-]{0,30}",
        "\\PC{0,10}",
    ];
    prop_oneof![
        (any::<usize>(), hostile).prop_map(|(at, s)| SqlMutation::Insert(at, s)),
        (any::<usize>(), 1usize..200).prop_map(|(at, n)| SqlMutation::Delete(at, n)),
        (any::<usize>(), 1usize..50, 2usize..300).prop_map(|(at, n, times)| SqlMutation::Repeat(at, n, times)),
        any::<usize>().prop_map(SqlMutation::Truncate),
    ]
}

fn apply_sql(text: &str, mutations: &[SqlMutation]) -> String {
    let mut s = text.to_string();
    let boundary = |s: &str, at: usize| {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    for m in mutations {
        match m {
            SqlMutation::Insert(at, v) => {
                let at = boundary(&s, *at);
                s.insert_str(at, v);
            }
            SqlMutation::Delete(at, n) => {
                let a = boundary(&s, *at);
                let b = boundary(&s, a + n);
                s.replace_range(a..b.max(a), "");
            }
            SqlMutation::Repeat(at, n, times) => {
                let a = boundary(&s, *at);
                let b = boundary(&s, a + n).max(a);
                let piece = s[a..b].repeat(*times);
                s.insert_str(b, &piece);
            }
            SqlMutation::Truncate(at) => {
                let at = boundary(&s, *at);
                s.truncate(at);
            }
        }
    }
    s
}

#[test]
fn three_thousand_mutated_sql_scripts_plan_or_fail_clearly() {
    use rask_common::job::planner::sql::plan_sql_text;
    let seeds: Vec<String> = vec![
        std::fs::read_to_string(examples_dir().join("sql/revenue-per-product.sql")).unwrap(),
        rask_tests::nexmark::script("q3", rask_tests::nexmark::Generation { events: 1000, tps: 1000, base_time: 0 }, None),
        rask_tests::nexmark::script("q8", rask_tests::nexmark::Generation { events: 1000, tps: 1000, base_time: 0 }, None),
    ];
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let path = Path::new("/tmp/fuzz.sql");
            let mut runner = TestRunner::new(Config { cases: 3_000, failure_persistence: None, ..Config::default() });
            let strategy = (0..seeds.len(), proptest::collection::vec(sql_mutation(), 1..4));
            let planned = std::cell::Cell::new(0u32);
            let result = runner.run(&strategy, |(seed, mutations)| {
                let mutated = apply_sql(&seeds[seed], &mutations);
                match plan_sql_text(&mutated, path, &PlanOptions::default()) {
                    Ok(script) => {
                        planned.set(planned.get() + 1);
                        for job in &script.jobs {
                            prop_assert!(rask_common::job::validate_job_graph(&job.graph).is_ok());
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        prop_assert!(message.contains("fuzz.sql"), "the error names the file: {}", message);
                        prop_assert!(message.len() < 4_000, "a clear, bounded message: {} bytes", message.len());
                    }
                }
                Ok(())
            });
            (result.map_err(|e| e.to_string()), planned.get())
        })
        .unwrap();
    let (result, planned) = worker.join().expect("the SQL planner never overflows its stack or panics");
    result.map_err(|e| e.chars().take(2_000).collect::<String>()).unwrap();
    assert!(planned > 50, "some mutations stay valid ({planned} planned)");
}
