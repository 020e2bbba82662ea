//! Finding the JobManager's REST endpoint, in Flink's order: `-m host:port`, then
//! `-D rest.address=… -D rest.port=…` over the configuration file (`--config`, else
//! `$RASK_CONF_DIR/rask.yaml`) and the environment, then the defaults.

use rask_common::config::{options, Configuration};

use crate::cli::ClusterOptions;

/// The base URL (`http://host:port`) of the JobManager's REST endpoint.
pub fn resolve_rest_url(opts: &ClusterOptions) -> anyhow::Result<String> {
    if let Some(m) = &opts.jobmanager {
        let m = m.trim_start_matches("http://").trim_end_matches('/');
        if !m.contains(':') {
            anyhow::bail!("-m expects host:port, got '{m}'");
        }
        return Ok(format!("http://{m}"));
    }
    let conf = Configuration::load(opts.config.as_deref(), &opts.dynamic)?;
    let host = conf.get_string(&options::REST_ADDRESS).unwrap_or_default();
    let port = conf.get_port(&options::REST_PORT)?;
    Ok(format!("http://{host}:{port}"))
}
