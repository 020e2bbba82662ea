//! Apache Flink 2.3's own CLI (`bin/flink`'s CliFrontend, from Flink's jars) against
//! a Rask cluster: `flink list`, `flink savepoint`, `flink cancel` and `flink list -a`
//! work unchanged. Needs a Java runtime and Flink 2.3's `lib/` jars in
//! `$RASK_FLINK_LIB` (`.ci/run` installs both: `default-jre-headless`, and the jars
//! from PyPI's `apache-flink-libraries`); without them the test fails and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rask_tests::*;

fn flink(lib: &Path, conf_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(std::env::var("RASK_JAVA").unwrap_or_else(|_| "java".into()))
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .arg("org.apache.flink.client.cli.CliFrontend")
        .args(args)
        .env("FLINK_CONF_DIR", conf_dir)
        .output()
        .expect("a Java runtime (java) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "flink {args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn flinks_own_cli_lists_savepoints_and_cancels_rask_jobs() {
    let lib =
        PathBuf::from(std::env::var("RASK_FLINK_LIB").expect(
            "RASK_FLINK_LIB must name Flink 2.3's lib/ directory (.ci/run downloads it: pip download apache-flink-libraries==2.3.0)",
        ));
    assert!(lib.join("flink-dist-2.3.0.jar").exists(), "{} holds no flink-dist-2.3.0.jar", lib.display());
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(20));
    let conf = dir.path().join("flink-conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("config.yaml"), "rest.connection-timeout: 10000\n").unwrap();
    let id = submit_detached(&format!("127.0.0.1:{}", spec.rest_port), &examples_dir().join("page-views.yaml"));
    wait_for(Duration::from_secs(20), "the job to run", || {
        get_json(&format!("{}/jobs/{id}", spec.rest_url())).filter(|j| j["state"] == "RUNNING")
    });
    let m = format!("127.0.0.1:{}", spec.rest_port);

    let listed = flink(&lib, &conf, &["list", "-m", &m]);
    assert!(listed.contains(&format!("{id} : page-views (RUNNING)")), "{listed}");

    let target = dir.path().join("savepoints");
    let saved = flink(&lib, &conf, &["savepoint", "-m", &m, &id, target.to_str().unwrap()]);
    let path = saved.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).unwrap_or_else(|| panic!("{saved}"));
    let local = path.trim().trim_start_matches("file:");
    assert!(std::path::Path::new(local).join("_metadata").exists(), "no savepoint at {local}: {saved}");

    let cancelled = flink(&lib, &conf, &["cancel", "-m", &m, &id]);
    assert!(cancelled.contains(&format!("Cancelled job {id}.")), "{cancelled}");
    let all = flink(&lib, &conf, &["list", "-a", "-m", &m]);
    assert!(all.contains(&format!("{id} : page-views (CANCELED)")), "{all}");
}
