//! This TaskManager's metrics: each running task's group ([`task::TaskMetricGroup`]),
//! the view updater that samples them for per-second rates, and the snapshot that
//! both the JobManager (over gRPC) and the Prometheus reporter read.

pub mod task;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rask_common::hardware::CpuLoad;
use rask_common::metrics::{MetricSource, Sample};
use rask_common::proto::TaskManagerMetrics;
use tokio::sync::Notify;

use self::task::TaskMetricGroup;

/// How often the rates' samples are taken (Flink's view updater runs every 5 s).
const VIEW_UPDATE_INTERVAL: Duration = Duration::from_secs(1);

/// The process figures the metric group does not own.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessFigures {
    pub slots_total: u32,
    pub slots_free: u32,
    pub managed_memory_total: u64,
    pub managed_memory_used: u64,
}

/// The TaskManager's metric group: the running tasks' groups and the process.
pub struct TaskManagerMetricGroup {
    pub resource_id: String,
    pub host: String,
    /// `rask.metrics.task-io.enabled`: whether tasks count (off only to measure what
    /// counting costs).
    pub task_io_enabled: bool,
    tasks: Mutex<BTreeMap<u64, Arc<TaskMetricGroup>>>,
    cpu: CpuLoad,
    started: Instant,
    task_added: Notify,
}

impl TaskManagerMetricGroup {
    pub fn new(resource_id: &str, host: &str, task_io_enabled: bool) -> Arc<Self> {
        Arc::new(Self {
            resource_id: resource_id.to_string(),
            host: host.to_string(),
            task_io_enabled,
            tasks: Mutex::new(BTreeMap::new()),
            cpu: CpuLoad::default(),
            started: Instant::now(),
            task_added: Notify::new(),
        })
    }

    pub fn register(&self, task_id: u64, group: Arc<TaskMetricGroup>) {
        group.sample();
        self.tasks.lock().insert(task_id, group);
        self.task_added.notify_one();
    }

    /// A task ended: its metrics are no longer served (its final figures went to the
    /// JobMaster with its final state).
    pub fn unregister(&self, task_id: u64) {
        self.tasks.lock().remove(&task_id);
    }

    /// Samples every running task once a second; sleeps while none runs.
    pub async fn update_views(self: Arc<Self>) {
        loop {
            if self.tasks.lock().is_empty() {
                self.task_added.notified().await;
            }
            tokio::time::sleep(VIEW_UPDATE_INTERVAL).await;
            let tasks: Vec<Arc<TaskMetricGroup>> = self.tasks.lock().values().cloned().collect();
            for t in tasks {
                t.sample();
            }
        }
    }

    pub fn snapshot(&self, process: ProcessFigures) -> TaskManagerMetrics {
        let tasks: Vec<Arc<TaskMetricGroup>> = self.tasks.lock().values().cloned().collect();
        TaskManagerMetrics {
            resource_id: self.resource_id.clone(),
            rss_bytes: rask_common::hardware::own_rss_bytes(),
            cpu_load: self.cpu.sample(),
            cpu_time_ms: rask_common::hardware::own_cpu_time_ms(),
            slots_total: process.slots_total,
            slots_free: process.slots_free,
            managed_memory_total: process.managed_memory_total,
            managed_memory_used: process.managed_memory_used,
            cpu_cores: rask_common::hardware::cpu_cores(),
            tasks: tasks.iter().map(|t| t.snapshot()).collect(),
            uptime_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

/// The TaskManager's metrics now: its metric group and the figures of its slots.
/// The TaskExecutor's `RequestMetrics` and the Prometheus reporter both read this.
pub struct TaskManagerMetricSource {
    pub group: Arc<TaskManagerMetricGroup>,
    pub process: Box<dyn Fn() -> ProcessFigures + Send + Sync>,
}

impl TaskManagerMetricSource {
    pub fn current(&self) -> TaskManagerMetrics {
        self.group.snapshot((self.process)())
    }
}

impl MetricSource for TaskManagerMetricSource {
    fn samples(&self) -> Vec<Sample> {
        rask_common::metrics::taskmanager::samples(&self.current(), &self.group.host)
    }
}
