//! Job benchmarks (not a test): records/s of (a) datagen -> filter -> blackhole and
//! (b) datagen -> key_by -> aggregate (10,000 keys) -> blackhole at parallelism 1 and
//! 2, on the local target and on a session cluster of two TaskManagers (so (b)
//! crosses the network); submission latency (`rask run --detached` until RUNNING,
//! median of 20); time to the first printed row of `rask run examples/top-products.yaml`;
//! TaskManager memory added by (b) at parallelism 2; and (c) datagen -> file sink (CSV)
//! at parallelism 1 and 2 on the local target, at least once and exactly once (a
//! checkpoint every second: in-progress, pending and committed files).
//!
//! With `--metrics-overhead`, only what counting task metrics costs: datagen ->
//! blackhole and (b), local, p=1 and p=2, with rask.metrics.task-io.enabled on and
//! off in turn (5 runs each; medians).
//!
//!   cargo run --release -p rask-tests --bin rask-bench-jobs [-- --rows-a 50000000 --rows-b 20000000 --rows-c 10000000 --file-sink-only --metrics-overhead]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rask_tests::*;

fn job(name: &str, rows: u64, pipeline: &str) -> String {
    format!(
        "name: {name}\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: {rows}\n    seed: 1\n    fields:\n      \
         - {{name: id, type: BIGINT, kind: sequence}}\n      - {{name: product_id, type: BIGINT, min: 0, max: 9999}}\n      \
         - {{name: price, type: DOUBLE, min: 1, max: 100}}\n{}sinks:\n  - {{name: out, connector: blackhole}}\n",
        if pipeline.is_empty() { String::new() } else { format!("pipeline:\n{pipeline}") }
    )
}

/// Runs `rask run ARGS` attached; returns the job's runtime as the client saw it.
fn runtime(args: &[&str]) -> Duration {
    let out = rask(args, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "rask {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let ms: u64 =
        text.lines().find_map(|l| l.strip_prefix("Job Runtime: ")?.strip_suffix(" ms")?.parse().ok()).expect("a Job Runtime line");
    Duration::from_millis(ms)
}

fn rss_mb(d: &Daemon) -> f64 {
    rask_common::hardware::rss_bytes_of(&d.pid().to_string()) as f64 / (1024.0 * 1024.0)
}

fn main() {
    let mut rows_a: u64 = 50_000_000;
    let mut rows_b: u64 = 20_000_000;
    let mut rows_c: u64 = 10_000_000;
    let mut file_sink_only = false;
    let mut metrics_overhead = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--file-sink-only" {
            file_sink_only = true;
            continue;
        }
        if flag == "--metrics-overhead" {
            metrics_overhead = true;
            continue;
        }
        match (flag.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--rows-a", Some(v)) => rows_a = v,
            ("--rows-b", Some(v)) => rows_b = v,
            ("--rows-c", Some(v)) => rows_c = v,
            _ => {
                eprintln!("usage: rask-bench-jobs [--rows-a N] [--rows-b N] [--rows-c N] [--file-sink-only]");
                std::process::exit(2);
            }
        }
    }
    bin_dir();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, job("bench-a", rows_a, "  - filter: \"price > 10\"\n")).unwrap();
    std::fs::write(
        &b,
        job(
            "bench-b",
            rows_b,
            "  - key_by: product_id\n  - aggregate:\n      select: \"product_id, COUNT(*) AS orders, SUM(price) AS revenue\"\n",
        ),
    )
    .unwrap();
    println!(
        "rask job benchmark ({} build), {} cores",
        if bin_dir().ends_with("release") { "release" } else { "debug" },
        rask_common::hardware::cpu_cores()
    );

    let report = |what: &str, rows: u64, p: u32, took: Duration| {
        let rate = rows as f64 / took.as_secs_f64();
        println!(
            "{what:<44} p={p}: {:>7.1} M records/s ({:>6.1} M/s per core), {rows} rows in {} ms",
            rate / 1e6,
            rate / 1e6 / f64::from(p),
            took.as_millis()
        );
    };

    if metrics_overhead {
        let plain = dir.path().join("plain.yaml");
        std::fs::write(&plain, job("bench-blackhole", rows_a, "")).unwrap();
        for (what, file, rows) in [("datagen -> blackhole, local", &plain, rows_a), ("(b) keyed aggregate, local", &b, rows_b)] {
            for p in [1u32, 2] {
                let ps = p.to_string();
                let (mut on, mut off) = (Vec::new(), Vec::new());
                for _ in 0..5 {
                    for (enabled, runs) in [("true", &mut on), ("false", &mut off)] {
                        let key = format!("rask.metrics.task-io.enabled={enabled}");
                        runs.push(runtime(&["run", "-p", &ps, "-D", &key, file.to_str().unwrap()]));
                    }
                }
                let median = |mut v: Vec<Duration>| {
                    v.sort();
                    v[v.len() / 2]
                };
                let (on, off) = (median(on), median(off));
                let rate = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
                println!(
                    "metrics {what:<32} p={p}: on {:>6.1} M records/s, off {:>6.1} M records/s: counting costs {:+.1}% (medians of 5)",
                    rate(on),
                    rate(off),
                    (1.0 - rate(on) / rate(off)) * 100.0
                );
            }
        }
        return;
    }

    // (c) The file sink: CSV part files, at least once, and exactly once with a
    // checkpoint every second (in-progress files closed, moved and committed).
    let c = dir.path().join("c.yaml");
    let out = dir.path().join("c-out");
    let chk = dir.path().join("c-chk");
    std::fs::write(
        &c,
        job("bench-c", rows_c, "")
            .replace("{name: out, connector: blackhole}", &format!("{{name: out, connector: file, path: {}, format: csv}}", out.display())),
    )
    .unwrap();
    let exactly_once = ["-D", "execution.checkpointing.interval=1s", "-D"];
    let chk_dir = format!("state.checkpoints.dir={}", chk.display());
    for p in [1u32, 2] {
        let ps = p.to_string();
        for (what, extra) in
            [("(c) file sink CSV, at least once, local", &[][..]), ("(c) file sink CSV, exactly once (1 s), local", &exactly_once[..])]
        {
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::remove_dir_all(&chk);
            let mut args = vec!["run", "-p", &ps];
            args.extend_from_slice(extra);
            if !extra.is_empty() {
                args.push(&chk_dir);
            }
            args.push(c.to_str().unwrap());
            let took = runtime(&args);
            let bytes: u64 = std::fs::read_dir(&out)
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
                .map(|e| e.metadata().unwrap().len())
                .sum();
            report(what, rows_c, p, took);
            println!("{:<44}      {:.0} MB written, {:.0} MB/s", "", bytes as f64 / 1e6, bytes as f64 / 1e6 / took.as_secs_f64());
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&chk);
    if file_sink_only {
        return;
    }

    for p in [1u32, 2] {
        let ps = p.to_string();
        report("(a) filter, local target", rows_a, p, runtime(&["run", "-p", &ps, a.to_str().unwrap()]));
        report("(b) keyed aggregate 10k keys, local target", rows_b, p, runtime(&["run", "-p", &ps, b.to_str().unwrap()]));
    }

    // A session cluster of two TaskManagers with one slot each: p=2 spans both.
    let spec = ClusterSpec::new().with("log.level", "warn");
    let _jm = spec.jobmanager("jm", dir.path());
    let tms: Vec<Daemon> =
        (0..2).map(|i| spec.taskmanager(&format!("tm{i}"), dir.path(), &[("taskmanager.numberOfTaskSlots", "1")])).collect();
    spec.wait_slots(2, 2, Duration::from_secs(30));
    let m = format!("127.0.0.1:{}", spec.rest_port);
    for p in [1u32, 2] {
        let ps = p.to_string();
        report("(a) filter, 2-TaskManager cluster", rows_a, p, runtime(&["run", "-p", &ps, "-m", &m, a.to_str().unwrap()]));
        report("(b) keyed aggregate, 2-TaskManager cluster", rows_b, p, runtime(&["run", "-p", &ps, "-m", &m, b.to_str().unwrap()]));
    }

    // Memory (b) adds at parallelism 2: TaskManager RSS before, and peak while it runs.
    let before: Vec<f64> = tms.iter().map(rss_mb).collect();
    let mut child = clean_command("rask").args(["run", "-p", "2", "-m", &m, b.to_str().unwrap()]).stdout(Stdio::null()).spawn().unwrap();
    let mut peak = before.clone();
    while child.try_wait().unwrap().is_none() {
        for (i, d) in tms.iter().enumerate() {
            peak[i] = peak[i].max(rss_mb(d));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let added: f64 = peak.iter().zip(&before).map(|(p, b)| p - b).sum();
    println!("(b) p=2, 10,000 keys: TaskManager RSS {before:.1?} MB before, peak {peak:.1?} MB: +{added:.1} MB in all");

    // Submission latency on the warm cluster.
    let endless = dir.path().join("endless.yaml");
    std::fs::write(
        &endless,
        "name: endless\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 100\n    fields:\n      - {name: id, type: BIGINT, kind: sequence}\n\
         sinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let t0 = Instant::now();
        let out = rask(&["run", "--detached", "-m", &m, endless.to_str().unwrap()], &[]);
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("job id").trim().to_string();
        wait_for(Duration::from_secs(10), "RUNNING", || {
            get_json(&format!("{}/jobs/{id}", spec.rest_url())).filter(|j| j["state"] == "RUNNING").map(|_| ())
        });
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        rask(&["cancel", "-m", &m, &id], &[]);
        wait_for(Duration::from_secs(10), "slots back", || spec.overview().filter(|o| o["slots-available"] == 2).map(|_| ()));
    }
    println!("submission: `rask run --detached` until /jobs/:id RUNNING: median {:.1} ms (20 runs)", median(latencies));

    // First printed row of the main example on the local target.
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let mut child = clean_command("rask")
            .args(["run", "--target", "local", examples_dir().join("top-products.yaml").to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let first = lines.by_ref().find(|l| l.starts_with("| 2026"));
        assert!(first.is_some(), "no result row");
        firsts.push(t0.elapsed().as_secs_f64() * 1000.0);
        lines.for_each(drop);
        let _ = child.wait();
    }
    println!("local target: `rask run examples/top-products.yaml` to its first result row: median {:.1} ms (5 runs)", median(firsts));
}
