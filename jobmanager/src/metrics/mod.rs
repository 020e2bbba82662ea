//! The JobManager's metrics by Flink's names: the process and the cluster
//! (`jobmanager` scope), each job (`jobmanager_job`), and the TaskManagers' metrics
//! fetched for the REST API ([`fetcher`]). The Prometheus reporter and the REST
//! metric endpoints read the same functions.

pub mod fetcher;

use std::sync::Arc;
use std::time::Instant;

use rask_common::hardware::CpuLoad;
use rask_common::metrics::{MetricSource, Sample, Scope};

use crate::dispatcher::Dispatcher;
use crate::execution_graph::{now_ms, JobStatus};
use crate::job_master::JobMasterHandle;
use crate::leadership::LeaderGate;
use crate::resource_manager::ResourceManager;

use self::fetcher::MetricFetcher;

/// A leader term's metrics.
pub struct JobManagerMetrics {
    pub resource_manager: Arc<ResourceManager>,
    pub dispatcher: Arc<Dispatcher>,
    pub fetcher: MetricFetcher,
}

/// A metric value as Flink's REST API renders it: a string, integral values without
/// a fraction.
pub fn render_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.007e15 {
        format!("{}", v as i64)
    } else if v == i64::MIN as f64 {
        i64::MIN.to_string()
    } else {
        format!("{v}")
    }
}

/// The process's own figures (the JVM's have no counterpart in Rask).
pub fn process_values(cpu: &CpuLoad, started: Instant) -> Vec<(&'static str, f64)> {
    vec![
        ("Status.Process.Memory.RSS", rask_common::hardware::own_rss_bytes() as f64),
        ("Status.Process.CPU.Load", cpu.sample()),
        ("Status.Process.CPU.Time", rask_common::hardware::own_cpu_time_ms() as f64),
        ("Status.Process.CPU.Cores", f64::from(rask_common::hardware::cpu_cores())),
        ("processRssBytes", rask_common::hardware::own_rss_bytes() as f64),
        ("uptimeMs", started.elapsed().as_millis() as f64),
    ]
}

impl JobManagerMetrics {
    /// The cluster as this leader sees it.
    pub fn cluster_values(&self) -> Vec<(&'static str, f64)> {
        let rm = &self.resource_manager;
        let o = rm.overview();
        let stats = rm.heartbeat_stats();
        let ms = |q: f64| stats.quantile(q).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0);
        let running = self.dispatcher.jobs().iter().filter(|j| !j.status().is_terminal()).count();
        vec![
            ("numRegisteredTaskManagers", o.taskmanagers as f64),
            ("taskSlotsTotal", o.slots_total as f64),
            ("taskSlotsAvailable", o.slots_available as f64),
            ("numRunningJobs", running as f64),
            ("heartbeatRttSamples", stats.count() as f64),
            ("heartbeatRttP50Ms", (ms(0.50) * 1000.0).round() / 1000.0),
            ("heartbeatRttP99Ms", (ms(0.99) * 1000.0).round() / 1000.0),
            ("heartbeatRttMaxMs", (ms(1.0) * 1000.0).round() / 1000.0),
        ]
    }

    fn samples(&self, host: &str) -> Vec<Sample> {
        let jm = [("host", host.to_string())];
        let mut out: Vec<Sample> = self.cluster_values().into_iter().map(|(n, v)| Sample::new(Scope::JobManager, n, &jm, v)).collect();
        for job in self.dispatcher.jobs() {
            let labels = [("host", host.to_string()), ("job_id", job.graph.job_id.clone()), ("job_name", job.graph.name.clone())];
            out.extend(job_values(&job).into_iter().map(|(n, v)| Sample::new(Scope::JobManagerJob, n, &labels, v)));
        }
        out
    }
}

/// A job's metrics (Flink's job scope on the JobManager).
pub fn job_values(job: &JobMasterHandle) -> Vec<(&'static str, f64)> {
    let eg = job.execution.read();
    let now = now_ms();
    let since = |s: JobStatus| eg.timestamps.get(&s).copied().filter(|t| *t > 0).map_or(0, |t| now - t);
    let (uptime, downtime) = match eg.status {
        JobStatus::Running => (since(JobStatus::Running), 0),
        JobStatus::Failing | JobStatus::Restarting => (0, since(eg.status)),
        _ => (0, 0),
    };
    let c = &eg.checkpoints;
    let last = c.latest_completed.as_ref();
    vec![
        ("uptime", uptime as f64),
        ("downtime", downtime as f64),
        ("numRestarts", eg.failure_count as f64),
        ("fullRestarts", eg.failure_count as f64),
        ("totalNumberOfCheckpoints", (c.completed + c.failed + c.in_progress) as f64),
        ("numberOfCompletedCheckpoints", c.completed as f64),
        ("numberOfFailedCheckpoints", c.failed as f64),
        ("numberOfInProgressCheckpoints", c.in_progress as f64),
        ("lastCheckpointDuration", last.map_or(-1, |r| r.duration_ms()) as f64),
        ("lastCheckpointSize", last.map_or(-1, |r| r.state_size as i64) as f64),
        ("lastCheckpointFullSize", last.map_or(-1, |r| r.state_size as i64) as f64),
        ("lastCheckpointRestoreTimestamp", c.latest_restored.map_or(-1, |(_, t)| t) as f64),
    ]
}

/// The JobManager process's metric source for Prometheus: the process, and the
/// current leader term's cluster and jobs (a standby reports only its process).
pub struct JobManagerMetricSource {
    pub gate: Arc<LeaderGate>,
    pub host: String,
    pub started: Instant,
    pub cpu: CpuLoad,
}

impl MetricSource for JobManagerMetricSource {
    fn samples(&self) -> Vec<Sample> {
        let jm = [("host", self.host.clone())];
        let mut out: Vec<Sample> =
            process_values(&self.cpu, self.started).into_iter().map(|(n, v)| Sample::new(Scope::JobManager, n, &jm, v)).collect();
        if let Some(term) = self.gate.term() {
            out.extend(term.metrics.samples(&self.host));
        }
        out
    }
}
