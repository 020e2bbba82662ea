//! HA failover benchmark (not a test): a real etcd, two JobManagers (leader and
//! standby), two TaskManagers and a checkpointing keyed job. Measures kill -9 of the
//! leader until every task of the job runs again under the new leader (lease 2 s),
//! and SIGTERM of the leader (it resigns) until the same; median of N rounds each.
//!
//!   cargo run --release -p rask-tests --bin rask-bench-ha [-- --runs 5]

use std::path::Path;
use std::time::{Duration, Instant};

use rask_tests::*;

/// Whether `jm` leads and runs every one of the job's `tasks` tasks.
fn all_running(jm: &HaJobManager, id: &str, tasks: u64) -> bool {
    jm.is_leader()
        && get_json(&format!("{}/jobs/{id}", jm.url()))
            .is_some_and(|j| j["state"] == "RUNNING" && j["status-counts"]["RUNNING"].as_u64() == Some(tasks))
}

/// Rounds of: stop the leader (`kill9` or SIGTERM), time until the standby leads and
/// runs every task, start a new standby. Returns (to leader, to all tasks RUNNING) in ms.
fn rounds(spec: &HaSpec, dir: &Path, jms: &mut [HaJobManager], id: &str, tasks: u64, runs: usize, kill9: bool) -> (Vec<f64>, Vec<f64>) {
    let (mut elected, mut running) = (Vec::new(), Vec::new());
    for round in 0..runs {
        let leader =
            wait_for(Duration::from_secs(30), "a leader running the job", || (0..jms.len()).find(|&i| all_running(&jms[i], id, tasks)));
        let standby = 1 - leader;
        // Let a checkpoint complete under this leader.
        let checkpoints = format!("{}/jobs/{id}/checkpoints", jms[leader].url());
        let completed = |url: &str| get_json(url).and_then(|s| s["counts"]["completed"].as_u64());
        let before = completed(&checkpoints).unwrap_or(0);
        wait_for(Duration::from_secs(30), "a checkpoint under this leader", || completed(&checkpoints).filter(|&n| n > before));
        let start = Instant::now();
        if kill9 {
            jms[leader].daemon.kill9();
        } else {
            jms[leader].daemon.sigterm();
        }
        let mut leads_at = None;
        loop {
            if leads_at.is_none() && jms[standby].is_leader() {
                leads_at = Some(start.elapsed());
            }
            if all_running(&jms[standby], id, tasks) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no failover within 30 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        let ran = start.elapsed();
        elected.push(leads_at.unwrap_or(ran).as_secs_f64() * 1000.0);
        running.push(ran.as_secs_f64() * 1000.0);
        // A new standby in the old leader's place.
        let name = format!("jm-{}-{round}", if kill9 { "k" } else { "t" });
        let fresh = spec.jobmanager(&name, dir);
        fresh.daemon.wait_log("campaigning for leadership", Duration::from_secs(10));
        jms[leader] = fresh;
    }
    (elected, running)
}

fn main() {
    let runs = runs_arg("rask-bench-ha", 5);
    bin_dir();
    let dir = tempfile::tempdir().unwrap();
    println!("rask HA failover benchmark ({} build)", if bin_dir().ends_with("release") { "release" } else { "debug" });
    let etcd = Etcd::start(dir.path());
    let spec = HaSpec::new(&etcd)
        .with("execution.checkpointing.interval", "500")
        .with("state.checkpoints.dir", &dir.path().join("chk").display().to_string())
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.attempts", "1000")
        .with("restart-strategy.fixed-delay.delay", "0");
    let first = spec.jobmanager("jm1", dir.path());
    wait_for(Duration::from_secs(20), "jm1 to lead", || first.is_leader().then_some(()));
    let second = spec.jobmanager("jm2", dir.path());
    second.daemon.wait_log("campaigning for leadership", Duration::from_secs(10));
    let mut jms = vec![first, second];
    let _tms: Vec<Daemon> =
        (0..2).map(|i| spec.taskmanager(&format!("tm{i}"), dir.path(), &[("taskmanager.numberOfTaskSlots", "2")])).collect();
    wait_for(Duration::from_secs(20), "4 slots", || get_json(&format!("{}/overview", jms[0].url())).filter(|o| o["slots-total"] == 4));
    let job = dir.path().join("endless.yaml");
    std::fs::write(
        &job,
        "name: endless\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 100000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\n      - {name: k, type: BIGINT, min: 0, max: 9999}\npipeline:\n  - key_by: k\n  \
         - aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let out = spec.rask(&["run", "--detached", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let id = text.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("job id").trim().to_string();
    let detail = wait_for(Duration::from_secs(20), "the job's tasks", || get_json(&format!("{}/jobs/{id}", jms[0].url())));
    let tasks: u64 = detail["vertices"].as_array().unwrap().iter().map(|v| v["parallelism"].as_u64().unwrap()).sum();

    let (elected, running) = rounds(&spec, dir.path(), &mut jms, &id, tasks, runs, true);
    println!(
        "kill -9 of the leader (lease-ttl 2 s): new leader after {:.0} ms, every task RUNNING after {:.0} ms (median of {runs}; target 3000 ms)",
        median(elected),
        median(running)
    );
    let (elected, running) = rounds(&spec, dir.path(), &mut jms, &id, tasks, runs, false);
    println!(
        "SIGTERM of the leader (resign): new leader after {:.1} ms, every task RUNNING after {:.1} ms (median of {runs}; target 300 ms)",
        median(elected),
        median(running)
    );
}
