//! Recovery and checkpoint benchmarks (not a test): time from kill -9 of a TaskManager
//! to the job RUNNING again (a spare TaskManager, connection-drop detection), median
//! of 10; checkpoint duration and size for 1 million keys of keyed state; throughput
//! of the keyed-aggregate job with checkpoints every second, as a ratio to no
//! checkpoints.
//!
//!   cargo run --release -p rask-tests --bin rask-bench-recovery [-- --runs 10]

use std::time::{Duration, Instant};

use rask_tests::*;

fn submit(m: &str, job: &std::path::Path) -> String {
    let out = rask(&["run", "-d", "-m", m, job.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    text.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("job id").trim().to_string()
}

fn main() {
    let runs = runs_arg("rask-bench-recovery", 10);
    bin_dir();
    let dir = tempfile::tempdir().unwrap();
    println!("rask recovery benchmark ({} build)", if bin_dir().ends_with("release") { "release" } else { "debug" });

    // 1. kill -9 to RUNNING again, with a spare TaskManager.
    let chk = dir.path().join("chk");
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "500")
        .with("state.checkpoints.dir", &chk.display().to_string())
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.attempts", "1000")
        .with("restart-strategy.fixed-delay.delay", "0");
    let _jm = spec.jobmanager("jm", dir.path());
    let mut tms: Vec<Daemon> = Vec::new();
    for i in 0..2 {
        tms.push(spec.taskmanager(&format!("tm{i}"), dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]));
    }
    spec.wait_slots(2, 2, Duration::from_secs(30));
    let job = dir.path().join("endless.yaml");
    std::fs::write(
        &job,
        "name: endless\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 100000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\n      - {name: k, type: BIGINT, min: 0, max: 9999}\npipeline:\n  - key_by: k\n  \
         - aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let id = submit(&m, &job);
    let url = format!("{}/jobs/{id}", spec.rest_url());
    let running =
        |min_tasks: u64| get_json(&url).filter(|j| j["state"] == "RUNNING" && j["status-counts"]["RUNNING"].as_u64() == Some(min_tasks));
    let mut took = Vec::new();
    for next in 2..2 + runs {
        wait_for(Duration::from_secs(30), "running", || running(2));
        let j = get_json(&url).unwrap();
        let victim = j["vertices"][0]["subtasks"][0]["taskmanager-id"].as_str().unwrap().to_string();
        let port = victim.rsplit_once('-').unwrap().0.rsplit_once(':').unwrap().1.to_string();
        // A spare for the next round.
        tms.push(spec.taskmanager(&format!("tm{next}"), dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]));
        wait_for(Duration::from_secs(10), "spare registered", || spec.overview().filter(|o| o["slots-available"].as_u64() >= Some(1)));
        let needle = format!("TaskExecutor at 127.0.0.1:{port}");
        let victim_proc = tms.iter_mut().filter(|d| d.log().contains(&needle)).find_map(|d| d.try_exit().is_none().then_some(d));
        let Some(victim_proc) = victim_proc else { continue };
        let restarted_before = get_json(&url).and_then(|j| j["timestamps"]["RESTARTING"].as_i64()).unwrap_or(0);
        let t0 = Instant::now();
        victim_proc.kill9();
        // A new RESTARTING, then RUNNING with every task running again.
        wait_for(Duration::from_secs(30), "running again", || {
            get_json(&url).filter(|j| {
                let restarting = j["timestamps"]["RESTARTING"].as_i64().unwrap_or(0);
                restarting > restarted_before
                    && j["state"] == "RUNNING"
                    && j["status-counts"]["RUNNING"] == 2
                    && j["timestamps"]["RUNNING"].as_i64() > Some(restarting)
            })
        });
        took.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    rask(&["cancel", "-m", &m, &id], &[]);
    if !took.is_empty() {
        println!(
            "kill -9 of a TaskManager to the job RUNNING again (spare TaskManager): median {:.1} ms (min {:.1}, max {:.1}, {} runs)",
            median(took.clone()),
            took.iter().cloned().fold(f64::MAX, f64::min),
            took.iter().cloned().fold(0.0, f64::max),
            took.len()
        );
    }

    // 2. A checkpoint of 1 million keys.
    let spec2 = ClusterSpec::new()
        .with("execution.checkpointing.interval", "2000")
        .with("state.checkpoints.dir", &dir.path().join("chk2").display().to_string())
        .with("taskmanager.memory.process.size", "2g")
        .with("log.level", "warn");
    let _jm2 = spec2.jobmanager("jm2", dir.path());
    let _tm2 = spec2.taskmanager("tm-big", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    spec2.wait_slots(1, 1, Duration::from_secs(30));
    let big = dir.path().join("big.yaml");
    // An unbounded source: the first million rows carry distinct keys, later rows
    // revisit them slowly, so the job keeps running with 1M keys of state.
    std::fs::write(
        &big,
        "name: million-keys\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 2000000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\npipeline:\n  - map: \"id % 1000000 AS k\"\n  - key_by: k\n  - name: counts\n    aggregate:\n      \
         select: \"k, COUNT(*) AS n, SUM(k) AS s\"\nsinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let m2 = format!("127.0.0.1:{}", spec2.rest_port);
    let id2 = submit(&m2, &big);
    let url2 = format!("{}/jobs/{id2}/checkpoints", spec2.rest_url());
    let stats = wait_for(Duration::from_secs(60), "checkpoints of 1M keys", || {
        get_json(&url2).filter(|s| s["counts"]["completed"].as_u64() >= Some(3))
    });
    let latest = &stats["latest"]["completed"];
    println!(
        "checkpoint of 1,000,000 keys (COUNT and SUM per key): {} ms end to end, {:.1} MB (checkpoint {})",
        latest["end_to_end_duration"],
        latest["state_size"].as_f64().unwrap_or(0.0) / 1e6,
        latest["id"]
    );
    rask(&["cancel", "-m", &m2, &id2], &[]);

    // 3. Throughput with checkpoints every second vs none.
    let rows = 200_000_000u64;
    let thr = dir.path().join("thr.yaml");
    std::fs::write(
        &thr,
        format!(
            "name: bench-b\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: {rows}\n    fields:\n      \
             - {{name: id, type: BIGINT, kind: sequence}}\n      - {{name: product_id, type: BIGINT, min: 0, max: 9999}}\n      \
             - {{name: price, type: DOUBLE, min: 1, max: 100}}\npipeline:\n  - key_by: product_id\n  - aggregate:\n      \
             select: \"product_id, COUNT(*) AS orders, SUM(price) AS revenue\"\nsinks:\n  - {{name: out, connector: blackhole}}\n"
        ),
    )
    .unwrap();
    let runtime = |settings: &[(&str, String)]| -> (f64, u64) {
        let mut spec = ClusterSpec::new().with("log.level", "warn");
        for (k, v) in settings {
            spec = spec.with(k, v);
        }
        let jm = spec.jobmanager("jm-thr", dir.path());
        let tm = spec.taskmanager("tm-thr", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
        spec.wait_slots(1, 2, Duration::from_secs(30));
        let out = rask(&["run", "-m", &format!("127.0.0.1:{}", spec.rest_port), thr.to_str().unwrap()], &[]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let id = text.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("job id").trim().to_string();
        let checkpoints =
            get_json(&format!("{}/jobs/{id}/checkpoints", spec.rest_url())).and_then(|s| s["counts"]["completed"].as_u64()).unwrap_or(0);
        drop((jm, tm));
        let ms: f64 = text.lines().find_map(|l| l.strip_prefix("Job Runtime: ")?.strip_suffix(" ms")?.parse().ok()).expect("runtime");
        (ms, checkpoints)
    };
    let plain: Vec<f64> = (0..3).map(|_| runtime(&[]).0).collect();
    let mut taken = 0;
    let with: Vec<f64> = (0..3)
        .map(|i| {
            let (ms, checkpoints) = runtime(&[
                ("execution.checkpointing.interval", "1000".to_string()),
                ("state.checkpoints.dir", dir.path().join(format!("chk-thr-{i}")).display().to_string()),
            ]);
            taken += checkpoints;
            ms
        })
        .collect();
    let (p, w) = (median(plain), median(with));
    println!(
        "keyed aggregate, 10k keys, p=2, {rows} rows: {:.1} M records/s without checkpoints, {:.1} M records/s with one every second ({taken} checkpoints in 3 runs): with/without {:.3}",
        rows as f64 / p / 1000.0,
        rows as f64 / w / 1000.0,
        p / w
    );
}
