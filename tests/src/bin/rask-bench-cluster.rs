//! Control-plane benchmark (not a test): prints how fast a cluster comes up, how fast
//! a killed TaskManager leaves `/overview`, the daemons' idle memory, what jobs waiting
//! for slots cost an idle JobManager, and what 100 TaskManagers cost it.
//!
//!   cargo run --release -p rask-tests --bin rask-bench-cluster [-- --runs 10 --waiting-seconds 20 --scale-taskmanagers 100 --scale-seconds 20]

use std::time::{Duration, Instant};

use rask_tests::*;

struct Args {
    runs: usize,
    scale_taskmanagers: usize,
    scale_seconds: u64,
    waiting_seconds: u64,
}

fn parse_args() -> Args {
    let mut args = Args { runs: 10, scale_taskmanagers: 100, scale_seconds: 20, waiting_seconds: 20 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--runs", Some(v)) => args.runs = v.max(1) as usize,
            ("--scale-taskmanagers", Some(v)) => args.scale_taskmanagers = v as usize,
            ("--scale-seconds", Some(v)) => args.scale_seconds = v.max(1),
            ("--waiting-seconds", Some(v)) => args.waiting_seconds = v,
            _ => {
                eprintln!("usage: rask-bench-cluster [--runs N] [--waiting-seconds S] [--scale-taskmanagers N] [--scale-seconds S]");
                std::process::exit(2);
            }
        }
    }
    args
}

fn summary(samples: &mut [f64]) -> String {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = samples[samples.len() / 2];
    format!("median {median:.1} ms (min {:.1}, max {:.1}, {} runs)", samples[0], samples[samples.len() - 1], samples.len())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn rss(d: &Daemon) -> u64 {
    rask_common::hardware::rss_bytes_of(&d.pid().to_string())
}

/// utime + stime of a process in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    rask_common::hardware::cpu_time_ms_of(&pid.to_string()) as f64 / 1000.0
}

fn main() {
    let args = parse_args();
    bin_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    println!("rask control-plane benchmark ({} build)", if bin_dir().ends_with("release") { "release" } else { "debug" });

    // 1. Cluster start until every slot is in /overview; 2. kill -9 to slots gone.
    let mut ready = Vec::new();
    let mut loss = Vec::new();
    let mut idle_jm = Vec::new();
    let mut idle_tm = Vec::new();
    for run in 0..args.runs {
        let spec = ClusterSpec::new();
        let t0 = Instant::now();
        let jm = spec.jobmanager(&format!("jm{run}"), dir.path());
        let mut tm1 = spec.taskmanager(&format!("tm{run}a"), dir.path(), &[("taskmanager.numberOfTaskSlots", "4")]);
        let tm2 = spec.taskmanager(&format!("tm{run}b"), dir.path(), &[("taskmanager.numberOfTaskSlots", "4")]);
        wait_for(Duration::from_secs(10), "all slots", || spec.overview().filter(|o| o["slots-total"] == 8).map(|_| ()));
        ready.push(t0.elapsed().as_secs_f64() * 1000.0);
        if run == 0 {
            std::thread::sleep(Duration::from_secs(2));
            idle_jm.push(rss(&jm));
            idle_tm.push(rss(&tm1));
            idle_tm.push(rss(&tm2));
        }
        let t1 = Instant::now();
        tm1.kill9();
        wait_for(Duration::from_secs(10), "slots to leave", || spec.overview().filter(|o| o["slots-total"] == 4).map(|_| ()));
        loss.push(t1.elapsed().as_secs_f64() * 1000.0);
    }
    println!("cluster ready (JobManager + 2 TaskManagers launched, all 8 slots in /overview): {}", summary(&mut ready));
    println!("kill -9 of a TaskManager until its slots leave /overview:                   {}", summary(&mut loss));
    println!("idle RSS: JobManager {:.1} MB, TaskManager {:.1} MB", mb(idle_jm[0]), mb(*idle_tm.iter().max().unwrap()));

    // 3. An idle JobManager with 4 jobs waiting for slots (no TaskManager at all).
    if args.waiting_seconds > 0 {
        let spec = ClusterSpec::new().with("slot.request.timeout", "3600000").with("log.level", "warn");
        let jm = spec.jobmanager("waiting-jm", dir.path());
        wait_for(Duration::from_secs(10), "the JobManager", || spec.overview());
        let job = examples_dir().join("word-count.yaml");
        for _ in 0..4 {
            submit_detached(&format!("127.0.0.1:{}", spec.rest_port), &job);
        }
        wait_for(Duration::from_secs(10), "4 jobs waiting for slots", || {
            let overview = get_json(&format!("{}/jobs/overview", spec.rest_url()))?;
            let jobs = overview["jobs"].as_array()?;
            (jobs.len() == 4 && jobs.iter().all(|j| j["state"] == "CREATED")).then_some(())
        });
        let cpu0 = cpu_seconds(jm.pid());
        let w0 = Instant::now();
        std::thread::sleep(Duration::from_secs(args.waiting_seconds));
        let cpu_share = (cpu_seconds(jm.pid()) - cpu0) / w0.elapsed().as_secs_f64() * 100.0;
        println!(
            "idle JobManager with 4 jobs waiting for slots: CPU {cpu_share:.2}% of one core over {} s, RSS {:.1} MB",
            args.waiting_seconds,
            mb(rss(&jm))
        );
    }

    // 4. Scale: N TaskManagers with 4 slots each, heartbeat every second.
    if args.scale_taskmanagers == 0 {
        return;
    }
    let n = args.scale_taskmanagers;
    let spec = ClusterSpec::new().with("heartbeat.interval", "1000").with("heartbeat.timeout", "10000").with("log.level", "warn");
    let jm = spec.jobmanager("scale-jm", dir.path());
    let t0 = Instant::now();
    let tms: Vec<Daemon> =
        (0..n).map(|i| spec.taskmanager(&format!("scale-tm{i}"), dir.path(), &[("taskmanager.numberOfTaskSlots", "4")])).collect();
    spec.wait_slots(n as u64, 4 * n as u64, Duration::from_secs(60));
    let registered = t0.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let metrics_url = format!("{}/jobmanager/metrics?get=heartbeatRttSamples", spec.rest_url());
    let samples_before: u64 = get_json(&metrics_url).and_then(|m| m[0]["value"].as_str()?.parse().ok()).unwrap_or(0);
    let cpu0 = cpu_seconds(jm.pid());
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.scale_seconds));
    let cpu_share = (cpu_seconds(jm.pid()) - cpu0) / w0.elapsed().as_secs_f64() * 100.0;
    let metrics = get_json(&format!(
        "{}/jobmanager/metrics?get=heartbeatRttP50Ms,heartbeatRttP99Ms,heartbeatRttMaxMs,heartbeatRttSamples",
        spec.rest_url()
    ))
    .expect("metrics");
    let value = |i: usize| metrics[i]["value"].as_str().unwrap_or("?").to_string();
    let tm_rss: Vec<u64> = tms.iter().map(rss).collect();
    println!("scale: {n} TaskManagers x 4 slots registered in {:.0} ms; heartbeat.interval 1 s", registered.as_secs_f64() * 1000.0);
    println!("scale: JobManager CPU {cpu_share:.2}% of one core over {} s, RSS {:.1} MB", args.scale_seconds, mb(rss(&jm)));
    println!(
        "scale: heartbeat round trip p50 {} ms, p99 {} ms, max {} ms ({} samples, {} during the window)",
        value(0),
        value(1),
        value(2),
        value(3),
        value(3).parse::<u64>().unwrap_or(0).saturating_sub(samples_before)
    );
    println!(
        "scale: TaskManager RSS mean {:.1} MB, max {:.1} MB",
        mb(tm_rss.iter().sum::<u64>() / tm_rss.len() as u64),
        mb(*tm_rss.iter().max().unwrap())
    );
}
