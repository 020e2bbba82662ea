//! Tests of deploy/: the systemd units verify, the example configuration documents
//! and loads every key, and the start/stop scripts run a real local cluster.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rask_common::config::{options, Configuration};
use rask_tests::*;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    assert!(analyze.is_ok_and(|o| o.status.success()), "systemd-analyze is missing: install Debian's `systemd` package (.ci/run does)");
    let dir = tempfile::tempdir().unwrap();
    // verify checks that ExecStart's binary exists: point it at this build's binaries.
    let bins = format!("{}/", bin_dir().display());
    let mut units = Vec::new();
    for name in ["rask-jobmanager.service", "rask-taskmanager@.service"] {
        let text = std::fs::read_to_string(deploy_dir().join("systemd").join(name)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/"), "{name}: ExecStart");
        for needle in ["Restart=on-failure", "User=rask", "LimitNOFILE=", "--config /etc/rask/rask.yaml", "Type="] {
            assert!(text.contains(needle), "{name} lacks {needle}");
        }
        let text = text.replace("/usr/local/bin/", &bins);
        let file_name = name.replace("@.", "@1.");
        std::fs::write(dir.path().join(&file_name), text).unwrap();
        units.push(dir.path().join(file_name));
    }
    let out = Command::new("systemd-analyze").arg("verify").args(&units).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "systemd-analyze verify: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn example_configuration_documents_and_loads_every_key() {
    let file = deploy_dir().join("conf/rask.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    for option in options::ALL {
        assert!(text.contains(option.key), "deploy/conf/rask.yaml does not document {}", option.key);
    }
    let conf = Configuration::load_from(Some(&file), Vec::new(), &[]).expect("example configuration loads");
    assert_eq!(conf.get_port(&options::REST_PORT).unwrap(), 8081);
    assert_eq!(conf.get_positive_int(&options::TASKMANAGER_NUM_SLOTS).unwrap(), 2);
}

#[test]
fn start_and_stop_cluster_scripts_run_a_local_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    let (rpc, rest) = (free_port(), free_port());
    std::fs::write(
        conf_dir.join("rask.yaml"),
        format!(
            "jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: {rpc}\nrest.address: 127.0.0.1\nrest.port: {rest}\n\
             taskmanager.host: 127.0.0.1\ntaskmanager.numberOfTaskSlots: 3\n"
        ),
    )
    .unwrap();
    std::fs::write(conf_dir.join("workers"), "# two workers\nlocalhost\nlocalhost\n").unwrap();
    let script = |name: &str| {
        Command::new(deploy_dir().join("bin").join(name))
            .env("RASK_CONF_DIR", &conf_dir)
            .env("RASK_BIN_DIR", bin_dir())
            .env("RASK_PID_DIR", dir.path().join("pids"))
            .env("RASK_LOG_DIR", dir.path().join("log"))
            .output()
            .unwrap()
    };
    let out = script("start-cluster.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spec = ClusterSpec { rpc_port: rpc, rest_port: rest, settings: vec![] };
    spec.wait_slots(2, 6, Duration::from_secs(30));
    let pids: Vec<i32> = std::fs::read_dir(dir.path().join("pids"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap().trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3);

    let out = script("stop-cluster.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for pid in pids {
        // SAFETY: probing a pid with signal 0.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "));
        assert!(!alive || zombie, "process {pid} still running after stop-cluster.sh");
    }
    assert!(spec.overview().is_none(), "REST endpoint still answers");
    let jm_log = std::fs::read_to_string(dir.path().join("log/rask-jobmanager.log")).unwrap();
    assert!(jm_log.contains("deregistered (TaskManager is shutting down)"), "{jm_log}");
}

#[test]
fn install_script_puts_binaries_configuration_and_units_where_readme_says() {
    let stage = tempfile::tempdir().unwrap();
    let run = |bins: &Path, prefix: &str| {
        Command::new(deploy_dir().join("bin/install.sh"))
            .env("DESTDIR", stage.path())
            .env("PREFIX", prefix)
            .env("RASK_BIN_DIR", bins)
            .output()
            .unwrap()
    };
    let missing = run(Path::new("/no/such/dir"), "/usr/local");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cargo build --release"), "{}", String::from_utf8_lossy(&missing.stderr));
    let out = run(bin_dir(), "/usr/local");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for binary in ["rask", "rask-jobmanager", "rask-taskmanager"] {
        let installed = stage.path().join("usr/local/bin").join(binary);
        assert!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o111 != 0, "{binary} is executable");
    }
    let conf = stage.path().join("etc/rask/rask.yaml");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), std::fs::read_to_string(deploy_dir().join("conf/rask.yaml")).unwrap());
    // A second run keeps the operator's configuration.
    std::fs::write(&conf, "rest.port: 9091\n").unwrap();
    let again = run(bin_dir(), "/usr/local");
    assert!(again.status.success() && String::from_utf8_lossy(&again.stdout).contains("kept the existing"));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "rest.port: 9091\n");
    // The units it installed verify against the binaries it installed.
    let bins = format!("{}/", stage.path().join("usr/local/bin").display());
    let verify = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for name in ["rask-jobmanager.service", "rask-taskmanager@.service"] {
        let text = std::fs::read_to_string(stage.path().join("etc/systemd/system").join(name)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/"), "{name}");
        let file = verify.path().join(name.replace("@.", "@1."));
        std::fs::write(&file, text.replace("/usr/local/bin/", &bins)).unwrap();
        units.push(file);
    }
    let out = Command::new("systemd-analyze").arg("verify").args(&units).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "systemd-analyze verify: {}", String::from_utf8_lossy(&out.stderr));
    // Another PREFIX goes into ExecStart.
    let out = run(bin_dir(), "/opt/rask");
    assert!(out.status.success());
    let unit = std::fs::read_to_string(stage.path().join("etc/systemd/system/rask-jobmanager.service")).unwrap();
    assert!(unit.contains("ExecStart=/opt/rask/bin/rask-jobmanager --config /etc/rask/rask.yaml"), "{unit}");
}
