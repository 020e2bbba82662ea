//! Operations as a Flink operator sees them: the REST endpoints Flink's dashboard and
//! CLI call answer with the job's real figures at both paths, each process serves
//! Prometheus metrics under Flink's names, and the two agree.

use std::time::Duration;

use rask_tests::*;
use serde_json::Value;

const ROWS: u64 = 10_000;

fn job_file(dir: &std::path::Path) -> std::path::PathBuf {
    let job = dir.join("ops.yaml");
    std::fs::write(
        &job,
        format!(
            "name: ops\nparallelism: 2\nsources:\n  - name: events\n    connector: datagen\n    number-of-rows: {ROWS}\n    rows-per-second: 2000\n    fields:\n      - {{name: id, type: BIGINT, kind: sequence, start: 1}}\n      - {{name: k, type: BIGINT, min: 1, max: 20}}\n      - {{name: ts, type: TIMESTAMP, kind: sequence, start: \"2026-11-26 09:00:00\", step: 10ms}}\n    watermark:\n      column: ts\n      max-out-of-orderness: 1 s\npipeline:\n  - key_by: k\n  - name: counts\n    aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {{name: out, connector: print}}\n"
        ),
    )
    .unwrap();
    job
}

/// The sum of a Prometheus metric's values over the lines whose labels contain `with`.
fn prometheus_sum(text: &str, name: &str, with: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(with))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn scrape(port: u16) -> String {
    let (status, text) = get_text(&format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!(status, 200, "{text}");
    text
}

#[test]
fn dashboard_endpoints_and_prometheus_serve_the_jobs_real_figures() {
    let dir = tempfile::tempdir().unwrap();
    // The REST API fetches the TaskManagers' metrics on every query.
    let spec = ClusterSpec::new().with("metrics.fetcher.update-interval", "0");
    let (jm_prom, tm_prom) = (free_port(), free_port());
    let _jm = spec.jobmanager_with("jm", dir.path(), &[("metrics.reporter.prom.port", &jm_prom.to_string())]);
    let _tm =
        spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2"), ("metrics.reporter.prom.port", &tm_prom.to_string())]);
    spec.wait_slots(1, 2, Duration::from_secs(20));
    let rest = spec.rest_url();
    let id = submit_detached(&format!("127.0.0.1:{}", spec.rest_port), &job_file(dir.path()));
    let detail = wait_for(Duration::from_secs(20), "records to reach the keyed vertex", || {
        get_json(&format!("{rest}/jobs/{id}")).filter(|j| j["vertices"][1]["metrics"]["read-records"].as_u64() > Some(0))
    });
    let source = detail["vertices"][0]["id"].as_str().unwrap().to_string();
    let keyed = detail["vertices"][1]["id"].as_str().unwrap().to_string();
    let tm_id = get_json(&format!("{rest}/taskmanagers")).unwrap()["taskmanagers"][0]["id"].as_str().unwrap().to_string();

    // Prometheus and REST read the same counters: REST's figure lies between two scrapes.
    let task = format!("task_id=\"{keyed}\"");
    let before = prometheus_sum(&scrape(tm_prom), "flink_taskmanager_job_task_numRecordsIn", &task).expect("task metric");
    let aggregated = get_json(&format!("{rest}/jobs/{id}/vertices/{keyed}/subtasks/metrics?get=numRecordsIn&agg=sum,max")).unwrap();
    let rest_sum = aggregated[0]["sum"].as_f64().unwrap();
    let after = prometheus_sum(&scrape(tm_prom), "flink_taskmanager_job_task_numRecordsIn", &task).unwrap();
    assert!(before <= rest_sum && rest_sum <= after && rest_sum > 0.0, "{before} <= {rest_sum} <= {after}");
    assert_eq!(aggregated[0]["id"], "numRecordsIn");
    assert!(aggregated[0]["max"].as_f64().unwrap() <= rest_sum);
    let tm_text = scrape(tm_prom);
    for name in [
        "flink_taskmanager_job_task_numRecordsOut",
        "flink_taskmanager_job_task_numBytesIn",
        "flink_taskmanager_job_task_numRecordsInPerSecond",
        "flink_taskmanager_job_task_busyTimeMsPerSecond",
        "flink_taskmanager_job_task_backPressuredTimeMsPerSecond",
        "flink_taskmanager_job_task_idleTimeMsPerSecond",
        "flink_taskmanager_job_task_currentInputWatermark",
        "flink_taskmanager_job_task_operator_numRecordsOut",
        "flink_taskmanager_Status_Process_Memory_RSS",
        "flink_taskmanager_taskSlotsTotal",
    ] {
        assert!(tm_text.contains(&format!("{name}{{")), "{name} missing from the TaskManager's metrics");
    }
    assert!(
        tm_text.contains(&format!("job_id=\"{id}\"")) && tm_text.contains("job_name=\"ops\"") && tm_text.contains("subtask_index=\"1\"")
    );
    let jm_text = scrape(jm_prom);
    assert_eq!(prometheus_sum(&jm_text, "flink_jobmanager_numRegisteredTaskManagers", "host"), Some(1.0), "{jm_text}");
    assert_eq!(prometheus_sum(&jm_text, "flink_jobmanager_job_numRestarts", &format!("job_id=\"{id}\"")), Some(0.0));
    assert!(prometheus_sum(&jm_text, "flink_jobmanager_job_uptime", &format!("job_id=\"{id}\"")).unwrap() > 0.0);

    // Every endpoint the dashboard and CLI call answers, at both paths, with this job's data.
    for prefix in ["", "/v1"] {
        let get = |path: &str| -> Value {
            let url = format!("{rest}{prefix}{path}");
            get_json(&url).unwrap_or_else(|| panic!("GET {url} failed: {:?}", get_status_json(&url)))
        };
        let vertex = get(&format!("/jobs/{id}/vertices/{keyed}"));
        assert_eq!(vertex["subtasks"].as_array().unwrap().len(), 2);
        assert_eq!(vertex["subtasks"][0]["taskmanager-id"], tm_id.as_str());
        assert_eq!(vertex["subtasks"][0]["status"], "RUNNING");
        assert!(vertex["aggregated"]["metrics"]["read-records"]["sum"].as_u64().unwrap() > 0);
        let watermarks = get(&format!("/jobs/{id}/vertices/{keyed}/watermarks"));
        assert_eq!(watermarks.as_array().unwrap().len(), 2);
        assert_eq!(watermarks[0]["id"], "0.currentInputWatermark");
        // Event time starts at 2026-11-26 09:00 (ms 1795683600000) and only advances.
        let wm: i64 = watermarks[0]["value"].as_str().unwrap().parse().unwrap();
        assert!(wm >= 1_795_683_600_000 - 1_000, "{watermarks}");
        let pressure = get(&format!("/jobs/{id}/vertices/{keyed}/backpressure"));
        assert_eq!(pressure["status"], "ok");
        assert_eq!(pressure["subtasks"].as_array().unwrap().len(), 2);
        assert!(pressure["subtasks"][0]["idleRatio"].as_f64().unwrap() <= 1.0);
        let ids = get(&format!("/jobs/{id}/vertices/{keyed}/metrics"));
        assert!(ids.as_array().unwrap().iter().any(|m| m["id"] == "1.numRecordsIn"), "{ids}");
        let one = get(&format!("/jobs/{id}/vertices/{source}/subtasks/0/metrics?get=numRecordsOut,no.such.metric"));
        assert_eq!(one.as_array().unwrap().len(), 1, "unknown ids are left out: {one}");
        assert!(one[0]["value"].as_str().unwrap().parse::<u64>().unwrap() > 0);
        let tms = get(&format!("/jobs/{id}/vertices/{keyed}/taskmanagers"));
        assert_eq!(tms["taskmanagers"][0]["taskmanager-id"], tm_id.as_str());
        assert_eq!(get(&format!("/jobs/{id}/vertices/{keyed}/accumulators"))["user-accumulators"], serde_json::json!([]));
        assert!(get(&format!("/jobs/{id}/accumulators"))["job-accumulators"].is_array());
        assert_eq!(get(&format!("/jobs/{id}/plan"))["plan"]["nodes"].as_array().unwrap().len(), 2);
        assert_eq!(get(&format!("/jobs/{id}/config"))["jid"], id.as_str());
        assert_eq!(get(&format!("/jobs/{id}/metrics?get=numRestarts"))[0]["value"], "0");
        let tm_metrics = get(&format!("/taskmanagers/{tm_id}/metrics?get=taskSlotsTotal,Status.Process.Memory.RSS"));
        assert_eq!(tm_metrics[0]["value"], "2");
        assert!(tm_metrics[1]["value"].as_str().unwrap().parse::<u64>().unwrap() > 1 << 20);
        let jm_metrics = get("/jobmanager/metrics?get=numRegisteredTaskManagers,taskSlotsAvailable");
        assert_eq!(jm_metrics[0]["value"], "1");
        assert_eq!(jm_metrics[1]["value"], "0");
        let apps = get("/applications/overview");
        assert_eq!(apps["applications"][0]["id"], id.as_str());
        assert_eq!(apps["applications"][0]["jobs"]["RUNNING"], 1);
        assert_eq!(get(&format!("/applications/{id}"))["jobs"][0]["jid"], id.as_str());
        assert!(get("/jobmanager/environment")["jvm"]["version"].as_str().unwrap().contains("Rask"));
        let accumulators = get(&format!("/jobs/{id}/vertices/{keyed}/subtasks/accumulators"));
        assert_eq!(accumulators["subtasks"].as_array().unwrap().len(), 2);
        let times = get(&format!("/jobs/{id}/vertices/{keyed}/subtasktimes"));
        assert!(times["subtasks"][0]["timestamps"]["RUNNING"].as_i64().unwrap() > 1_700_000_000_000, "{times}");
        assert_eq!(get(&format!("/jobs/{id}/vertices/{keyed}/flamegraph"))["endTimestamp"], -2);
        // A running job's figures are complete (Flink's dashboard shows only those).
        let running = get(&format!("/jobs/{id}"));
        assert_eq!(running["vertices"][1]["metrics"]["read-records-complete"], true, "{running}");
        // Without periodic checkpoints, Flink's answer: an interval of Long.MAX_VALUE.
        assert_eq!(get(&format!("/jobs/{id}/checkpoints/config"))["interval"], i64::MAX);
        assert!(get(&format!("/applications/{id}/exceptions"))["exceptionHistory"]["entries"].is_array());
        let tm = get(&format!("/taskmanagers/{tm_id}"));
        assert_eq!(tm["assignedTasks"], 4, "two vertices at parallelism 2 run there");
        // The time of the last heartbeat (epoch ms), as Flink answers despite the name.
        assert!(tm["timeSinceLastHeartbeat"].as_i64().unwrap() > 1_700_000_000_000);
        let jvm = get("/jobmanager/metrics?get=Status.JVM.Memory.Heap.Used");
        assert_eq!(jvm[0]["value"], "0", "no JVM: 0, as Flink reports an unused component");
        for dump in [get("/jobmanager/thread-dump"), get(&format!("/taskmanagers/{tm_id}/thread-dump"))] {
            let threads = dump["threadInfos"].as_array().unwrap();
            assert!(threads.iter().any(|t| t["threadName"].as_str().is_some_and(|n| n.contains("tokio"))), "{dump}");
        }
        let logs = get(&format!("/taskmanagers/{tm_id}/logs"));
        assert_eq!(logs["logs"][0]["name"], "taskmanager.log");
        assert!(get("/jobmanager/logs")["logs"][0]["size"].as_u64().unwrap() > 0);
        let text = |path: &str| {
            let (status, body) = get_text(&format!("{rest}{prefix}{path}"));
            assert_eq!(status, 200, "{path}: {body}");
            body
        };
        assert!(text(&format!("/taskmanagers/{tm_id}/log")).contains("registered at the JobManager"));
        assert!(text(&format!("/taskmanagers/{tm_id}/logs/taskmanager.log")).contains("slot allocated"));
        // The print sink's rows are the TaskManager's stdout.
        assert!(text(&format!("/taskmanagers/{tm_id}/stdout")).contains("| k "), "stdout has the printed table");
        assert!(text("/jobmanager/log").contains("JobManager started"));
        text("/jobmanager/stdout");
        assert_eq!(get_status_json(&format!("{rest}{prefix}/jobmanager/logs/..%2Fetc%2Fpasswd")).0, 404);
    }

    // The final figures are exact: every generated row went through both vertices.
    let done = wait_for(Duration::from_secs(60), "the job to finish", || {
        get_json(&format!("{rest}/jobs/{id}")).filter(|j| j["state"] == "FINISHED")
    });
    assert_eq!(done["vertices"][0]["metrics"]["write-records"], ROWS, "{done}");
    assert_eq!(done["vertices"][1]["metrics"]["read-records"], ROWS, "{done}");
    assert_eq!(done["vertices"][1]["metrics"]["read-records-complete"], true);
    assert!(done["vertices"][1]["metrics"]["read-bytes"].as_u64().unwrap() >= ROWS * 8);
    // Ended tasks are no longer reported by their TaskManager.
    let tm_text = scrape(tm_prom);
    assert!(prometheus_sum(&tm_text, "flink_taskmanager_job_task_numRecordsIn", &format!("job_id=\"{id}\"")).is_none());
}
