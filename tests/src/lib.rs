//! rask-tests: helpers for end-to-end tests and benchmarks that run Rask as real
//! processes on loopback — building the binaries, free ports, starting and signalling
//! daemons, polling the REST API.

pub mod browser;

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

/// GET a JSON document; `None` when unreachable or not 2xx.
pub fn get_json(url: &str) -> Option<Value> {
    let response = http().get(url).send().ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().ok()
}

/// GET returning (status, body text) whatever the status.
pub fn get_text(url: &str) -> (u16, String) {
    let response = http().get(url).send().expect("request");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

/// GET returning (status, JSON body) whatever the status.
pub fn get_status_json(url: &str) -> (u16, Value) {
    let response = http().get(url).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn http() -> &'static reqwest::blocking::Client {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(|| reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().expect("client"))
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

/// The etcd server binary: `$RASK_ETCD`, else `etcd` on the PATH. HA tests need a
/// real etcd and fail (never skip) without one.
pub fn etcd_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("RASK_ETCD") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("etcd")).find(|p| p.is_file()))
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!("the HA tests need an etcd server binary: install Debian's etcd-server (apt-get install -y etcd-server; .ci/run does) or set RASK_ETCD")
    })
}

/// Files of a test certificate authority, a server certificate for 127.0.0.1 and a
/// client certificate, made with the `openssl` command.
#[derive(Clone, Debug)]
pub struct TestCertificates {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestCertificates {
    pub fn create(dir: &Path) -> Self {
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command (apt-get install openssl)");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=rask-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        for (name, ext) in [("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "extendedKeyUsage=clientAuth")] {
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN=rask-{name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ]);
            std::fs::write(dir.join(format!("{name}.ext")), format!("{ext}\n")).expect("write ext");
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ]);
        }
        Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }
}

/// A single-member etcd on free loopback ports, its data in a directory of the test;
/// it can be stopped and started again on the same ports and data. With TLS it
/// requires client certificates signed by its CA.
pub struct Etcd {
    daemon: Option<Daemon>,
    pub url: String,
    peer_url: String,
    dir: PathBuf,
    pub tls: Option<TestCertificates>,
}

impl Etcd {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, None)
    }

    /// etcd serving clients over TLS (https://) and checking their certificates.
    pub fn start_tls(dir: &Path) -> Self {
        Self::start_with(dir, Some(TestCertificates::create(dir)))
    }

    fn start_with(dir: &Path, tls: Option<TestCertificates>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut etcd = Self {
            daemon: None,
            url: format!("{scheme}://127.0.0.1:{}", free_port()),
            peer_url: format!("http://127.0.0.1:{}", free_port()),
            dir: dir.to_path_buf(),
            tls,
        };
        etcd.run();
        etcd
    }

    fn run(&mut self) {
        let data = self.dir.join("etcd-data");
        let mut args: Vec<String> = [
            "--name",
            "rask-test",
            "--data-dir",
            data.to_str().expect("UTF-8 path"),
            "--listen-client-urls",
            &self.url,
            "--advertise-client-urls",
            &self.url,
            "--listen-peer-urls",
            &self.peer_url,
            "--initial-advertise-peer-urls",
            &self.peer_url,
            "--initial-cluster",
            &format!("rask-test={}", self.peer_url),
            "--log-level",
            "info",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(tls) = &self.tls {
            for (flag, path) in [("--cert-file", &tls.server_cert), ("--key-file", &tls.server_key), ("--trusted-ca-file", &tls.ca)] {
                args.push(flag.to_string());
                args.push(path.display().to_string());
            }
            args.push("--client-cert-auth".to_string());
        }
        let mut cmd = Command::new(etcd_binary());
        cmd.args(&args);
        let daemon = Daemon::spawn_command("etcd", cmd, &self.dir);
        match self.tls {
            None => {
                let health = format!("{}/health", self.url);
                wait_for(Duration::from_secs(20), "etcd to be healthy", || get_json(&health).filter(|h| h["health"] == "true"));
            }
            Some(_) => daemon.wait_log("ready to serve client requests", Duration::from_secs(20)),
        }
        self.daemon = Some(daemon);
    }

    /// Stops etcd (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.sigterm();
            d.wait_exit(Duration::from_secs(10));
        }
    }

    /// Starts etcd again on the same ports with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Adds user `root` with `password` and turns authentication on, through etcd's
    /// JSON gateway.
    pub fn enable_auth(&self, password: &str) {
        for (path, body) in [
            ("/v3/auth/user/add", serde_json::json!({ "name": "root", "password": password })),
            ("/v3/auth/user/grant", serde_json::json!({ "user": "root", "role": "root" })),
            ("/v3/auth/enable", serde_json::json!({})),
        ] {
            let response = http().post(format!("{}{path}", self.url)).json(&body).send().expect("etcd gateway");
            assert!(response.status().is_success(), "{path}: {:?}", response.text());
        }
    }
}

/// A JobManager of an HA cluster, with its own ports.
pub struct HaJobManager {
    pub daemon: Daemon,
    pub rest_port: u16,
}

impl HaJobManager {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// Whether this JobManager leads: its REST API answers itself rather than
    /// redirecting to the leader (307) or refusing (503).
    pub fn is_leader(&self) -> bool {
        static NO_REDIRECT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
        let client = NO_REDIRECT.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(2))
                .build()
                .expect("client")
        });
        client.get(format!("{}/overview", self.url())).send().map(|r| r.status().as_u16() == 200).unwrap_or(false)
    }
}

/// Settings of an HA cluster on a test etcd: JobManagers and TaskManagers find each
/// other through etcd (no jobmanager.rpc.address), with a 2 s lease.
#[derive(Clone, Debug)]
pub struct HaSpec {
    pub settings: Vec<(String, String)>,
}

impl HaSpec {
    pub fn new(etcd: &Etcd) -> Self {
        let cluster = format!("test-{}", free_port());
        let settings = [
            ("high-availability.type", "etcd"),
            ("high-availability.etcd.endpoints", etcd.url.as_str()),
            ("high-availability.cluster-id", cluster.as_str()),
            ("high-availability.etcd.lease-ttl", "2"),
            ("taskmanager.host", "127.0.0.1"),
            ("jobmanager.rpc.address", "127.0.0.1"),
            ("rest.address", "127.0.0.1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut spec = Self { settings };
        if let Some(tls) = &etcd.tls {
            for (key, path) in [
                ("high-availability.etcd.tls.ca-cert", &tls.ca),
                ("high-availability.etcd.tls.cert", &tls.client_cert),
                ("high-availability.etcd.tls.key", &tls.client_key),
            ] {
                spec = spec.with(key, &path.display().to_string());
            }
        }
        spec
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// `-D key=value` for every setting, then `extra`.
    pub fn args(&self, extra: &[(&str, &str)]) -> Vec<String> {
        self.settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .flat_map(|(k, v)| ["-D".to_string(), format!("{k}={v}")])
            .collect()
    }

    pub fn jobmanager(&self, name: &str, dir: &Path) -> HaJobManager {
        let rest_port = free_port();
        let args = self.args(&[("rest.port", &rest_port.to_string()), ("jobmanager.rpc.port", &free_port().to_string())]);
        HaJobManager { daemon: Daemon::spawn(name, "rask-jobmanager", &args, dir), rest_port }
    }

    pub fn taskmanager(&self, name: &str, dir: &Path, extra: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(name, "rask-taskmanager", &self.args(extra), dir)
    }

    /// Runs the `rask` CLI with this cluster's settings (it finds the leader in etcd).
    pub fn rask(&self, args: &[&str]) -> Output {
        let (command, rest) = args.split_first().expect("a command");
        let mut all: Vec<String> = vec![command.to_string()];
        all.extend(self.args(&[]));
        all.extend(rest.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        rask(&refs, &[])
    }
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

/// POST a JSON body; (status, JSON answer) whatever the status.
pub fn post_status_json(url: &str, body: &Value) -> (u16, Value) {
    let response = http().post(url).json(body).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// POST raw bytes; (status, JSON answer) whatever the status.
pub fn post_bytes(url: &str, body: Vec<u8>) -> (u16, Value) {
    let response = http().post(url).header("content-type", "application/json").body(body).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A cluster's certificates, made by `deploy/bin/make-certs.sh` (so the script an
/// operator runs is the one tested): `ca.crt`, `internal.*`, `rest.*`, `client.*`.
pub struct ClusterCertificates {
    pub dir: PathBuf,
}

impl ClusterCertificates {
    pub fn make(dir: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/bin/make-certs.sh");
        let out = Command::new("bash").arg(&script).arg(dir).output().expect("run make-certs.sh");
        assert!(out.status.success(), "make-certs.sh: {}", String::from_utf8_lossy(&out.stderr));
        Self { dir: dir.to_path_buf() }
    }

    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The `security.ssl.internal.*` settings.
    pub fn internal(&self) -> Vec<(String, String)> {
        vec![
            ("security.ssl.internal.enabled".into(), "true".into()),
            ("security.ssl.internal.cert".into(), self.file("internal.crt")),
            ("security.ssl.internal.key".into(), self.file("internal.key")),
            ("security.ssl.internal.trust-cert".into(), self.file("ca.crt")),
        ]
    }

    /// The JobManager's `security.ssl.rest.*` settings, requiring client certificates.
    pub fn rest_server(&self) -> Vec<(String, String)> {
        vec![
            ("security.ssl.rest.enabled".into(), "true".into()),
            ("security.ssl.rest.cert".into(), self.file("rest.crt")),
            ("security.ssl.rest.key".into(), self.file("rest.key")),
            ("security.ssl.rest.trust-cert".into(), self.file("ca.crt")),
            ("security.ssl.rest.authentication-enabled".into(), "true".into()),
        ]
    }

    /// `-D` arguments for the CLI against that REST endpoint, with or without the
    /// client certificate.
    pub fn rest_client_args(&self, with_client_cert: bool) -> Vec<String> {
        let mut settings = vec![("security.ssl.rest.enabled", "true".to_string()), ("security.ssl.rest.trust-cert", self.file("ca.crt"))];
        if with_client_cert {
            settings.push(("security.ssl.rest.client-cert", self.file("client.crt")));
            settings.push(("security.ssl.rest.client-key", self.file("client.key")));
        }
        settings.into_iter().flat_map(|(k, v)| ["-D".to_string(), format!("{k}={v}")]).collect()
    }

    /// A blocking HTTPS client that trusts the CA and, optionally, presents the
    /// client certificate.
    pub fn https_client(&self, with_client_cert: bool) -> reqwest::blocking::Client {
        let ca = std::fs::read(self.dir.join("ca.crt")).expect("ca.crt");
        let mut builder = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
            .timeout(Duration::from_secs(5));
        if with_client_cert {
            let mut pem = std::fs::read(self.dir.join("client.crt")).expect("client.crt");
            pem.extend(std::fs::read(self.dir.join("client.key")).expect("client.key"));
            builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
        }
        builder.build().expect("HTTPS client")
    }
}

/// Where `ours` lacks the shape of `sample` (a real Flink answer): every key of every
/// object in `sample` must be in `ours` with the same JSON type (numbers are one type;
/// `null` in the sample matches anything), recursively; arrays compare their first
/// elements when both have one. Returns the differences as `path: what`.
pub fn shape_differences(sample: &Value, ours: &Value, path: &str) -> Vec<String> {
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    let mut out = Vec::new();
    match (sample, ours) {
        (Value::Null, _) => {}
        (Value::Object(s), Value::Object(o)) => {
            for (key, value) in s {
                match o.get(key) {
                    Some(theirs) => out.extend(shape_differences(value, theirs, &format!("{path}.{key}"))),
                    None => out.push(format!("{path}.{key}: missing (Flink: {})", kind(value))),
                }
            }
        }
        (Value::Array(s), Value::Array(o)) => {
            if let (Some(s0), Some(o0)) = (s.first(), o.first()) {
                out.extend(shape_differences(s0, o0, &format!("{path}[0]")));
            }
        }
        // Flink writes a double that is not a number as the string "NaN" (Jackson):
        // the field is a number.
        (Value::String(nan), Value::Number(_)) if ["NaN", "Infinity", "-Infinity"].contains(&nan.as_str()) => {}
        (s, o) if kind(s) != kind(o) => out.push(format!("{path}: {} (Flink: {})", kind(o), kind(s))),
        _ => {}
    }
    out
}
