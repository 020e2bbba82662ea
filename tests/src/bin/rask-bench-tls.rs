//! TLS benchmark (not a test): what `security.ssl.internal.enabled` costs. A session
//! cluster of two TaskManagers (one slot each) runs datagen -> key_by -> aggregate
//! (10,000 keys) -> blackhole at parallelism 2, so half the records cross between the
//! TaskManagers over gRPC; records/s with internal TLS off and on (median of --runs),
//! cluster start (JobManager spawned -> every slot registered) and idle RSS of each
//! process with TLS on and off.
//!
//!   cargo run --release -p rask-tests --bin rask-bench-tls [-- --rows 20000000 --runs 3]

use std::time::{Duration, Instant};

use rask_tests::*;

fn job(rows: u64) -> String {
    format!(
        "name: bench-tls\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: {rows}\n    seed: 1\n    fields:\n      \
         - {{name: id, type: BIGINT, kind: sequence}}\n      - {{name: product_id, type: BIGINT, min: 0, max: 9999}}\n      \
         - {{name: price, type: DOUBLE, min: 1, max: 100}}\npipeline:\n  - key_by: product_id\n  - aggregate:\n      \
         select: \"product_id, COUNT(*) AS orders, SUM(price) AS revenue\"\nsinks:\n  - {{name: out, connector: blackhole}}\n"
    )
}

fn rss_mb(d: &Daemon) -> f64 {
    rask_common::hardware::rss_bytes_of(&d.pid().to_string()) as f64 / (1024.0 * 1024.0)
}

struct Figures {
    records_per_s: f64,
    start_ms: f64,
    jm_rss: f64,
    tm_rss: f64,
}

fn measure(dir: &std::path::Path, tls: &[(String, String)], job_file: &std::path::Path, rows: u64, runs: usize) -> Figures {
    let spec = tls.iter().fold(ClusterSpec::new().with("log.level", "warn"), |s, (k, v)| s.with(k, v));
    let t0 = Instant::now();
    let jm = spec.jobmanager("jm", dir);
    let tms: Vec<Daemon> = (0..2).map(|i| spec.taskmanager(&format!("tm{i}"), dir, &[("taskmanager.numberOfTaskSlots", "1")])).collect();
    spec.wait_slots(2, 2, Duration::from_secs(30));
    let start_ms = t0.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_millis(500));
    let (jm_rss, tm_rss) = (rss_mb(&jm), rss_mb(&tms[0]));
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let mut rates = Vec::new();
    for _ in 0..runs {
        let out = rask(&["run", "-p", "2", "-m", &m, job_file.to_str().unwrap()], &[]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "rask run: {}", String::from_utf8_lossy(&out.stderr));
        let ms: f64 = text.lines().find_map(|l| l.strip_prefix("Job Runtime: ")?.strip_suffix(" ms")?.parse().ok()).expect("Job Runtime");
        rates.push(rows as f64 / (ms / 1000.0));
    }
    Figures { records_per_s: median(rates), start_ms, jm_rss, tm_rss }
}

fn main() {
    let (mut rows, mut runs): (u64, usize) = (20_000_000, 3);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next().and_then(|v| v.parse::<u64>().ok())) {
            ("--rows", Some(v)) => rows = v,
            ("--runs", Some(v)) => runs = v.max(1) as usize,
            _ => {
                eprintln!("usage: rask-bench-tls [--rows N] [--runs N]");
                std::process::exit(2);
            }
        }
    }
    bin_dir();
    let dir = tempfile::tempdir().unwrap();
    let certs = ClusterCertificates::make(&dir.path().join("certs"));
    let job_file = dir.path().join("job.yaml");
    std::fs::write(&job_file, job(rows)).unwrap();
    println!(
        "rask TLS benchmark ({} build), {} cores, {rows} rows, median of {runs}",
        if bin_dir().ends_with("release") { "release" } else { "debug" },
        rask_common::hardware::cpu_cores()
    );
    let plain = measure(dir.path(), &[], &job_file, rows, runs);
    let tls = measure(dir.path(), &certs.internal(), &job_file, rows, runs);
    for (name, f) in [("TLS off", &plain), ("TLS on", &tls)] {
        println!(
            "{name:<8} keyed aggregate p=2 across 2 TaskManagers: {:>6.2} M records/s; cluster start {:>6.1} ms; idle RSS JobManager {:.1} MB, TaskManager {:.1} MB",
            f.records_per_s / 1e6,
            f.start_ms,
            f.jm_rss,
            f.tm_rss
        );
    }
    println!("TLS cost: {:+.1} % throughput", (tls.records_per_s / plain.records_per_s - 1.0) * 100.0);
}
