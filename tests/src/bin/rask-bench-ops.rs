//! Operations benchmark (not a test): a JobManager with 100 TaskManagers (1 slot
//! each) and 50 running jobs. Prints the REST latency of `/jobs/overview` and
//! `/jobs/:id` (median and p99 of 200), the JobManager's RSS and CPU, and, in headless
//! Chromium, the dashboard's first paint and the CPU its 1.5 s refresh costs the
//! browser and the JobManager on the overview, job list, TaskManager list and a job's
//! page.
//!
//!   cargo run --release -p rask-tests --bin rask-bench-ops [-- --taskmanagers 100 --jobs 50 --seconds 20]

use std::time::{Duration, Instant};

use rask_tests::*;

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
}

fn cpu_ms(pid: u32) -> u64 {
    rask_common::hardware::cpu_time_ms_of(&pid.to_string())
}

fn main() {
    let (mut taskmanagers, mut jobs, mut seconds) = (100usize, 50usize, 20u64);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next().and_then(|v| v.parse::<u64>().ok())) {
            ("--taskmanagers", Some(v)) => taskmanagers = v as usize,
            ("--jobs", Some(v)) => jobs = v as usize,
            ("--seconds", Some(v)) => seconds = v.max(1),
            _ => {
                eprintln!("usage: rask-bench-ops [--taskmanagers N] [--jobs N] [--seconds S]");
                std::process::exit(2);
            }
        }
    }
    assert!(jobs <= taskmanagers, "each job takes one of the TaskManagers' single slots");
    bin_dir();
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("heartbeat.interval", "1000");
    let jm = spec.jobmanager("jm", dir.path());
    let _tms: Vec<Daemon> = (0..taskmanagers)
        .map(|i| {
            spec.taskmanager(
                &format!("tm{i}"),
                dir.path(),
                &[("taskmanager.numberOfTaskSlots", "1"), ("taskmanager.memory.process.size", "64m")],
            )
        })
        .collect();
    spec.wait_slots(taskmanagers as u64, taskmanagers as u64, Duration::from_secs(120));
    let file = dir.path().join("job.yaml");
    std::fs::write(
        &file,
        "name: ops-bench\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 100\n    fields:\n      - {name: id, type: BIGINT, kind: sequence}\n      - {name: k, type: BIGINT, min: 1, max: 10}\npipeline:\n  - key_by: k\n  - name: counts\n    aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let ids: Vec<String> = (0..jobs).map(|_| submit_detached(&m, &file)).collect();
    let rest = spec.rest_url();
    wait_for(Duration::from_secs(120), "every job RUNNING", || {
        let overview = get_json(&format!("{rest}/jobs/overview"))?;
        let running = overview["jobs"].as_array()?.iter().filter(|j| j["state"] == "RUNNING").count();
        (running == jobs).then_some(())
    });
    println!("rask operations benchmark: {taskmanagers} TaskManagers, {jobs} running jobs, {} cores", rask_common::hardware::cpu_cores());

    let http = reqwest::blocking::Client::new();
    for (what, paths) in [
        ("/jobs/overview", vec!["/jobs/overview".to_string()]),
        ("/jobs/:id", ids.iter().map(|id| format!("/jobs/{id}")).collect()),
        ("/overview", vec!["/overview".to_string()]),
        ("/taskmanagers", vec!["/taskmanagers".to_string()]),
    ] {
        let mut ms: Vec<f64> = (0..200)
            .map(|i| {
                let t = Instant::now();
                let body = http.get(format!("{rest}{}", paths[i % paths.len()])).send().unwrap().bytes().unwrap();
                assert!(!body.is_empty());
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!("REST {what:<16} median {:.2} ms, p99 {:.2} ms (200 requests)", percentile(&mut ms, 0.5), percentile(&mut ms, 0.99));
    }
    let rss = |d: &Daemon| rask_common::hardware::rss_bytes_of(&d.pid().to_string()) as f64 / (1024.0 * 1024.0);
    let (c0, t0) = (cpu_ms(jm.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds.min(10)));
    println!(
        "JobManager without a browser: RSS {:.1} MB, CPU {:.2}% of a core",
        rss(&jm),
        (cpu_ms(jm.pid()) - c0) as f64 / t0.elapsed().as_secs_f64() / 10.0
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let profile = dir.path().join("chromium-profile");
        let (_driver, client) = rask_tests::browser::start(&profile).await;
        let t = Instant::now();
        rask_tests::browser::open(&client, &rest, "/overview", "overview").await;
        let loaded_ms = t.elapsed().as_secs_f64() * 1000.0;
        let paint = client
            .execute("const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : -1;", vec![])
            .await
            .unwrap();
        println!(
            "dashboard first paint {:.0} ms, overview with data {:.0} ms after navigation (page load measured by the browser, data by WebDriver)",
            paint.as_f64().unwrap_or(-1.0),
            loaded_ms
        );
        for (route, page) in
            [("/overview", "overview"), ("/jobs", "jobs"), ("/taskmanagers", "taskmanagers"), (&*format!("/jobs/{}", ids[0]), "job")]
        {
            rask_tests::browser::open(&client, &rest, route, page).await;
            let (b0, j0, t0) = (rask_tests::browser::chromium_cpu_ms(&profile), cpu_ms(jm.pid()), Instant::now());
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let wall = t0.elapsed().as_secs_f64();
            println!(
                "dashboard {page:<13} refreshing every 1.5 s for {seconds} s: browser CPU {:.1}% of a core, JobManager CPU {:.1}%, JobManager RSS {:.1} MB",
                (rask_tests::browser::chromium_cpu_ms(&profile) - b0) as f64 / wall / 10.0,
                (cpu_ms(jm.pid()) - j0) as f64 / wall / 10.0,
                rss(&jm)
            );
        }
        client.close().await.unwrap();
    });
}
