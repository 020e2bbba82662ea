//! Finding the JobManager's REST endpoint, in Flink's order: `-m host:port`, then the
//! configuration (`--config`, else `$RASK_CONF_DIR/rask.yaml`, the environment, `-D`):
//! with `high-availability.type: etcd` the leader is looked up in etcd, else
//! `rest.address`/`rest.port` (or their defaults) name it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use rask_common::config::{options, Configuration};
use rask_common::etcd::{EtcdLeaderRetrieval, EtcdSettings};
use rask_common::leader::{current_leader, LeaderRetrieval};
use rask_common::net::host_port;
use rask_common::security::RestTls;

use crate::rest_client::RestClient;

/// Options every verb that talks to a JobManager takes.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Address of the JobManager's REST endpoint (host:port).
    #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
    pub jobmanager: Option<String>,
    /// Configuration file or directory (default: $RASK_CONF_DIR/rask.yaml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Configuration override, e.g. -D rest.port=8082 (repeatable).
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub dynamic: Vec<String>,
}

/// How long the CLI waits for etcd to name a leader.
const LEADER_LOOKUP: Duration = Duration::from_secs(10);

/// A REST client for the cluster the options name; with etcd HA it follows the leader.
pub async fn connect(opts: &ClusterOptions) -> anyhow::Result<RestClient> {
    let conf = Configuration::load(opts.config.as_deref(), &opts.dynamic)?;
    let tls = RestTls::client_from_configuration(&conf)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Some(m) = &opts.jobmanager {
        return Ok(RestClient::new(parse_address(m, scheme)?, tls.as_deref())?);
    }
    match EtcdSettings::from_configuration(&conf)? {
        Some(etcd) => {
            let retrieval: Arc<dyn LeaderRetrieval> = EtcdLeaderRetrieval::start(etcd);
            let leader = current_leader(retrieval.as_ref(), LEADER_LOOKUP).await?;
            Ok(RestClient::following(leader.rest_url, tls.as_deref(), retrieval)?)
        }
        None => {
            let host = conf.get_string(&options::REST_ADDRESS).unwrap_or_default();
            let port = conf.get_port(&options::REST_PORT)?;
            Ok(RestClient::new(format!("{scheme}://{}", host_port(&host, port)), tls.as_deref())?)
        }
    }
}

/// `-m host:port` as a base URL with `scheme` (https under security.ssl.rest.enabled).
fn parse_address(m: &str, scheme: &str) -> anyhow::Result<String> {
    let bad = || anyhow::anyhow!("-m expects host:port (e.g. localhost:8081), got '{m}'");
    if m.starts_with("https://") && scheme == "http" {
        anyhow::bail!("-m {m}: HTTPS needs security.ssl.rest.enabled: true and security.ssl.rest.trust-cert in the CLI's configuration (-D or --config)");
    }
    let hp = m.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
    let (host, port) = hp.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(format!("{scheme}://{}", host_port(host, port)))
}
