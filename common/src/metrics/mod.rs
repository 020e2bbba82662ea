//! Metrics in Flink's names and scopes. A process describes what it measures as
//! [`Sample`]s (a [`MetricSource`]); the Prometheus reporter and the REST metric
//! endpoints read the same samples, so the two never disagree.

pub mod prometheus;
pub mod taskmanager;

/// Flink's metric scopes, as they prefix Prometheus names (`flink_<scope>_<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    JobManager,
    JobManagerJob,
    TaskManager,
    TaskManagerJobTask,
    TaskManagerJobTaskOperator,
}

impl Scope {
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::JobManager => "jobmanager",
            Scope::JobManagerJob => "jobmanager_job",
            Scope::TaskManager => "taskmanager",
            Scope::TaskManagerJobTask => "taskmanager_job_task",
            Scope::TaskManagerJobTaskOperator => "taskmanager_job_task_operator",
        }
    }
}

/// One value of one metric: its scope, Flink's name (`numRecordsIn`,
/// `Status.Process.Memory.RSS`), the labels that say whose it is, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub scope: Scope,
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Sample {
    pub fn new(scope: Scope, name: &'static str, labels: &[(&'static str, String)], value: f64) -> Self {
        Self { scope, name, labels: labels.to_vec(), value }
    }

    /// The Prometheus name, as Flink's reporter forms it: `flink_` + scope + name,
    /// each character outside `[a-zA-Z0-9_]` replaced by `_`.
    pub fn prometheus_name(&self) -> String {
        let raw = format!("flink_{}_{}", self.scope.prefix(), self.name);
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
    }
}

/// What a process measures now. Called on each scrape and each REST metric query:
/// it reads counters, it must not block or do I/O.
pub trait MetricSource: Send + Sync + 'static {
    fn samples(&self) -> Vec<Sample>;
}

/// Flink's `Long.MIN_VALUE` watermark: none has arrived yet.
pub const NO_WATERMARK: i64 = i64::MIN;
