//! The ExecutionGraph: a job's JobGraph expanded to one execution per subtask, with
//! Flink's job and task states and the explicit transitions between them.

use std::collections::BTreeMap;
use std::fmt;

use rask_common::job::graph::JobGraph;

pub use rask_common::clock::now_ms;

/// Flink's JobStatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobStatus {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
}

impl JobStatus {
    pub const ALL: [JobStatus; 9] = [
        JobStatus::Initializing,
        JobStatus::Created,
        JobStatus::Running,
        JobStatus::Failing,
        JobStatus::Failed,
        JobStatus::Cancelling,
        JobStatus::Canceled,
        JobStatus::Finished,
        JobStatus::Restarting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Initializing => "INITIALIZING",
            JobStatus::Created => "CREATED",
            JobStatus::Running => "RUNNING",
            JobStatus::Failing => "FAILING",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelling => "CANCELLING",
            JobStatus::Canceled => "CANCELED",
            JobStatus::Finished => "FINISHED",
            JobStatus::Restarting => "RESTARTING",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Failed | JobStatus::Canceled | JobStatus::Finished)
    }

    /// The transitions Flink's JobStatus allows (restarts arrive with recovery).
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Initializing, Created)
                | (Initializing, Failed)
                | (Created, Running)
                | (Created, Failing)
                | (Created, Cancelling)
                | (Created, Failed)
                | (Running, Finished)
                | (Running, Failing)
                | (Running, Cancelling)
                | (Running, Restarting)
                | (Failing, Failed)
                | (Failing, Restarting)
                | (Failing, Cancelling)
                | (Cancelling, Canceled)
                | (Restarting, Running)
                | (Restarting, Cancelling)
                | (Restarting, Failed)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Flink's ExecutionState.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExecutionState {
    Created,
    Scheduled,
    Deploying,
    Initializing,
    Running,
    Finished,
    Canceling,
    Canceled,
    Failed,
}

impl ExecutionState {
    pub const ALL: [ExecutionState; 9] = [
        ExecutionState::Created,
        ExecutionState::Scheduled,
        ExecutionState::Deploying,
        ExecutionState::Initializing,
        ExecutionState::Running,
        ExecutionState::Finished,
        ExecutionState::Canceling,
        ExecutionState::Canceled,
        ExecutionState::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExecutionState::Created => "CREATED",
            ExecutionState::Scheduled => "SCHEDULED",
            ExecutionState::Deploying => "DEPLOYING",
            ExecutionState::Initializing => "INITIALIZING",
            ExecutionState::Running => "RUNNING",
            ExecutionState::Finished => "FINISHED",
            ExecutionState::Canceling => "CANCELING",
            ExecutionState::Canceled => "CANCELED",
            ExecutionState::Failed => "FAILED",
        }
    }

    /// The state a TaskExecutor reported over the wire; `None` for UNSPECIFIED or a
    /// value this build does not know.
    pub fn from_proto(state: i32) -> Option<Self> {
        use rask_common::proto::ExecutionState as P;
        Some(match P::try_from(state).ok()? {
            P::Unspecified => return None,
            P::Created => ExecutionState::Created,
            P::Scheduled => ExecutionState::Scheduled,
            P::Deploying => ExecutionState::Deploying,
            P::Initializing => ExecutionState::Initializing,
            P::Running => ExecutionState::Running,
            P::Finished => ExecutionState::Finished,
            P::Canceling => ExecutionState::Canceling,
            P::Canceled => ExecutionState::Canceled,
            P::Failed => ExecutionState::Failed,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, ExecutionState::Finished | ExecutionState::Canceled | ExecutionState::Failed)
    }

    /// A terminal state is final; otherwise states only move forward.
    pub fn can_become(self, next: ExecutionState) -> bool {
        !self.is_terminal() && (next > self || (self == ExecutionState::Canceling && next.is_terminal()))
    }
}

#[derive(Debug, Clone)]
pub struct Execution {
    pub state: ExecutionState,
    /// The random id of the attempt deployed for this subtask (Flink's
    /// ExecutionAttemptID); reports of any other attempt are refused.
    pub attempt_id: Option<String>,
    pub resource_id: Option<String>,
    pub rpc_address: Option<String>,
    pub start_time: i64,
    pub end_time: i64,
    /// The attempt's final I/O figures, reported with its terminal state.
    pub io: Option<rask_common::proto::TaskIoMetrics>,
}

#[derive(Debug, Clone)]
pub struct ExecutionJobVertex {
    pub id: String,
    pub name: String,
    pub parallelism: u32,
    pub subtasks: Vec<Execution>,
}

impl ExecutionJobVertex {
    /// The vertex's status: the least advanced of its subtasks', FAILED/CANCELED winning.
    pub fn status(&self) -> ExecutionState {
        let states = self.subtasks.iter().map(|e| e.state);
        if self.subtasks.iter().any(|e| e.state == ExecutionState::Failed) {
            return ExecutionState::Failed;
        }
        if self.subtasks.iter().any(|e| e.state == ExecutionState::Canceled) && self.subtasks.iter().all(|e| e.state.is_terminal()) {
            return ExecutionState::Canceled;
        }
        states.min().unwrap_or(ExecutionState::Created)
    }

    pub fn counts(&self) -> BTreeMap<ExecutionState, usize> {
        let mut m: BTreeMap<ExecutionState, usize> = ExecutionState::ALL.iter().map(|s| (*s, 0)).collect();
        for e in &self.subtasks {
            *m.entry(e.state).or_default() += 1;
        }
        m
    }
}

/// A job's execution as the REST API shows it.
/// Failures kept per job (Flink's `web.exception-history-size` default).
pub const EXCEPTION_HISTORY_SIZE: usize = 16;

#[derive(Debug, Clone)]
pub struct ExecutionGraph {
    pub job_id: String,
    pub name: String,
    pub max_parallelism: u32,
    pub status: JobStatus,
    pub timestamps: BTreeMap<JobStatus, i64>,
    pub vertices: Vec<ExecutionJobVertex>,
    /// The latest failure (time, cause): the root exception.
    pub failure: Option<(i64, String)>,
    /// Every failure so far, newest last, at most [`EXCEPTION_HISTORY_SIZE`] kept.
    pub failure_history: std::collections::VecDeque<(i64, String)>,
    /// How many failures the job has had (restarts, and the final one).
    pub failure_count: u64,
    pub start_time: i64,
    pub end_time: i64,
    pub checkpoints: crate::checkpoint_coordinator::CheckpointStats,
}

impl ExecutionGraph {
    pub fn new(graph: &JobGraph) -> Self {
        let now = now_ms();
        let vertices = graph
            .vertices
            .iter()
            .map(|v| ExecutionJobVertex {
                id: v.id.clone(),
                name: v.name.clone(),
                parallelism: v.parallelism,
                subtasks: (0..v.parallelism).map(|_| Execution::default()).collect(),
            })
            .collect();
        let mut timestamps = BTreeMap::new();
        timestamps.insert(JobStatus::Initializing, now);
        ExecutionGraph {
            job_id: graph.job_id.clone(),
            name: graph.name.clone(),
            max_parallelism: graph.max_parallelism,
            status: JobStatus::Initializing,
            timestamps,
            vertices,
            failure: None,
            failure_history: Default::default(),
            failure_count: 0,
            start_time: now,
            end_time: -1,
            checkpoints: Default::default(),
        }
    }

    /// Moves the job to `next` if Flink allows it; returns whether it moved.
    pub fn transition(&mut self, next: JobStatus) -> bool {
        if !self.status.can_become(next) {
            return false;
        }
        self.status = next;
        let now = now_ms();
        self.timestamps.insert(next, now);
        if next.is_terminal() {
            self.end_time = now;
        }
        true
    }

    pub fn set_task_state(&mut self, vertex_id: &str, subtask: u32, state: ExecutionState) -> bool {
        let Some(e) = self.vertices.iter_mut().find(|v| v.id == vertex_id).and_then(|v| v.subtasks.get_mut(subtask as usize)) else {
            return false;
        };
        if e.state == state || !e.state.can_become(state) {
            return false;
        }
        e.state = state;
        let now = now_ms();
        if state == ExecutionState::Deploying {
            e.start_time = now;
        }
        if state.is_terminal() {
            e.end_time = now;
        }
        true
    }

    /// Applies a task's state report: its state, and with a terminal state its final
    /// I/O figures.
    pub fn apply_task_update(&mut self, update: &rask_common::proto::TaskExecutionState, state: ExecutionState) -> bool {
        let changed = self.set_task_state(&update.vertex_id, update.subtask_index, state);
        if changed && state.is_terminal() {
            if let Some(e) =
                self.vertices.iter_mut().find(|v| v.id == update.vertex_id).and_then(|v| v.subtasks.get_mut(update.subtask_index as usize))
            {
                e.io = update.io_metrics;
            }
        }
        changed
    }

    /// Records a failure of the job (a restart's cause, or the final one).
    pub fn record_failure(&mut self, cause: String) {
        let at = now_ms();
        self.failure = Some((at, cause.clone()));
        self.failure_count += 1;
        self.failure_history.push_back((at, cause));
        while self.failure_history.len() > EXCEPTION_HISTORY_SIZE {
            self.failure_history.pop_front();
        }
    }

    /// Every execution back to CREATED, for the next attempt after a restart.
    pub fn reset_executions(&mut self) {
        for v in self.vertices.iter_mut() {
            for e in v.subtasks.iter_mut() {
                *e = Execution::default();
            }
        }
    }

    pub fn executions(&self) -> impl Iterator<Item = &Execution> {
        self.vertices.iter().flat_map(|v| v.subtasks.iter())
    }

    pub fn all_tasks(&self, pred: impl Fn(ExecutionState) -> bool) -> bool {
        self.executions().all(|e| pred(e.state))
    }

    /// Whether a report claiming to come from `attempt_id` of subtask `subtask` of
    /// `vertex_id` comes from the attempt this JobMaster deployed there: the vertex is
    /// known, the subtask in range, and the id that of the current attempt.
    pub fn is_current_attempt(&self, vertex_id: &str, subtask: u32, attempt_id: &str) -> bool {
        self.vertices
            .iter()
            .find(|v| v.id == vertex_id)
            .and_then(|v| v.subtasks.get(subtask as usize))
            .and_then(|e| e.attempt_id.as_deref())
            .is_some_and(|current| !attempt_id.is_empty() && current == attempt_id)
    }
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            state: ExecutionState::Created,
            attempt_id: None,
            resource_id: None,
            rpc_address: None,
            start_time: -1,
            end_time: -1,
            io: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_status_transitions_follow_flink() {
        assert!(JobStatus::Created.can_become(JobStatus::Running));
        assert!(JobStatus::Running.can_become(JobStatus::Cancelling));
        assert!(!JobStatus::Finished.can_become(JobStatus::Running));
        assert!(!JobStatus::Canceled.can_become(JobStatus::Failed));
        assert!(ExecutionState::Running.can_become(ExecutionState::Finished));
        assert!(!ExecutionState::Finished.can_become(ExecutionState::Failed));
        assert!(ExecutionState::Canceling.can_become(ExecutionState::Canceled));
    }
}
