//! Unit tests of the JobMaster's states: every transition, driven without processes —
//! a ResourceManager with registered TaskManagers, fake TaskExecutors, the in-memory
//! HA store, and the test playing the tasks. Timeouts and delays are short here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rask_common::config::Configuration;
use rask_common::proto::{ExecutionState as WireState, TaskDeploymentDescriptor, TaskExecutionState};

use super::fake::{register, FakeTaskExecutors};
use super::{spawn, JobMasterHandle, JobMasterMessage, JobMasterServices, Recovery};
use crate::execution_graph::{ExecutionState, JobStatus};
use crate::ha::memory::InMemoryHaServices;
use crate::ha::{CheckpointPointer, LeaderElection};
use crate::job_settings::JobSettings;
use crate::resource_manager::{LossReason, ResourceManager};

const JOB: &str = "0123456789abcdef0123456789abcdef";

struct Harness {
    rm: Arc<ResourceManager>,
    executors: Arc<FakeTaskExecutors>,
    ha: InMemoryHaServices,
    handle: JobMasterHandle,
}

/// A cluster configuration with `keys`.
fn configuration(keys: &[(&str, &str)]) -> Configuration {
    let mut conf = Configuration::new();
    for (k, v) in keys {
        conf.set(k, *v).expect("valid key");
    }
    conf
}

impl Harness {
    /// A JobMaster of the conformance job on a cluster configured with `keys` and
    /// slot.request.timeout of `slot_timeout`, leader of an in-memory HA store.
    async fn start(keys: &[(&str, &str)], slot_timeout: Duration, recovery: Option<Recovery>) -> Self {
        Self::start_with(keys, slot_timeout, recovery, None).await
    }

    /// A JobMaster of the conformance job started from the savepoint at `path`.
    async fn start_from_savepoint(path: &str) -> Self {
        let savepoint = rask_common::job::graph::SavepointRestore { path: path.into(), allow_non_restored_state: false };
        Self::start_with(&[], SLOT_TIMEOUT, None, Some(savepoint)).await
    }

    async fn start_with(
        keys: &[(&str, &str)],
        slot_timeout: Duration,
        recovery: Option<Recovery>,
        savepoint: Option<rask_common::job::graph::SavepointRestore>,
    ) -> Self {
        let rm = Arc::new(ResourceManager::new("test".into(), "t".repeat(32), Duration::from_secs(1), Duration::from_secs(5)));
        let executors = Arc::new(FakeTaskExecutors::default());
        let ha = InMemoryHaServices::default();
        let leadership = ha.candidate().campaign().await.expect("leads");
        let mut graph = crate::ha::conformance::job_graph(JOB);
        graph.savepoint = savepoint;
        leadership.store.put_job_graph(&graph).await.expect("stored");
        let conf = configuration(keys);
        let settings = Arc::new(JobSettings::resolve(&conf, &Default::default(), None).expect("settings"));
        let services = JobMasterServices {
            resource_manager: rm.clone(),
            gateways: Arc::new(executors.clone()),
            leader_token: leadership.token.clone(),
            gateway_address: "jobmanager:6123".into(),
            slot_request_timeout: slot_timeout,
            cluster_configuration: Arc::new(conf),
            savepoint_staging: None,
            store: leadership.store.clone(),
            term: leadership.term,
            allowed_paths: Default::default(),
        };
        let handle = spawn(graph, services, settings, recovery);
        // Cancelled tasks of the latest attempt report CANCELED.
        let reporter = handle.clone();
        *executors.on_cancel.lock() = Some(Arc::new(move |submitted: &[TaskDeploymentDescriptor]| {
            let latest = submitted.iter().map(|t| t.attempt).max().unwrap_or(0);
            for tdd in submitted.iter().filter(|t| t.attempt == latest) {
                report_to(&reporter, tdd, WireState::Canceled, "");
            }
        }));
        Self { rm, executors, ha, handle }
    }

    fn states(&self) -> Vec<&'static str> {
        self.handle.scheduler_states.lock().iter().copied().collect()
    }

    fn status(&self) -> JobStatus {
        self.handle.status()
    }

    /// Waits until the job has status `status`.
    async fn wait_status(&self, status: JobStatus) {
        for _ in 0..10_000 {
            if self.status() == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("job never reached {status}; it is {} after {:?}", self.status(), self.states());
    }

    /// Waits until the JobMaster has ended.
    async fn wait_end(&self) {
        let mut terminal = self.handle.terminal.clone();
        tokio::time::timeout(Duration::from_secs(30), terminal.wait_for(|t| *t)).await.expect("JobMaster ends").expect("open");
    }

    /// Reports `state` for the task of `tdd`, as its TaskExecutor would.
    fn report(&self, tdd: &TaskDeploymentDescriptor, state: WireState, error: &str) {
        report_to(&self.handle, tdd, state, error);
    }

    fn tasks(&self) -> usize {
        self.handle.graph.vertices.iter().map(|v| v.parallelism as usize).sum()
    }

    /// Waits for attempt number `n` (from 1) to be deployed and reports every task RUNNING.
    async fn run_attempt(&self, n: usize) -> Vec<TaskDeploymentDescriptor> {
        let tasks = self.tasks();
        let tdds = self.executors.wait_submitted(n * tasks, tasks).await;
        for tdd in &tdds {
            self.report(tdd, WireState::Running, "");
        }
        self.wait_status(JobStatus::Running).await;
        tdds
    }

    fn cause(&self) -> String {
        self.handle.execution.read().failure.clone().map(|(_, c)| c).unwrap_or_default()
    }
}

/// Sends the JobMaster a task state of `tdd`'s task.
fn report_to(handle: &JobMasterHandle, tdd: &TaskDeploymentDescriptor, state: WireState, error: &str) {
    handle.send(JobMasterMessage::TaskState(TaskExecutionState {
        job_id: tdd.job_id.clone(),
        vertex_id: tdd.vertex_id.clone(),
        subtask_index: tdd.subtask_index,
        attempt: tdd.attempt,
        state: state.into(),
        error: error.into(),
        resource_id: "tm1".into(),
        execution_attempt_id: tdd.execution_attempt_id.clone(),
        io_metrics: None,
    }));
}

const SLOT_TIMEOUT: Duration = Duration::from_secs(300);
const ONE_RESTART: &[(&str, &str)] = &[
    ("restart-strategy.type", "fixed-delay"),
    ("restart-strategy.fixed-delay.attempts", "1"),
    ("restart-strategy.fixed-delay.delay", "100 ms"),
];

#[tokio::test]
async fn a_job_runs_to_its_end_and_its_end_is_recorded() {
    let h = Harness::start(&[], SLOT_TIMEOUT, None).await;
    register(&h.rm, "tm1", 2);
    let tdds = h.run_attempt(1).await;
    assert_eq!(tdds[0].attempt, 0);
    assert_eq!(h.rm.overview().slots_available, 1, "the job holds its slot");
    for tdd in &tdds {
        h.report(tdd, WireState::Finished, "");
    }
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Finished);
    assert_eq!(h.states(), ["Created", "WaitingForResources", "Deploying", "Executing", "Finished"]);
    assert_eq!(h.executors.freed.load(Ordering::SeqCst), 1, "the slot is freed at its TaskExecutor");
    assert_eq!(h.rm.overview().slots_available, 2);
    let results = h.ha.results();
    assert_eq!((results.len(), results[0].status.as_str()), (1, "FINISHED"), "the end is in the HA store");
}

#[tokio::test]
async fn a_job_waits_for_slots_until_a_taskmanager_brings_them() {
    let h = Harness::start(&[], SLOT_TIMEOUT, None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.states(), ["Created", "WaitingForResources"]);
    assert_eq!(h.rm.unmet_demand(), 1, "the job's need is declared to the ResourceManager");
    register(&h.rm, "tm1", 1);
    h.run_attempt(1).await;
    assert_eq!(h.states().last(), Some(&"Executing"));
}

#[tokio::test]
async fn a_slot_request_that_times_out_fails_the_job() {
    let h = Harness::start(ONE_RESTART, Duration::from_millis(300), None).await;
    let started = tokio::time::Instant::now();
    h.wait_end().await;
    assert!(started.elapsed() >= Duration::from_millis(290), "slot.request.timeout: {:?}", started.elapsed());
    assert_eq!(h.status(), JobStatus::Failed);
    assert_eq!(h.states(), ["Created", "WaitingForResources", "Failing", "Finished"], "a job that never ran is not restarted");
    assert!(h.cause().contains("Could not acquire the minimum required resources"), "{}", h.cause());
    assert_eq!(h.rm.unmet_demand(), 0, "the request is withdrawn");
}

#[tokio::test]
async fn a_refused_deployment_restarts_the_job_which_then_runs() {
    let h = Harness::start(ONE_RESTART, SLOT_TIMEOUT, None).await;
    h.executors.refuse_submissions.store(1, Ordering::SeqCst);
    h.executors.not_ready.store(2, Ordering::SeqCst);
    register(&h.rm, "tm1", 1);
    let tdds = h.run_attempt(2).await;
    assert_eq!(tdds[0].attempt, 1, "the second attempt");
    assert_eq!(h.states(), ["Created", "WaitingForResources", "Deploying", "Restarting", "WaitingForResources", "Deploying", "Executing"]);
    assert!(h.cause().contains("refused the task"), "{}", h.cause());
    assert!(h.executors.cancels.load(Ordering::SeqCst) >= 1, "the failed attempt's tasks are cancelled");
}

#[tokio::test]
async fn a_task_failure_restarts_the_job_until_the_strategy_gives_up() {
    let h = Harness::start(ONE_RESTART, SLOT_TIMEOUT, None).await;
    register(&h.rm, "tm1", 1);
    let first = h.run_attempt(1).await;
    let failed_at = tokio::time::Instant::now();
    h.report(&first[0], WireState::Failed, "boom");
    let second = h.run_attempt(2).await;
    assert!(failed_at.elapsed() >= Duration::from_millis(100), "restart-strategy.fixed-delay.delay");
    // A report of the earlier attempt changes nothing.
    h.report(&first[0], WireState::Failed, "late");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(h.status(), JobStatus::Running);
    h.report(&second[0], WireState::Failed, "boom again");
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Failed);
    assert_eq!(h.cause(), "boom again");
    assert_eq!(
        h.states(),
        [
            "Created",
            "WaitingForResources",
            "Deploying",
            "Executing",
            "Restarting",
            "WaitingForResources",
            "Deploying",
            "Executing",
            "Failing",
            "Finished"
        ]
    );
    assert_eq!(h.ha.results()[0].status, "FAILED");
}

#[tokio::test]
async fn a_task_failing_while_deploying_fails_a_job_without_restarts() {
    let h = Harness::start(&[("restart-strategy.type", "none")], SLOT_TIMEOUT, None).await;
    register(&h.rm, "tm1", 1);
    let tasks = h.tasks();
    // The submission never returns an answer before the task's failure arrives.
    let tdds = h.executors.wait_submitted(tasks, tasks).await;
    h.report(&tdds[0], WireState::Canceled, "");
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Failed);
    assert!(h.cause().contains("without the JobMaster asking"), "{}", h.cause());
    assert!(h.states().contains(&"Failing"));
}

#[tokio::test]
async fn a_lost_taskmanager_restarts_the_job_on_another() {
    let h = Harness::start(ONE_RESTART, SLOT_TIMEOUT, None).await;
    let registration = register(&h.rm, "tm1", 1);
    h.run_attempt(1).await;
    register(&h.rm, "tm2", 1);
    h.rm.deregister("tm1", &registration, &LossReason::HeartbeatTimeout(Duration::from_secs(5)));
    h.run_attempt(2).await;
    assert!(h.handle.execution.read().executions().all(|e| e.resource_id.as_deref() == Some("tm2")), "every task runs on tm2");
    assert!(h.cause().contains("TaskManager tm1 was lost"), "{}", h.cause());
    assert_eq!(h.states()[3..6], ["Executing", "Restarting", "WaitingForResources"]);
}

#[tokio::test]
async fn cancelling_while_waiting_for_slots_cancels_the_job() {
    let h = Harness::start(&[], SLOT_TIMEOUT, None).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.handle.send(JobMasterMessage::Cancel);
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Canceled);
    assert_eq!(h.states(), ["Created", "WaitingForResources", "Cancelling", "Finished"]);
    assert_eq!(h.rm.unmet_demand(), 0);
    assert_eq!(h.ha.results()[0].status, "CANCELED");
}

#[tokio::test]
async fn cancelling_during_the_restart_delay_cancels_the_job() {
    let h = Harness::start(&[("restart-strategy.type", "fixed-delay"), ("restart-strategy.fixed-delay.delay", "1 h")], SLOT_TIMEOUT, None)
        .await;
    register(&h.rm, "tm1", 1);
    let tdds = h.run_attempt(1).await;
    h.report(&tdds[0], WireState::Failed, "boom");
    h.wait_status(JobStatus::Restarting).await;
    h.handle.send(JobMasterMessage::Cancel);
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Canceled);
    assert_eq!(h.states()[4..], ["Restarting", "Cancelling", "Finished"]);
}

#[tokio::test]
async fn a_taskmanager_lost_while_cancelling_ends_the_cancellation_at_once() {
    let h = Harness::start(&[], SLOT_TIMEOUT, None).await;
    let registration = register(&h.rm, "tm1", 1);
    h.run_attempt(1).await;
    h.executors.hang_on_cancel.store(true, Ordering::SeqCst);
    h.handle.send(JobMasterMessage::Cancel);
    h.wait_status(JobStatus::Cancelling).await;
    let started = tokio::time::Instant::now();
    h.rm.deregister("tm1", &registration, &LossReason::ConnectionLost);
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Canceled);
    assert!(started.elapsed() < Duration::from_secs(5), "not the 5 s wait for tasks' answers: {:?}", started.elapsed());
    assert!(h.handle.execution.read().all_tasks(|s| s == ExecutionState::Canceled));
}

#[tokio::test]
async fn a_recovered_job_whose_checkpoints_are_elsewhere_fails_without_recording_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = format!("file://{}", dir.path().display());
    let recovery = Recovery { checkpoint_counter: 3, checkpoints: Some(CheckpointPointer { dir: "/elsewhere".into(), retained: vec![3] }) };
    let h = Harness::start(&[("state.checkpoints.dir", &checkpoints)], SLOT_TIMEOUT, Some(recovery)).await;
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Failed);
    assert_eq!(h.states(), ["Created", "Finished"]);
    assert!(h.cause().contains("/elsewhere"), "{}", h.cause());
    assert!(h.ha.results().is_empty(), "a leader that can read the checkpoints runs the job");
}

#[tokio::test]
async fn savepoints_are_refused_while_the_job_cannot_take_them() {
    let h = Harness::start(&[], SLOT_TIMEOUT, None).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.handle.send(JobMasterMessage::TriggerSavepoint { trigger_id: "t1".into(), target_dir: "/sp".into(), stop: false, drain: false });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let refused = format!("{:?}", h.handle.savepoints.lock().get("t1"));
    assert!(refused.contains("waiting for slots"), "{refused}");
    register(&h.rm, "tm1", 1);
    h.run_attempt(1).await;
    h.handle.send(JobMasterMessage::TriggerSavepoint { trigger_id: "t2".into(), target_dir: "/sp".into(), stop: false, drain: false });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let refused = format!("{:?}", h.handle.savepoints.lock().get("t2"));
    assert!(refused.contains("state.checkpoints.dir"), "a job without a checkpoint directory says which key: {refused}");
}

#[tokio::test]
async fn a_cancel_while_a_restart_cancels_the_tasks_cancels_the_job() {
    let h = Harness::start(&[("restart-strategy.type", "fixed-delay"), ("restart-strategy.fixed-delay.delay", "1 h")], SLOT_TIMEOUT, None)
        .await;
    register(&h.rm, "tm1", 1);
    let tdds = h.run_attempt(1).await;
    // The user cancels while the failed attempt's tasks are being cancelled.
    let reporter = h.handle.clone();
    *h.executors.on_cancel.lock() = Some(Arc::new(move |submitted: &[TaskDeploymentDescriptor]| {
        reporter.send(JobMasterMessage::Cancel);
        for tdd in submitted {
            report_to(&reporter, tdd, WireState::Canceled, "");
        }
    }));
    h.report(&tdds[0], WireState::Failed, "boom");
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Canceled, "cancelled, not restarted after the delay");
    assert_eq!(h.states()[4..], ["Restarting", "Cancelling", "Finished"]);
}

#[tokio::test]
async fn tasks_that_finish_before_their_deployment_is_acknowledged_finish_the_job() {
    let h = Harness::start(&[], SLOT_TIMEOUT, None).await;
    h.executors.hold_answers.store(true, Ordering::SeqCst);
    register(&h.rm, "tm1", 1);
    let tasks = h.tasks();
    let tdds = h.executors.wait_submitted(tasks, tasks).await;
    for tdd in &tdds {
        h.report(tdd, WireState::Running, "");
        h.report(tdd, WireState::Finished, "");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(h.states().last(), Some(&"Deploying"));
    h.executors.answer_submissions.notify_waiters();
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Finished);
}

#[tokio::test]
async fn cancelling_while_deploying_cancels_the_job() {
    let h = Harness::start(&[], SLOT_TIMEOUT, None).await;
    h.executors.hold_answers.store(true, Ordering::SeqCst);
    register(&h.rm, "tm1", 1);
    let tasks = h.tasks();
    h.executors.wait_submitted(tasks, tasks).await;
    assert_eq!(h.states().last(), Some(&"Deploying"));
    h.handle.send(JobMasterMessage::Cancel);
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Canceled);
    assert_eq!(h.states()[2..], ["Deploying", "Cancelling", "Finished"]);
    assert!(h.executors.cancels.load(Ordering::SeqCst) >= 1, "the deployed tasks are cancelled");
    assert_eq!(h.rm.overview().slots_available, 1, "the slot is back");
}

#[tokio::test]
async fn a_savepoint_that_does_not_exist_fails_the_job_before_it_asks_for_slots() {
    let h = Harness::start_from_savepoint("/nonexistent/savepoint-1").await;
    h.wait_end().await;
    assert_eq!(h.status(), JobStatus::Failed);
    assert_eq!(h.states(), ["Created", "WaitingForResources", "Failing", "Finished"]);
    assert!(h.cause().contains("/nonexistent/savepoint-1"), "{}", h.cause());
    assert_eq!(h.rm.unmet_demand(), 0, "no slots were asked for");
}
