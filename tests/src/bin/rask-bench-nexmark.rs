//! Nexmark benchmark (not a test): runs Flink's Nexmark SQL queries
//! (`benchmarks/nexmark/queries/`, unmodified but for the source's options) one after
//! another on a session cluster, each over a fixed number of events, and prints per
//! query: the job's runtime, events/s, events/s per core (the cluster's CPU time over
//! the run), and the rows its sink took. Queries Rask's SQL does not take yet are
//! listed with the reason.
//!
//!   cargo run --release -p rask-tests --bin rask-bench-nexmark [-- --events 10000000 --parallelism 1 --queries q0,q1,q2 -m HOST:PORT]
//!
//! Without `-m` it starts a session cluster of its own (a JobManager and one
//! TaskManager with `--parallelism` slots, as processes) and counts their CPU time;
//! with `-m` it uses that cluster and counts its TaskManagers' `Status.Process.CPU.Time`.

use std::time::Duration;

use rask_tests::nexmark::{query_names, script, Generation};
use rask_tests::*;

struct Options {
    events: u64,
    parallelism: u32,
    queries: Vec<String>,
    cluster: Option<String>,
}

fn options() -> Options {
    let mut o = Options { events: 10_000_000, parallelism: 1, queries: query_names(), cluster: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next();
        match (flag.as_str(), value) {
            ("--events", Some(v)) if v.parse::<u64>().is_ok() => o.events = v.parse().unwrap(),
            ("--parallelism", Some(v)) if v.parse::<u32>().is_ok_and(|p| p >= 1) => o.parallelism = v.parse().unwrap(),
            ("--queries", Some(v)) => o.queries = v.split(',').map(str::to_string).collect(),
            ("-m", Some(v)) => o.cluster = Some(v),
            _ => {
                eprintln!("usage: rask-bench-nexmark [--events N] [--parallelism P] [--queries q0,q1,…] [-m HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    o
}

/// CPU time (ms) of the cluster: its processes', or its TaskManagers' as REST reports.
fn cpu_ms(pids: &[u32], rest: &str) -> f64 {
    if !pids.is_empty() {
        return pids.iter().map(|p| rask_common::hardware::cpu_time_ms_of(&p.to_string()) as f64).sum();
    }
    let tms = get_json(&format!("{rest}/taskmanagers")).expect("/taskmanagers");
    tms["taskmanagers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tm| {
            let id = tm["id"].as_str()?;
            let m = get_json(&format!("{rest}/taskmanagers/{id}/metrics?get=Status.Process.CPU.Time"))?;
            m[0]["value"].as_str()?.parse::<f64>().ok()
        })
        .sum()
}

fn main() {
    let o = options();
    bin_dir();
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let (m, rest, daemons) = match &o.cluster {
        Some(m) => (m.clone(), format!("http://{m}"), Vec::new()),
        None => {
            let jm = spec.jobmanager("jm", dir.path());
            let tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", &o.parallelism.to_string())]);
            spec.wait_slots(1, u64::from(o.parallelism), Duration::from_secs(30));
            (format!("127.0.0.1:{}", spec.rest_port), spec.rest_url(), vec![jm, tm])
        }
    };
    let pids: Vec<u32> = daemons.iter().map(Daemon::pid).collect();
    let generation = Generation { events: o.events, tps: 10_000_000, base_time: 1_700_000_000_000 };
    println!(
        "Nexmark on Rask: {} events per query, parallelism {}, {}",
        o.events,
        o.parallelism,
        if o.cluster.is_some() { "the cluster at -m" } else { "a session cluster of one TaskManager" }
    );
    println!("{:<5} {:>10} {:>14} {:>16} {:>12}", "query", "runtime s", "events/s", "events/s/core", "rows out");
    for q in &o.queries {
        let file = dir.path().join(format!("{q}.sql"));
        std::fs::write(&file, script(q, generation, None)).unwrap();
        let p = o.parallelism.to_string();
        let info = rask(&["info", "-p", &p, file.to_str().unwrap()], &[]);
        if !info.status.success() {
            let why = String::from_utf8_lossy(&info.stderr);
            let why = why.lines().next().unwrap_or("").split_once("): ").map(|(_, w)| w).unwrap_or(why.trim());
            println!("{q:<5} not supported yet: {why}");
            continue;
        }
        let before = cpu_ms(&pids, &rest);
        let id = submit_detached_with(&m, &file, &["-p", &p]);
        let url = format!("{rest}/jobs/{id}");
        let job = wait_for(Duration::from_secs(3600), "the query to finish", || {
            get_json(&url).filter(|j| matches!(j["state"].as_str(), Some("FINISHED" | "FAILED" | "CANCELED")))
        });
        let cpu_s = (cpu_ms(&pids, &rest) - before) / 1000.0;
        if job["state"] != "FINISHED" {
            let why = get_json(&format!("{url}/exceptions"))
                .and_then(|e| e["root-exception"].as_str().map(|r| r.lines().next().unwrap_or("").to_string()))
                .unwrap_or_default();
            println!("{q:<5} ended {}: {why}", job["state"]);
            continue;
        }
        let runtime_s = job["duration"].as_f64().unwrap_or(0.0) / 1000.0;
        let rows: u64 = get_json(&format!("{url}/accumulators"))
            .and_then(|a| {
                a["user-task-accumulators"].as_array().map(|l| l.iter().filter_map(|x| x["value"].as_str()?.parse::<u64>().ok()).sum())
            })
            .unwrap_or(0);
        let rate = o.events as f64 / runtime_s.max(1e-3);
        println!("{q:<5} {runtime_s:>10.2} {rate:>14.0} {:>16.0} {rows:>12}", o.events as f64 / cpu_s.max(1e-3));
    }
}
