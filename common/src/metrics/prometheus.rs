//! Flink's Prometheus reporter: an HTTP endpoint on `metrics.reporter.prom.port` (a
//! port or a range such as `9250-9260`; the first free one is taken) that serves a
//! process's [`MetricSource`] in the Prometheus text format, encoded by
//! `prometheus-client`. Like Flink's reporter it exports every metric as a gauge
//! (counters included, so the names carry no `_total`).

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{MetricSource, Sample};

#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    #[error("metrics.reporter.prom.port '{0}' is not a port or a range of ports such as 9250-9260")]
    BadPort(String),
    #[error("no port of metrics.reporter.prom.port '{ports}' on {host} is free: {last}")]
    NoFreePort { ports: String, host: String, last: std::io::Error },
}

/// Parses Flink's port setting: `9249` or `9250-9260`.
pub fn parse_ports(spec: &str) -> Result<std::ops::RangeInclusive<u16>, ReporterError> {
    let bad = || ReporterError::BadPort(spec.to_string());
    let spec = spec.trim();
    let (from, to) = match spec.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u16>().map_err(|_| bad())?, b.trim().parse::<u16>().map_err(|_| bad())?),
        None => {
            let p = spec.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if from > to {
        return Err(bad());
    }
    Ok(from..=to)
}

struct SourceCollector(Arc<dyn MetricSource>);

impl std::fmt::Debug for SourceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceCollector")
    }
}

impl Collector for SourceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // One descriptor per metric name, with every labelled value under it.
        let mut by_name: Vec<(String, Vec<Sample>)> = Vec::new();
        for sample in self.0.samples() {
            let name = sample.prometheus_name();
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, samples)) => samples.push(sample),
                None => by_name.push((name, vec![sample])),
            }
        }
        for (name, samples) in by_name {
            let help = samples[0].name;
            let gauge_type = ConstGauge::new(0.0f64).metric_type();
            let mut family = encoder.encode_descriptor(&name, help, None, gauge_type)?;
            for sample in samples {
                let labels: Vec<(&str, &str)> = sample.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                ConstGauge::new(sample.value).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The text a scrape gets.
pub fn render(source: Arc<dyn MetricSource>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SourceCollector(source)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("writing to a String does not fail");
    text
}

/// A running reporter endpoint.
pub struct PrometheusReporter {
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for PrometheusReporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PrometheusReporter {
    /// Binds the first free port of `ports` on `host` and serves `source` at every path.
    pub async fn start(host: &str, ports: &str, source: Arc<dyn MetricSource>) -> Result<Self, ReporterError> {
        let range = parse_ports(ports)?;
        let mut last = std::io::Error::other("empty range");
        for port in range {
            match TcpListener::bind(crate::net::host_port(host, port)).await {
                Ok(listener) => {
                    let address =
                        listener.local_addr().map_err(|e| ReporterError::NoFreePort { ports: ports.into(), host: host.into(), last: e })?;
                    let app = axum::Router::new().fallback(move || {
                        let source = source.clone();
                        async move {
                            let text = render(source);
                            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
                        }
                    });
                    let task = tokio::spawn(async move {
                        if let Err(e) = axum::serve(listener, app).await {
                            tracing::error!("Prometheus reporter stopped: {e}");
                        }
                    });
                    tracing::info!("Prometheus reporter serving metrics at http://{address}/metrics");
                    return Ok(Self { address, task });
                }
                Err(e) => last = e,
            }
        }
        Err(ReporterError::NoFreePort { ports: ports.into(), host: host.into(), last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Scope;

    struct Fixed;
    impl MetricSource for Fixed {
        fn samples(&self) -> Vec<Sample> {
            let task = |i: &str| vec![("job_id", "j1".to_string()), ("subtask_index", i.to_string())];
            vec![
                Sample::new(Scope::TaskManagerJobTask, "numRecordsIn", &task("0"), 10.0),
                Sample::new(Scope::TaskManagerJobTask, "numRecordsIn", &task("1"), 32.0),
                Sample::new(Scope::TaskManager, "Status.Process.Memory.RSS", &[("tm_id", "tm \"1\"".into())], 1.5e6),
            ]
        }
    }

    #[test]
    fn renders_flink_names_as_gauges_with_escaped_labels() {
        let text = render(Arc::new(Fixed));
        assert!(text.contains("# TYPE flink_taskmanager_job_task_numRecordsIn gauge"), "{text}");
        assert!(text.contains("flink_taskmanager_job_task_numRecordsIn{job_id=\"j1\",subtask_index=\"0\"} 10.0"), "{text}");
        assert!(text.contains("flink_taskmanager_job_task_numRecordsIn{job_id=\"j1\",subtask_index=\"1\"} 32.0"), "{text}");
        assert!(text.contains("flink_taskmanager_Status_Process_Memory_RSS{tm_id=\"tm \\\"1\\\"\"} 1500000.0"), "{text}");
        assert_eq!(text.matches("# TYPE flink_taskmanager_job_task_numRecordsIn").count(), 1);
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_ports("9249").unwrap(), 9249..=9249);
        assert_eq!(parse_ports("9250 - 9260").unwrap(), 9250..=9260);
        assert!(parse_ports("9260-9250").is_err());
        assert!(parse_ports("http").is_err());
    }
}
