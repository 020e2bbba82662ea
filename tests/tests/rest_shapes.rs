//! Rask's REST answers against real Flink 2.3 answers (`../shared/flink-rest-samples/`,
//! copied into `tests/flink-rest-samples/`): every field Flink's answer has, Rask's has,
//! with the same JSON type, at the plain path and under `/v1/`.

use std::time::Duration;

use rask_tests::*;
use serde_json::Value;

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flink-rest-samples").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).expect("JSON")
}

#[test]
fn answers_have_every_field_of_flinks_answers_at_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(20));
    let job = dir.path().join("slow.yaml");
    std::fs::write(
        &job,
        "name: slow\nsources:\n  - name: numbers\n    connector: datagen\n    rows-per-second: 10\n    fields:\n      - {name: n, type: BIGINT, kind: sequence, start: 1}\npipeline:\n  - key_by: n\n  - name: counts\n    aggregate:\n      select: \"n, COUNT(*) AS c\"\nsinks:\n  - name: out\n    connector: blackhole\n",
    )
    .unwrap();
    let checkpoints = format!("state.checkpoints.dir={}", dir.path().join("checkpoints").display());
    let id = submit_detached_with(
        &format!("127.0.0.1:{}", spec.rest_port),
        &job,
        &["-D", "execution.checkpointing.interval=100ms", "-D", &checkpoints],
    );
    let detail = wait_for(Duration::from_secs(20), "the job to run and complete a checkpoint", || {
        let running = get_json(&format!("{}/jobs/{id}", spec.rest_url())).filter(|j| j["state"] == "RUNNING")?;
        get_json(&format!("{}/jobs/{id}/checkpoints", spec.rest_url())).filter(|c| c["counts"]["completed"].as_u64() > Some(0))?;
        Some(running)
    });
    let vertex = detail["vertices"][0]["id"].as_str().unwrap().to_string();
    let checkpoint = get_json(&format!("{}/jobs/{id}/checkpoints", spec.rest_url())).unwrap()["latest"]["completed"]["id"].clone();
    let tm_id = get_json(&format!("{}/taskmanagers", spec.rest_url())).unwrap()["taskmanagers"][0]["id"].as_str().unwrap().to_string();
    let cases = [
        ("/overview".to_string(), "overview.json"),
        ("/jobs/overview".to_string(), "jobs-overview.json"),
        ("/jobs".to_string(), "jobs.json"),
        ("/taskmanagers".to_string(), "taskmanagers.json"),
        (format!("/taskmanagers/{tm_id}"), "taskmanager-detail.json"),
        ("/config".to_string(), "config.json"),
        ("/jobmanager/config".to_string(), "jobmanager-config.json"),
        (format!("/jobs/{id}/exceptions"), "job-exceptions.json"),
        (format!("/jobs/{id}/config"), "job-config.json"),
        (format!("/jobs/{id}"), "job-detail.json"),
        (format!("/jobs/{id}/vertices/{vertex}"), "job-vertex.json"),
        (format!("/jobs/{id}/checkpoints"), "job-checkpoints.json"),
        (format!("/jobs/{id}/checkpoints/config"), "job-checkpoints-config.json"),
    ];
    let mut differences = Vec::new();
    for (path, file) in &cases {
        for prefix in ["", "/v1"] {
            let url = format!("{}{prefix}{path}", spec.rest_url());
            let ours = get_json(&url).unwrap_or_else(|| panic!("GET {url} answered no JSON"));
            differences.extend(shape_differences(&sample(file), &ours, &format!("{prefix}{path}")));
        }
    }
    assert!(differences.is_empty(), "fields Flink has and Rask lacks:\n{}", differences.join("\n"));
    // A checkpoint of the history has Flink's details, with an entry per vertex.
    let details = get_json(&format!("{}/v1/jobs/{id}/checkpoints/details/{checkpoint}", spec.rest_url())).expect("details");
    let latest = &sample("job-checkpoints.json")["latest"]["completed"];
    let differences = shape_differences(latest, &details, "details");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(details["id"], checkpoint);
    assert_eq!(details["tasks"][&vertex]["num_subtasks"], 1);
    let part = get_json(&format!("{}/v1/jobs/{id}/checkpoints/details/{checkpoint}/subtasks/{vertex}", spec.rest_url())).expect("subtasks");
    assert_eq!(part["num_acknowledged_subtasks"], 1);
    assert_eq!(part["subtasks"][0]["status"], "completed");
    assert!(part["summary"]["end_to_end_duration"]["max"].as_i64().is_some());
    // A savepoint, a cancellation and an unknown job answer in Flink's shapes too.
    let http = reqwest::blocking::Client::new();
    let rest = spec.rest_url();
    let target = dir.path().join("savepoints");
    let trigger: Value = http
        .post(format!("{rest}/v1/jobs/{id}/savepoints"))
        .json(&serde_json::json!({ "target-directory": target.display().to_string(), "cancel-job": false }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(shape_differences(&sample("savepoint-trigger.json"), &trigger, "trigger").is_empty(), "{trigger}");
    let request = trigger["request-id"].as_str().unwrap();
    let status = wait_for(Duration::from_secs(20), "the savepoint", || {
        get_json(&format!("{rest}/v1/jobs/{id}/savepoints/{request}")).filter(|s| s["status"]["id"] == "COMPLETED")
    });
    let differences = shape_differences(&sample("savepoint-status.json"), &status, "savepoint status");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let cancel = http.patch(format!("{rest}/v1/jobs/{id}?mode=cancel")).send().unwrap();
    assert_eq!(cancel.status().as_u16(), 202);
    assert!(shape_differences(&sample("job-cancel.json"), &cancel.json().unwrap(), "cancel").is_empty());
    let after = wait_for(Duration::from_secs(20), "the job to be canceled", || {
        get_json(&format!("{rest}/v1/jobs/{id}")).filter(|j| j["state"] == "CANCELED")
    });
    let differences = shape_differences(&sample("job-after-cancel.json"), &after, "after cancel");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let (status, body) = get_status_json(&format!("{rest}/v1/jobs/00000000000000000000000000000000"));
    assert_eq!(status, 404);
    assert!(shape_differences(&sample("job-not-found.json"), &body, "not found").is_empty(), "{body}");
    // An unknown path answers as Flink's does, under /v1 too.
    let (status, body) = get_status_json(&format!("{}/v1/no/such/path", spec.rest_url()));
    assert_eq!(status, 404);
    assert!(shape_differences(&sample("bad-path.json"), &body, "bad path").is_empty(), "{body}");
}
