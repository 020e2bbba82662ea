//! TLS settings with Flink's keys. `security.ssl.internal.*`: mutual TLS on every gRPC
//! connection (a peer must present a certificate signed by the cluster's CA);
//! `security.ssl.rest.*`: HTTPS on the REST endpoint, with client certificates when
//! `authentication-enabled`. PEM files are read once, when the configuration loads,
//! and every error names the key and the file (never the key material).

use std::path::PathBuf;
use std::sync::Arc;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::config::{options as o, ConfigOption, Configuration};

/// A PEM file larger than this is refused before it is read whole.
const MAX_PEM_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key} must be set when {enabled} is true")]
    Missing { key: &'static str, enabled: &'static str },
    #[error("cannot read {key} ({path}): {reason}")]
    Read { key: &'static str, path: PathBuf, reason: String },
    #[error("{key} ({path}) holds no PEM {what}")]
    NotPem { key: &'static str, path: PathBuf, what: &'static str },
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// PEM bytes read from the file a key names.
#[derive(Clone)]
pub struct Pem(pub Vec<u8>);

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

fn read_pem(conf: &Configuration, option: &'static ConfigOption, enabled: &'static str, what: &'static str) -> Result<Pem, TlsError> {
    let path = PathBuf::from(conf.get_string(option).ok_or(TlsError::Missing { key: option.key, enabled })?);
    // The path of a sensitive key (`….key`) is shown as `******`, like its value.
    let shown = PathBuf::from(crate::config::shown_value(option.key, &path.display().to_string()));
    let read = |reason: String| TlsError::Read { key: option.key, path: shown.clone(), reason };
    let len = std::fs::metadata(&path).map_err(|e| read(e.to_string()))?.len();
    if len > MAX_PEM_BYTES {
        return Err(read(format!("{len} bytes; a PEM file is at most {MAX_PEM_BYTES}")));
    }
    let bytes = std::fs::read(&path).map_err(|e| read(e.to_string()))?;
    let marker = if what == "private key" { "PRIVATE KEY-----" } else { "-----BEGIN CERTIFICATE-----" };
    if !String::from_utf8_lossy(&bytes).contains(marker) {
        return Err(TlsError::NotPem { key: option.key, path: shown, what });
    }
    Ok(Pem(bytes))
}

/// Mutual TLS for the internal gRPC connections: every process presents `cert` and
/// accepts only peers whose certificate `trust` (the cluster's CA) signed.
#[derive(Debug, Clone)]
pub struct InternalTls {
    cert: Pem,
    key: Pem,
    trust: Pem,
}

impl InternalTls {
    /// `None` unless `security.ssl.internal.enabled: true`; then the three PEM files
    /// must be readable.
    pub fn from_configuration(conf: &Configuration) -> Result<Option<Arc<Self>>, TlsError> {
        if !conf.get_bool(&o::SSL_INTERNAL_ENABLED)? {
            return Ok(None);
        }
        let enabled = o::SSL_INTERNAL_ENABLED.key;
        Ok(Some(Arc::new(Self {
            cert: read_pem(conf, &o::SSL_INTERNAL_CERT, enabled, "certificate")?,
            key: read_pem(conf, &o::SSL_INTERNAL_KEY, enabled, "private key")?,
            trust: read_pem(conf, &o::SSL_INTERNAL_TRUST_CERT, enabled, "certificate")?,
        })))
    }

    /// The server side: our certificate, client certificates required (signed by the
    /// trusted CA), HTTP/2 by ALPN. Served through [`incoming`], our own accept loop.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(&self.trust, o::SSL_INTERNAL_TRUST_CERT.key)?),
            provider(),
        )
        .build()
        .map_err(|e| TlsError::Setup(format!("{}: {e}", o::SSL_INTERNAL_TRUST_CERT.key)))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certificates(&self.cert)?, private_key(&self.key)?)
            .map_err(|e| TlsError::Setup(format!("security.ssl.internal.cert/key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// The client side: trust only the cluster's CA, present our certificate.
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.trust.0)).identity(Identity::from_pem(&self.cert.0, &self.key.0))
    }
}

/// An endpoint for a gRPC peer at `host:port`: plain HTTP/2, or mutual TLS when `tls`
/// is set (the peer's certificate must name `host`).
pub fn endpoint(address: &str, tls: Option<&InternalTls>) -> Result<Endpoint, TlsError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoint =
        Endpoint::from_shared(format!("{scheme}://{address}")).map_err(|e| TlsError::Setup(format!("address {address}: {e}")))?;
    match tls {
        None => Ok(endpoint),
        Some(tls) => endpoint.tls_config(tls.client_config()).map_err(|e| TlsError::Setup(format!("address {address}: {e}"))),
    }
}

/// HTTPS for the REST endpoint and the CLI that calls it.
#[derive(Debug, Clone)]
pub struct RestTls {
    /// The server's certificate and key (absent in a CLI configuration that only
    /// needs to trust the server).
    pub cert: Option<Pem>,
    pub key: Option<Pem>,
    /// The CA the CLI trusts for the server and, with `authentication_enabled`, the
    /// server trusts for clients.
    pub trust: Option<Pem>,
    pub authentication_enabled: bool,
    /// The CLI's client certificate and key (`client-cert`/`client-key`, else
    /// `cert`/`key`).
    pub client_cert: Option<Pem>,
    pub client_key: Option<Pem>,
}

impl RestTls {
    /// For the JobManager: `None` unless `security.ssl.rest.enabled: true`; then the
    /// certificate and key are required, and the trust certificate with
    /// `authentication-enabled`.
    pub fn server_from_configuration(conf: &Configuration) -> Result<Option<Arc<Self>>, TlsError> {
        if !conf.get_bool(&o::SSL_REST_ENABLED)? {
            return Ok(None);
        }
        let enabled = o::SSL_REST_ENABLED.key;
        let authentication_enabled = conf.get_bool(&o::SSL_REST_AUTHENTICATION_ENABLED)?;
        let trust = match authentication_enabled {
            true => Some(read_pem(conf, &o::SSL_REST_TRUST_CERT, o::SSL_REST_AUTHENTICATION_ENABLED.key, "certificate")?),
            false => None,
        };
        Ok(Some(Arc::new(Self {
            cert: Some(read_pem(conf, &o::SSL_REST_CERT, enabled, "certificate")?),
            key: Some(read_pem(conf, &o::SSL_REST_KEY, enabled, "private key")?),
            trust,
            authentication_enabled,
            client_cert: None,
            client_key: None,
        })))
    }

    /// For a REST client (the CLI, a TaskManager): `None` unless
    /// `security.ssl.rest.enabled: true`; then the trust certificate is required, and
    /// a client certificate is sent when one is configured.
    pub fn client_from_configuration(conf: &Configuration) -> Result<Option<Arc<Self>>, TlsError> {
        if !conf.get_bool(&o::SSL_REST_ENABLED)? {
            return Ok(None);
        }
        let enabled = o::SSL_REST_ENABLED.key;
        let optional = |option: &'static ConfigOption, what| match conf.contains(option) {
            true => read_pem(conf, option, enabled, what).map(Some),
            false => Ok(None),
        };
        let client_cert = match optional(&o::SSL_REST_CLIENT_CERT, "certificate")? {
            Some(c) => Some(c),
            None => optional(&o::SSL_REST_CERT, "certificate")?,
        };
        let client_key = match optional(&o::SSL_REST_CLIENT_KEY, "private key")? {
            Some(k) => Some(k),
            None => optional(&o::SSL_REST_KEY, "private key")?,
        };
        Ok(Some(Arc::new(Self {
            cert: None,
            key: None,
            trust: Some(read_pem(conf, &o::SSL_REST_TRUST_CERT, enabled, "certificate")?),
            authentication_enabled: conf.get_bool(&o::SSL_REST_AUTHENTICATION_ENABLED)?,
            client_cert,
            client_key,
        })))
    }
}

fn certificates(pem: &Pem) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(&pem.0)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Setup(format!("certificate PEM: {e}")))
}

fn private_key(pem: &Pem) -> Result<rustls::pki_types::PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem.0).map_err(|e| TlsError::Setup(format!("private key PEM: {e}")))
}

fn roots(pem: &Pem, key: &'static str) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(pem)? {
        roots.add(c).map_err(|e| TlsError::Setup(format!("{key}: {e}")))?;
    }
    Ok(roots)
}

/// How long a peer may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the listen queue.
const CONCURRENT_HANDSHAKES: usize = 256;

/// The connections of `listener` that completed a TLS handshake under `config`, for
/// tonic's `serve_with_incoming`. A failed, slow or abandoned handshake is dropped
/// (logged at DEBUG) and never ends the stream, so no peer can stop the server;
/// handshakes are bounded in time and number.
pub fn incoming(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> impl tokio_stream::Stream<Item = Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::io::Error>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let handshakes = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = handshakes.clone().acquire_owned().await else { return };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, never give up.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => tracing::debug!("TLS handshake from {peer} failed: {e}"),
                    Err(_) => tracing::debug!("TLS handshake from {peer} timed out"),
                }
                drop(permit);
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl RestTls {
    /// The REST server's rustls configuration (HTTP/1.1), requiring client
    /// certificates signed by the trust certificate when `authentication_enabled`.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return Err(TlsError::Setup("the REST endpoint needs security.ssl.rest.cert and .key".into()));
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        let builder = match (&self.trust, self.authentication_enabled) {
            (Some(trust), true) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(trust, o::SSL_REST_TRUST_CERT.key)?),
                    provider(),
                )
                .build()
                .map_err(|e| TlsError::Setup(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| TlsError::Setup(format!("security.ssl.rest.cert/key: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The trust certificate and the client identity (certificate chain then key, one
    /// PEM) for an HTTP client such as reqwest.
    pub fn client_parts(&self) -> (Option<&[u8]>, Option<Vec<u8>>) {
        let identity = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some([c.0.as_slice(), b"\n", k.0.as_slice()].concat()),
            _ => None,
        };
        (self.trust.as_ref().map(|t| t.0.as_slice()), identity)
    }
}
