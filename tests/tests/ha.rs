//! End-to-end tests of high availability with a real etcd started by each test: two
//! JobManagers and TaskManagers that find the leader through etcd, an exactly-once
//! counting job, and the leader killed, paused, or stopped, or etcd restarted.

use std::path::Path;
use std::time::{Duration, Instant};

use rask_tests::*;

/// An HA cluster running the counting job.
struct HaJob {
    spec: HaSpec,
    jms: Vec<HaJobManager>,
    _tms: Vec<Daemon>,
    id: String,
    rows: u64,
    keys: u64,
}

/// etcd, two JobManagers (the first leads), two one-slot TaskManagers, and the
/// counting job submitted through the CLI, which finds the leader in etcd.
fn start_ha_job(dir: &Path, etcd: &Etcd, settings: &[(&str, &str)], rows: u64, rate: u64) -> HaJob {
    let mut spec = HaSpec::new(etcd)
        .with("execution.checkpointing.interval", "100")
        .with("state.checkpoints.dir", &dir.join("checkpoints").display().to_string())
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.attempts", "10")
        .with("restart-strategy.fixed-delay.delay", "100");
    for (k, v) in settings {
        spec = spec.with(k, v);
    }
    let first = spec.jobmanager("jm1", dir);
    wait_for(Duration::from_secs(20), "jm1 to lead", || first.is_leader().then_some(()));
    let second = spec.jobmanager("jm2", dir);
    second.daemon.wait_log("campaigning for leadership", Duration::from_secs(10));
    let tms: Vec<Daemon> = (0..2).map(|i| spec.taskmanager(&format!("tm{i}"), dir, &[("taskmanager.numberOfTaskSlots", "1")])).collect();
    wait_for(Duration::from_secs(20), "two TaskManagers at the leader", || {
        get_json(&format!("{}/overview", first.url())).filter(|o| o["taskmanagers"] == 2)
    });
    let keys = 100;
    let job = write_counting_job(dir, rows, keys, rate);
    let out = spec.rask(&["run", "--detached", job.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "rask run: {}", String::from_utf8_lossy(&out.stderr));
    let id = text.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("a JobID").trim().to_string();
    HaJob { spec, jms: vec![first, second], _tms: tms, id, rows, keys }
}

impl HaJob {
    fn job(&self, jm: usize) -> Option<serde_json::Value> {
        get_json(&format!("{}/jobs/{}", self.jms[jm].url(), self.id))
    }

    fn wait_checkpoints(&self, jm: usize, n: u64) {
        let url = format!("{}/jobs/{}/checkpoints", self.jms[jm].url(), self.id);
        wait_for(Duration::from_secs(30), "completed checkpoints", || {
            get_json(&url).filter(|s| s["counts"]["completed"].as_u64() >= Some(n))
        });
    }

    /// Waits until `jm` leads and runs the job.
    fn wait_running_at(&self, jm: usize, timeout: Duration) {
        wait_for(timeout, &format!("the job RUNNING under jm{}", jm + 1), || {
            (self.jms[jm].is_leader() && self.job(jm)?["state"] == "RUNNING").then_some(())
        });
    }

    fn wait_finished_at(&self, jm: usize) {
        let done = wait_for(Duration::from_secs(120), "the job to finish", || {
            self.job(jm).filter(|j| j["state"] == "FINISHED" || j["state"] == "FAILED")
        });
        assert_eq!(done["state"], "FINISHED", "{done}");
    }

    fn assert_exact_output(&self, dir: &Path) {
        assert_exact_counts(&dir.join("out"), self.rows, self.keys);
    }
}

#[test]
fn killing_the_leader_fails_over_to_the_standby_with_exact_output() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let mut job = start_ha_job(dir.path(), &etcd, &[], 400_000, 50_000);
    job.wait_checkpoints(0, 3);
    job.jms[0].daemon.kill9();
    job.wait_running_at(1, Duration::from_secs(20));
    job.jms[1].daemon.wait_log("Recovering job 'counting'", Duration::from_secs(5));
    // RUNNING shows as soon as the slots are taken; the restore is counted just after.
    let url = format!("{}/jobs/{}/checkpoints", job.jms[1].url(), job.id);
    wait_for(Duration::from_secs(10), "the job restored from the latest checkpoint", || {
        get_json(&url).filter(|s| s["counts"]["restored"].as_u64() >= Some(1))
    });
    job.wait_finished_at(1);
    job.assert_exact_output(dir.path());
    // The CLI finds the new leader through etcd.
    let out = job.spec.rask(&["list", "--all"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{} : counting (FINISHED)", job.id)),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn killing_the_leader_with_internal_tls_keeps_the_output_exact() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let certs = ClusterCertificates::make(&dir.path().join("certs"));
    let tls = certs.internal();
    let settings: Vec<(&str, &str)> = tls.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut job = start_ha_job(dir.path(), &etcd, &settings, 300_000, 50_000);
    job.wait_checkpoints(0, 3);
    job.jms[0].daemon.kill9();
    job.wait_running_at(1, Duration::from_secs(20));
    job.wait_finished_at(1);
    job.assert_exact_output(dir.path());
}

#[test]
fn a_paused_leader_is_replaced_then_fenced_and_steps_down() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let job = start_ha_job(dir.path(), &etcd, &[], 400_000, 40_000);
    job.wait_checkpoints(0, 3);
    job.jms[0].daemon.signal(libc::SIGSTOP);
    // The lease (2 s) expires; the standby wins, the TaskManagers follow it.
    job.wait_running_at(1, Duration::from_secs(20));
    job.wait_checkpoints(1, 1);
    job.jms[0].daemon.signal(libc::SIGCONT);
    job.jms[0].daemon.wait_log("stepping down", Duration::from_secs(10));
    job.jms[0].daemon.wait_log("lost the leadership", Duration::from_secs(10));
    // The old leader now sends its REST clients to the new one.
    wait_for(Duration::from_secs(10), "jm1 to redirect to jm2", || {
        let client = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = client.get(format!("{}/overview", job.jms[0].url())).send().ok()?;
        let location = response.headers().get("location")?.to_str().ok()?.to_string();
        (response.status().as_u16() == 307 && location == format!("{}/overview", job.jms[1].url())).then_some(())
    });
    assert!(job.jms[1].is_leader(), "jm2 keeps the leadership");
    job.wait_finished_at(1);
    job.assert_exact_output(dir.path());
}

#[test]
fn restarting_etcd_under_a_running_cluster_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start(dir.path());
    let job = start_ha_job(dir.path(), &etcd, &[], 400_000, 40_000);
    job.wait_checkpoints(0, 3);
    etcd.stop();
    // Longer than the lease: the leader cannot renew it and steps down.
    job.jms[0].daemon.wait_log("stepping down", Duration::from_secs(10));
    etcd.restart();
    let leader = wait_for(Duration::from_secs(30), "a leader running the job after etcd is back", || {
        (0..2).find(|&i| job.jms[i].is_leader() && job.job(i).is_some_and(|j| j["state"] == "RUNNING" || j["state"] == "FINISHED"))
    });
    job.wait_finished_at(leader);
    job.assert_exact_output(dir.path());
    let overview = get_json(&format!("{}/overview", job.jms[leader].url())).unwrap();
    assert_eq!(overview["taskmanagers"], 2, "both TaskManagers registered again: {overview}");
}

#[test]
fn sigterm_hands_over_at_once_and_a_finished_job_is_never_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    // A 30 s lease: a handover within seconds is a resignation, not an expiry.
    let mut job = start_ha_job(dir.path(), &etcd, &[("high-availability.etcd.lease-ttl", "30")], 300_000, 50_000);
    // A standby answers REST with a redirect to the leader; the CLI follows it.
    let out = rask(&["list", "-m", &format!("127.0.0.1:{}", job.jms[1].rest_port)], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&job.id), "{}", String::from_utf8_lossy(&out.stdout));
    job.wait_checkpoints(0, 3);
    let stopped = Instant::now();
    job.jms[0].daemon.sigterm();
    job.wait_running_at(1, Duration::from_secs(10));
    assert!(stopped.elapsed() < Duration::from_secs(10), "handed over without waiting for the 30 s lease");
    assert!(job.jms[0].daemon.wait_exit(Duration::from_secs(10)).success());
    assert!(job.jms[0].daemon.log().contains("resigned the leadership"));
    job.wait_finished_at(1);
    job.assert_exact_output(dir.path());

    // The next leader knows the job ended: it does not run it again.
    job.jms[1].daemon.sigterm();
    job.jms[1].daemon.wait_exit(Duration::from_secs(10));
    let third = job.spec.jobmanager("jm3", dir.path());
    wait_for(Duration::from_secs(20), "jm3 to lead", || third.is_leader().then_some(()));
    wait_for(Duration::from_secs(20), "the TaskManagers at jm3", || {
        get_json(&format!("{}/overview", third.url())).filter(|o| o["taskmanagers"] == 2)
    });
    // A leader resubmits what it recovers before it serves as leader: nothing there.
    let jobs = get_json(&format!("{}/jobs", third.url())).unwrap();
    assert_eq!(jobs["jobs"], serde_json::json!([]), "no job recovered: {jobs}");
    let overview = get_json(&format!("{}/overview", third.url())).unwrap();
    assert_eq!(overview["slots-available"], 2, "no slot taken: {overview}");
}

#[test]
fn a_job_submitted_while_the_leader_is_down_goes_to_the_next_leader() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let spec = HaSpec::new(&etcd);
    let mut first = spec.jobmanager("jm1", dir.path());
    wait_for(Duration::from_secs(20), "jm1 to lead", || first.is_leader().then_some(()));
    let second = spec.jobmanager("jm2", dir.path());
    second.daemon.wait_log("campaigning for leadership", Duration::from_secs(10));
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    wait_for(Duration::from_secs(20), "the TaskManager at jm1", || {
        get_json(&format!("{}/overview", first.url())).filter(|o| o["taskmanagers"] == 1)
    });
    // etcd names the dead leader until its 2 s lease expires: the CLI's submission
    // finds nobody there, waits for the next leader and submits to it.
    first.daemon.kill9();
    let job = write_counting_job(dir.path(), 2_000, 10, 100_000);
    let out = spec.rask(&["run", "--detached", job.to_str().unwrap()]);
    assert!(out.status.success(), "rask run: {}", String::from_utf8_lossy(&out.stderr));
    let id = line_value(&String::from_utf8_lossy(&out.stdout), "Job has been submitted with JobID ").expect("a JobID");
    assert!(second.is_leader());
    let done = wait_for(Duration::from_secs(60), "the job to end under jm2", || {
        get_json(&format!("{}/jobs/{id}", second.url())).filter(|j| j["state"] == "FINISHED" || j["state"] == "FAILED")
    });
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_exact_counts(&dir.path().join("out"), 2_000, 10);
}

#[test]
fn etcd_over_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start_tls(dir.path());
    assert!(etcd.url.starts_with("https://"));
    let spec = HaSpec::new(&etcd);
    let jm = spec.jobmanager("jm", dir.path());
    wait_for(Duration::from_secs(20), "the JobManager to lead over TLS", || jm.is_leader().then_some(()));
    let _tm = spec.taskmanager("tm", dir.path(), &[]);
    wait_for(Duration::from_secs(20), "the TaskManager to find the leader over TLS", || {
        get_json(&format!("{}/overview", jm.url())).filter(|o| o["taskmanagers"] == 1)
    });
    // Without the client certificate etcd refuses the connection: no leadership.
    let plain = HaSpec { settings: spec.settings.iter().filter(|(k, _)| !k.ends_with(".cert") && !k.ends_with(".key")).cloned().collect() };
    let refused = plain.jobmanager("jm-nocert", dir.path());
    refused.daemon.wait_log("leader election:", Duration::from_secs(20));
    assert!(!refused.is_leader());
}

#[test]
fn etcd_with_authentication_needs_the_configured_user() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    etcd.enable_auth("s3cret");
    let spec = HaSpec::new(&etcd);
    let anonymous = spec.jobmanager("jm-anonymous", dir.path());
    anonymous.daemon.wait_log("user name is empty", Duration::from_secs(20));
    let spec = spec.with("high-availability.etcd.username", "root").with("high-availability.etcd.password", "s3cret");
    let jm = spec.jobmanager("jm", dir.path());
    wait_for(Duration::from_secs(20), "the authenticated JobManager to lead", || jm.is_leader().then_some(()));
    assert!(!anonymous.is_leader());
}

#[test]
fn ha_configuration_errors_name_the_key() {
    for (args, needle) in [
        (&["-D", "high-availability.type=etcd", "-D", "high-availability.etcd.lease-ttl=1"][..], "etcd's smallest lease is 2 seconds"),
        (&["-D", "high-availability.type=zookeeper"][..], "high-availability.type"),
        (
            &["-D", "high-availability.type=etcd", "-D", "high-availability.etcd.endpoints=localhost:2379"][..],
            "is not an http:// or https:// URL",
        ),
    ] {
        let setting = args.join(" ");
        let out = run_to_exit("rask-jobmanager", args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{setting}: {err}");
        assert!(err.contains(needle), "{setting}: {err}");
    }
}
