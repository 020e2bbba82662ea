//! A TaskManager's metrics by Flink's names: the values of one
//! [`TaskManagerMetrics`] snapshot, as the TaskManager's Prometheus reporter serves
//! them and as the JobManager's REST API answers them (the same function for both).

use crate::proto::{OperatorMetrics, TaskManagerMetrics, TaskMetrics};

use super::{Sample, Scope};

/// A task's metrics, by Flink's names.
pub fn task_values(t: &TaskMetrics) -> Vec<(&'static str, f64)> {
    let io = t.io.unwrap_or_default();
    let r = t.rates.unwrap_or_default();
    vec![
        ("numRecordsIn", io.records_in as f64),
        ("numRecordsOut", io.records_out as f64),
        ("numBytesIn", io.bytes_in as f64),
        ("numBytesOut", io.bytes_out as f64),
        ("numRecordsInPerSecond", r.records_in),
        ("numRecordsOutPerSecond", r.records_out),
        ("numBytesInPerSecond", r.bytes_in),
        ("numBytesOutPerSecond", r.bytes_out),
        ("busyTimeMsPerSecond", r.busy_ms),
        ("backPressuredTimeMsPerSecond", r.backpressured_ms),
        ("idleTimeMsPerSecond", r.idle_ms),
        ("accumulatedBusyTime", io.busy_ms as f64),
        ("accumulatedBackPressuredTime", io.backpressured_ms as f64),
        ("accumulatedIdleTime", io.idle_ms as f64),
        ("currentInputWatermark", t.current_input_watermark as f64),
    ]
}

/// An operator's metrics, by Flink's names.
pub fn operator_values(o: &OperatorMetrics) -> Vec<(&'static str, f64)> {
    vec![
        ("numRecordsIn", o.records_in as f64),
        ("numRecordsOut", o.records_out as f64),
        ("numRecordsInPerSecond", o.records_in_per_second),
        ("numRecordsOutPerSecond", o.records_out_per_second),
        ("currentOutputWatermark", o.current_output_watermark as f64),
    ]
}

/// The process's own metrics. Flink's `Status.JVM.*` have no JVM to describe here;
/// the process figures take their place under `Status.Process.*`.
pub fn process_values(m: &TaskManagerMetrics) -> Vec<(&'static str, f64)> {
    vec![
        ("Status.Process.Memory.RSS", m.rss_bytes as f64),
        ("Status.Process.CPU.Load", m.cpu_load),
        ("Status.Process.CPU.Time", m.cpu_time_ms as f64),
        ("Status.Process.CPU.Cores", f64::from(m.cpu_cores)),
        ("Status.Flink.Memory.Managed.Total", m.managed_memory_total as f64),
        ("Status.Flink.Memory.Managed.Used", m.managed_memory_used as f64),
        ("taskSlotsTotal", f64::from(m.slots_total)),
        ("taskSlotsAvailable", f64::from(m.slots_free)),
        ("numRunningTasks", m.tasks.len() as f64),
        ("uptime", m.uptime_ms as f64),
    ]
}

/// Every value of a snapshot, with Flink's Prometheus labels.
pub fn samples(m: &TaskManagerMetrics, host: &str) -> Vec<Sample> {
    let tm = vec![("host", host.to_string()), ("tm_id", m.resource_id.clone())];
    let mut out: Vec<Sample> = process_values(m).into_iter().map(|(n, v)| Sample::new(Scope::TaskManager, n, &tm, v)).collect();
    for t in &m.tasks {
        let mut labels = tm.clone();
        labels.extend([
            ("job_id", t.job_id.clone()),
            ("job_name", t.job_name.clone()),
            ("task_id", t.vertex_id.clone()),
            ("task_attempt_id", t.execution_attempt_id.clone()),
            ("task_name", t.task_name.clone()),
            ("task_attempt_num", t.attempt.to_string()),
            ("subtask_index", t.subtask_index.to_string()),
        ]);
        out.extend(task_values(t).into_iter().map(|(n, v)| Sample::new(Scope::TaskManagerJobTask, n, &labels, v)));
        for o in &t.operators {
            let mut labels = labels.clone();
            labels.extend([("operator_id", o.uid.clone()), ("operator_name", o.name.clone())]);
            out.extend(operator_values(o).into_iter().map(|(n, v)| Sample::new(Scope::TaskManagerJobTaskOperator, n, &labels, v)));
        }
    }
    out
}
