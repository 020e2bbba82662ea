//! rask-tests: helpers for end-to-end tests and benchmarks that run Rask as real
//! processes on loopback — building the binaries, free ports, starting and signalling
//! daemons, polling the REST API.

pub mod browser;
mod ha;
pub mod nexmark;
mod rest;
mod tls;

pub use ha::*;
pub use rest::*;
pub use tls::*;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The directory holding the `rask*` binaries of the profile this program was built
/// with. When run under cargo, builds them first so tests always run current code.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let release = dir.ends_with("release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(cargo);
        // The whole workspace's binaries: the same features as `cargo test --workspace`
        // (no dev-dependencies anywhere), so after it this build has nothing to do.
        cmd.args(["build", "--quiet", "--manifest-path"]).arg(&manifest).args(["--workspace", "--bins"]);
        if release {
            cmd.arg("--release");
        }
        // Without the variables cargo sets for this test process: build scripts that
        // watch them (ring watches CARGO_MANIFEST_DIR) would otherwise make this build
        // differ from the one `cargo test` just did, and rebuild half the workspace.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            let set_for_tests = k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_EXE_")
                || matches!(
                    k.as_ref(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                );
            if set_for_tests {
                cmd.env_remove(&key);
            }
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the rask binaries failed");
        dir
    })
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A command for one of the binaries, without the developer's `RASK_*` and
/// `RUST_LOG` variables, so tests see only the configuration they give.
pub fn clean_command(binary: &str) -> Command {
    let mut cmd = Command::new(bin(binary));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("RASK_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// A TCP port that was free a moment ago on 127.0.0.1, and not handed out before by
/// this process. The binaries are built first, so that a port is not picked long
/// before a daemon binds it (a first build can take minutes).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    bin_dir();
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A daemon started as a child process. Its stderr (the log) is collected in memory
/// and in `log_path`. Dropping it kills the process.
pub struct Daemon {
    pub name: String,
    child: Child,
    log: Arc<Mutex<String>>,
    pub log_path: PathBuf,
    /// The thread copying stderr; it ends when the process has closed it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// Starts binary `binary` with `args`; `dir` receives the log file.
    pub fn spawn(name: &str, binary: &str, args: &[String], dir: &Path) -> Self {
        let mut cmd = clean_command(binary);
        cmd.args(args);
        Self::spawn_command(name, cmd, dir)
    }

    /// Starts `cmd` as a daemon named `name`; `dir` receives the log file.
    pub fn spawn_command(name: &str, mut cmd: Command, dir: &Path) -> Self {
        let log_path = dir.join(format!("{name}.log"));
        // A JobManager killed by the test cannot remove its working directory
        // (`jm_<id>` under the temp dir): keep it inside the test's directory.
        let jobmanager = cmd.get_program().to_string_lossy().ends_with("rask-jobmanager");
        if jobmanager && !cmd.get_envs().any(|(k, _)| k == "TMPDIR") {
            cmd.env("TMPDIR", dir);
        }
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let file_path = log_path.clone();
        let reader = std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(file_path).ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Self { name: name.into(), child, log, log_path, reader: Some(reader) }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        wait_for(timeout, &format!("'{needle}' in the log of {}", self.name), || self.log().contains(needle).then_some(()));
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: sending a signal to our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Waits for the process to exit, and for its last log lines to be read.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        let status = wait_for(timeout, &format!("{name} to exit"), || self.child.try_wait().ok().flatten());
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }

    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what its daemons said last.
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!("--- last lines of {} (pid {}) ---\n{tail}", self.name, self.child.id());
        }
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(libc::SIGCONT);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Ports and settings of one test cluster; builds daemons' command lines.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub rpc_port: u16,
    pub rest_port: u16,
    /// Extra -D settings for every daemon.
    pub settings: Vec<(String, String)>,
}

impl ClusterSpec {
    pub fn new() -> Self {
        Self { rpc_port: free_port(), rest_port: free_port(), settings: Vec::new() }
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    fn args(&self, extra: &[(&str, &str)]) -> Vec<String> {
        let mut all: Vec<(String, String)> = vec![
            ("jobmanager.rpc.address".into(), "127.0.0.1".into()),
            ("jobmanager.rpc.port".into(), self.rpc_port.to_string()),
            ("rest.address".into(), "127.0.0.1".into()),
            ("rest.port".into(), self.rest_port.to_string()),
            ("taskmanager.host".into(), "127.0.0.1".into()),
        ];
        // TaskManagers started before their JobManager listens retry at least every
        // second (the default back-off grows to 30 s).
        if !self.settings.iter().any(|(k, _)| k == "cluster.registration.max-timeout") {
            all.push(("cluster.registration.max-timeout".into(), "1000".into()));
        }
        all.extend(self.settings.iter().cloned());
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all.into_iter().flat_map(|(k, v)| ["-D".to_string(), format!("{k}={v}")]).collect()
    }

    pub fn jobmanager(&self, name: &str, dir: &Path) -> Daemon {
        Daemon::spawn(name, "rask-jobmanager", &self.args(&[]), dir)
    }

    /// A JobManager with extra -D settings of its own.
    pub fn jobmanager_with(&self, name: &str, dir: &Path, extra: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(name, "rask-jobmanager", &self.args(extra), dir)
    }

    pub fn taskmanager(&self, name: &str, dir: &Path, extra: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(name, "rask-taskmanager", &self.args(extra), dir)
    }

    pub fn overview(&self) -> Option<Value> {
        get_json(&format!("{}/overview", self.rest_url()))
    }

    /// Waits until `/overview` reports exactly `taskmanagers` and `slots`.
    pub fn wait_slots(&self, taskmanagers: u64, slots: u64, timeout: Duration) -> Value {
        wait_for(timeout, &format!("{taskmanagers} TaskManagers with {slots} slots"), || {
            self.overview().filter(|o| o["taskmanagers"] == taskmanagers && o["slots-total"] == slots)
        })
    }
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the `rask` CLI to completion.
pub fn rask(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = clean_command("rask");
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rask")
}

/// Runs a daemon binary to completion (for configuration errors).
pub fn run_to_exit(binary: &str, args: &[&str]) -> Output {
    let mut child =
        clean_command(binary).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{binary} {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// The data rows of the tables the print sink writes (`| a | b |` lines), without
/// header rows (those whose first cell is `header`).
pub fn table_rows(output: &str, header: &str) -> Vec<Vec<String>> {
    output
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect::<Vec<_>>())
        .filter(|cells| cells.first().map(String::as_str) != Some(header))
        .collect()
}

/// Where `rask` keeps the files of the dedicated (per-job or application) cluster
/// `cluster`: `$TMPDIR/rask-<cluster id>`.
pub fn dedicated_cluster_dir(cluster: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rask-{cluster}"))
}

/// The repository's `examples/` directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Submits a job file with `rask run --detached -m m`; returns its JobID.
pub fn submit_detached(m: &str, job: &Path) -> String {
    submit_detached_with(m, job, &[])
}

/// [`submit_detached`] with extra `rask run` arguments (e.g. `--fromSavepoint PATH`).
pub fn submit_detached_with(m: &str, job: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", "--detached", "-m", m];
    args.extend_from_slice(extra);
    args.push(job.to_str().expect("UTF-8 path"));
    let out = rask(&args, &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "rask run: {}", String::from_utf8_lossy(&out.stderr));
    text.lines()
        .find_map(|l| l.strip_prefix("Job has been submitted with JobID "))
        .unwrap_or_else(|| panic!("no JobID in: {text}"))
        .trim()
        .to_string()
}

/// Writes a bounded counting job at parallelism 2 into an exactly-once file sink
/// (`out/` next to it): `rows` ids counted by `id % keys`, at `rate` rows/s.
pub fn write_counting_job(dir: &Path, rows: u64, keys: u64, rate: u64) -> PathBuf {
    let job = dir.join("job.yaml");
    std::fs::write(
        &job,
        format!(
            "name: counting\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: {rows}\n    rows-per-second: {rate}\n    \
             fields:\n      - {{name: id, type: BIGINT, kind: sequence}}\npipeline:\n  - map: \"id % {keys} AS k\"\n  - key_by: k\n  \
             - name: counts\n    aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {{name: out, connector: file, path: out, format: csv}}\n"
        ),
    )
    .expect("write the job file");
    job
}

/// The file sink's committed output of the counting job: the last count per key,
/// and how many (key, count) updates appear twice.
pub fn committed_counts(dir: &Path) -> (std::collections::HashMap<String, u64>, usize) {
    let mut last: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0;
    for entry in std::fs::read_dir(dir).expect("the output directory") {
        let entry = entry.expect("a directory entry");
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).expect("an output file").lines().filter(|l| *l != "k,n") {
            let (k, n) = line.split_once(',').expect("k,n");
            let n: u64 = n.parse().expect("a count");
            if !seen.insert((k.to_string(), n)) {
                duplicates += 1;
            }
            let v = last.entry(k.to_string()).or_default();
            *v = (*v).max(n);
        }
    }
    (last, duplicates)
}

/// Asserts the counting job's committed output is exact: every key, its full count,
/// no update twice.
pub fn assert_exact_counts(out: &Path, rows: u64, keys: u64) {
    let (last, duplicates) = committed_counts(out);
    assert_eq!(duplicates, 0, "no committed update appears twice");
    assert_eq!(last.len() as u64, keys, "every key has output");
    let wrong: Vec<_> = last.iter().filter(|(_, &n)| n != rows / keys).take(5).collect();
    assert!(wrong.is_empty(), "exact counts; wrong: {wrong:?}");
}

/// Live processes (not zombies) whose command line contains `needle`: (pid, command line).
pub fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(needle) || pid == std::process::id() {
            continue;
        }
        // A zombie has exited; only its parent has not reaped it yet.
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next().unwrap_or('?')).unwrap_or('?');
        if state != 'Z' {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Waits until no live process's command line contains `needle`.
pub fn wait_no_process_with(needle: &str, timeout: Duration) {
    wait_for(timeout, &format!("no process of {needle} left"), || processes_with(needle).is_empty().then_some(()));
}

/// The value after `prefix` on the first line of `text` that starts with it.
pub fn line_value(text: &str, prefix: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().to_string())
}

/// Word counts of examples/data/words.txt, computed here.
pub fn expected_word_counts() -> std::collections::BTreeMap<String, u64> {
    let text = std::fs::read_to_string(examples_dir().join("data/words.txt")).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for piece in text.split_whitespace() {
        let word: String = piece.trim_matches(|c: char| !c.is_alphanumeric()).chars().flat_map(char::to_lowercase).collect();
        if !word.is_empty() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

/// The final count per word: the running counts only grow, so the largest.
pub fn printed_word_counts(out: &str) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for row in table_rows(out, "word") {
        let n: u64 = row[1].parse().unwrap();
        let e = counts.entry(row[0].clone()).or_insert(0);
        *e = (*e).max(n);
    }
    counts
}

/// The median of benchmark samples.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN samples"));
    samples[samples.len() / 2]
}

/// A benchmark's `--runs N` (the only flag it takes), else `default`; a bad command
/// line prints the usage and exits 2.
pub fn runs_arg(program: &str, default: usize) -> usize {
    let mut runs = default;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--runs", Some(v)) => runs = v,
            _ => {
                eprintln!("usage: {program} [--runs N]");
                std::process::exit(2);
            }
        }
    }
    runs
}
