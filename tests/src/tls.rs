//! Certificates for TLS tests: a test CA made with openssl, and a cluster's
//! certificates made by deploy/bin/make-certs.sh.

use super::*;

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
