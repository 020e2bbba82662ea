//! Dedicated clusters the CLI starts: a per-job cluster (`rask run --target per-job`:
//! the program step ran here, the JobGraph is handed over) and an application
//! cluster (`rask run-application`: the application file and the files it references
//! are shipped, and the JobManager runs the program step). Each is a `rask-jobmanager`
//! process in its own session, with the `process` resource provider, on ports the OS
//! picks. It stops on its own when its jobs are done.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rask_common::config::Configuration;
use rask_common::job::application::Application;

use crate::address::ClusterOptions;

/// How long a new cluster may take to serve REST.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A dedicated cluster this CLI started.
pub struct StartedCluster {
    pub cluster_id: String,
    pub rest_url: String,
    /// Where its files are: logs (`log/`), the shipped application (`usrlib/`).
    pub dir: PathBuf,
    pub log_dir: PathBuf,
    pub process: tokio::process::Child,
}

/// `name` (a Rask binary) next to this `rask` binary.
fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent().map(|d| d.join(name)).unwrap_or_else(|| PathBuf::from(name))
}

fn jobmanager_binary() -> PathBuf {
    sibling_binary("rask-jobmanager")
}

/// A dedicated cluster runs `rask-jobmanager`, which starts `rask-taskmanager`s: both
/// must be next to `rask`.
fn check_binaries() -> anyhow::Result<()> {
    let missing: Vec<PathBuf> = ["rask-jobmanager", "rask-taskmanager"].into_iter().map(sibling_binary).filter(|p| !p.is_file()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
    anyhow::bail!(
        "a dedicated cluster needs {} next to rask: build all three with `cargo build --release` (or install all three, as README's systemd section does); --target local needs neither",
        names.join(" and ")
    )
}

/// A fresh directory for a cluster's files under the system's temporary directory.
pub fn cluster_dir(cluster_id: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("rask-{cluster_id}"));
    std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Starts `rask-jobmanager` with `mode_args` in `dir` and waits until it serves REST.
/// The user's configuration (`--config`, `-D`) is passed on; ports are the OS's.
pub async fn start(
    cluster_id: &str,
    dir: &Path,
    opts: &ClusterOptions,
    conf: &Configuration,
    mode_args: &[String],
) -> anyhow::Result<StartedCluster> {
    check_binaries().inspect_err(|_| {
        let _ = std::fs::remove_dir_all(dir);
    })?;
    let log_dir = conf.get_string(&rask_common::config::options::ENV_LOG_DIR).map(PathBuf::from).unwrap_or_else(|| dir.join("log"));
    std::fs::create_dir_all(&log_dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", log_dir.display()))?;
    let ready = dir.join("rest-url");
    let _ = std::fs::remove_file(&ready);
    let log_path = log_dir.join("jobmanager.log");
    let log = std::fs::File::create(&log_path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", log_path.display()))?;
    let mut cmd = tokio::process::Command::new(jobmanager_binary());
    // The JobManager runs in the cluster directory: relative paths are made absolute.
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| anyhow::anyhow!("cannot resolve {}: {e}", p.display()));
    if let Some(config) = &opts.config {
        cmd.arg("--config").arg(absolute(config)?);
    }
    if let Some(conf_dir) = std::env::var_os("RASK_CONF_DIR") {
        cmd.env("RASK_CONF_DIR", absolute(Path::new(&conf_dir))?);
    }
    for d in &opts.dynamic {
        // A secret goes through the environment (readable by this user only), not the
        // command line (readable by every user of the host).
        match d.split_once('=') {
            Some((key, value)) if rask_common::config::is_sensitive(key) => {
                cmd.env(rask_common::config::options::env_var_name(key.trim()), value);
            }
            _ => {
                cmd.arg("-D").arg(d);
            }
        }
    }
    for (key, value) in [
        ("high-availability.cluster-id", cluster_id.to_string()),
        // The cluster's JobManager is its only one: no HA, whatever the session uses.
        ("high-availability.type", "none".to_string()),
        ("jobmanager.resource-provider", "process".to_string()),
        ("jobmanager.rpc.port", "0".to_string()),
        ("rest.port", "0".to_string()),
        ("env.log.dir", log_dir.display().to_string()),
    ] {
        cmd.arg("-D").arg(format!("{key}={value}"));
    }
    cmd.args(mode_args).arg("--ready-file").arg(&ready).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    // Its own process group: a Ctrl-C at this terminal does not reach the cluster.
    cmd.process_group(0);
    let mut process = cmd.spawn().map_err(|e| {
        // Nothing ran: the staged files and the empty log are of no use.
        let _ = std::fs::remove_dir_all(dir);
        anyhow::anyhow!(
            "cannot start {}: {e} (a dedicated cluster needs rask-jobmanager and rask-taskmanager next to rask: `cargo build --release`)",
            jobmanager_binary().display()
        )
    })?;
    // The JobManager prints its REST URL on stdout once it serves (and closes nothing
    // else there): read that line, or the end of stdout if it exits first.
    let stdout = process.stdout.take().expect("stdout is piped");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let rest_url = match tokio::time::timeout(STARTUP_TIMEOUT, lines.next_line()).await {
        Ok(Ok(Some(url))) => url.trim().to_string(),
        Ok(_) => {
            let status = tokio::time::timeout(Duration::from_secs(5), process.wait()).await;
            if status.is_err() {
                // Its stdout closed but it runs on: no orphan cluster is left behind.
                let _ = process.start_kill();
            }
            let status =
                status.map(|s| s.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())).unwrap_or_else(|_| "still running".into());
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            anyhow::bail!("the cluster's JobManager exited ({status}) before serving:\n{}", tail.join("\n"));
        }
        Err(_) => {
            let _ = process.start_kill();
            anyhow::bail!("the cluster's JobManager did not serve within {} s (log: {})", STARTUP_TIMEOUT.as_secs(), log_path.display());
        }
    };
    Ok(StartedCluster { cluster_id: cluster_id.to_string(), rest_url, dir: dir.to_path_buf(), log_dir, process })
}

/// Copies the application file and every file it references by a relative path into
/// `usrlib/` under `dir`, keeping their layout; returns the shipped application file.
/// The files copied are listed in `dir/shipped-files`, so that the cluster removes
/// exactly those when it is done (and nothing a job wrote beside them).
pub fn ship(application: &Application, dir: &Path) -> anyhow::Result<PathBuf> {
    let base = application.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let usrlib = dir.join("usrlib");
    let name = application.file.file_name().ok_or_else(|| anyhow::anyhow!("{} names no file", application.file.display()))?;
    let mut files = application.referenced_files()?;
    files.push(PathBuf::from(name));
    let mut shipped = Vec::new();
    for relative in files {
        copy(&base.join(&relative), &usrlib.join(&relative), &mut shipped)?;
    }
    let manifest: String = shipped.iter().filter_map(|p| p.strip_prefix(dir).ok()).map(|p| format!("{}\n", p.display())).collect();
    let path = dir.join(SHIPPED_FILES);
    std::fs::write(&path, manifest).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(usrlib.join(name))
}

/// The list of shipped files in a cluster's directory (see `rask-jobmanager --cleanup-dir`).
const SHIPPED_FILES: &str = "shipped-files";

fn copy(from: &Path, to: &Path, shipped: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let err = |e: std::io::Error| anyhow::anyhow!("cannot ship {} to {}: {e}", from.display(), to.display());
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(err)?;
        for entry in std::fs::read_dir(from).map_err(err)? {
            let entry = entry.map_err(err)?;
            copy(&entry.path(), &to.join(entry.file_name()), shipped)?;
        }
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::copy(from, to).map_err(err)?;
    shipped.push(to.to_path_buf());
    Ok(())
}

/// Waits (at most 40 s) for a dedicated cluster's JobManager to exit; its status.
pub async fn wait_for_exit(process: &mut tokio::process::Child) -> Option<std::process::ExitStatus> {
    tokio::time::timeout(Duration::from_secs(40), process.wait()).await.ok()?.ok()
}

/// `host:port` of a REST URL, as `-m` takes it.
pub fn host_port(rest_url: &str) -> &str {
    rest_url.split_once("://").map_or(rest_url, |(_, rest)| rest).trim_end_matches('/')
}

/// The message of the last ERROR line of a JobManager's log (read at most 1 MiB from its end).
pub fn last_error(log: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(1 << 20))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines().rev().find_map(|l| l.split_once(" ERROR ").map(|(_, m)| m.trim().to_string()))
}
