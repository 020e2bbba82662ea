//! High availability in tests: a real etcd server started by the test, and
//! JobManagers and TaskManagers configured for it.

use super::*;
use crate::rest::http;

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
