//! Finding the JobManager's REST endpoint, in Flink's order: `-m host:port`, then
//! `-D rest.address=… -D rest.port=…` over the configuration file (`--config`, else
//! `$RASK_CONF_DIR/rask.yaml`) and the environment, then the defaults.

use rask_common::config::{options, Configuration};
use rask_common::net::host_port;

use crate::cli::ClusterOptions;

/// The base URL (`http://host:port`) of the JobManager's REST endpoint.
pub fn resolve_rest_url(opts: &ClusterOptions) -> anyhow::Result<String> {
    if let Some(m) = &opts.jobmanager {
        let bad = || anyhow::anyhow!("-m expects host:port (e.g. localhost:8081), got '{m}'");
        if m.starts_with("https://") {
            anyhow::bail!("-m {m}: the REST endpoint speaks plain HTTP; use host:port");
        }
        let hp = m.trim_start_matches("http://").trim_end_matches('/');
        let (host, port) = hp.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        return Ok(format!("http://{}", host_port(host, port)));
    }
    let conf = Configuration::load(opts.config.as_deref(), &opts.dynamic)?;
    let host = conf.get_string(&options::REST_ADDRESS).unwrap_or_default();
    let port = conf.get_port(&options::REST_PORT)?;
    Ok(format!("http://{}", host_port(&host, port)))
}
