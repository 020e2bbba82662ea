//! Fake TaskExecutors for unit tests of the JobMaster and the Dispatcher: they accept
//! (or refuse, when told) every call and record it; the test plays the tasks by
//! sending their states to the JobMaster.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rask_common::proto::{
    CancelJobTasksRequest, FreeSlotRequest, LogRequest, LogResponse, MetricsRequest, NotifyCheckpointCompleteRequest, RegisterTaskExecutor,
    RequestSlotRequest, SlotReport, SlotStatus, TaskDeploymentDescriptor, TaskManagerMetrics, TriggerCheckpointRequest,
};
use tokio::sync::watch;

use super::gateway::{GatewayError, TaskExecutorGateway, TaskExecutorGateways};
use crate::ha::BoxFuture;
use crate::resource_manager::ResourceManager;

/// Every fake TaskExecutor of a test, by address.
#[derive(Default)]
pub struct FakeTaskExecutors {
    /// Descriptors submitted, in order.
    pub submitted: Mutex<Vec<TaskDeploymentDescriptor>>,
    /// The number of submissions so far, to wait on.
    submissions: watch::Sender<usize>,
    /// Submissions still to refuse.
    pub refuse_submissions: AtomicU32,
    /// Slot requests still to answer "not ready" (a TaskManager that just registered).
    pub not_ready: AtomicU32,
    pub cancels: AtomicU32,
    pub freed: AtomicU32,
    /// When set, cancel calls never return (a TaskManager that hangs).
    pub hang_on_cancel: AtomicBool,
    /// While set, submissions are answered only once `answer_submissions` is notified.
    pub hold_answers: AtomicBool,
    pub answer_submissions: tokio::sync::Notify,
    /// Called on a cancel call with every descriptor submitted so far: the test's
    /// tasks report CANCELED through it, as a TaskExecutor's would.
    pub on_cancel: Mutex<Option<CancelHook>>,
    /// The addresses whose metrics were requested, in order.
    pub metrics_requests: Mutex<Vec<String>>,
}

pub type CancelHook = Arc<dyn Fn(&[TaskDeploymentDescriptor]) + Send + Sync>;

impl FakeTaskExecutors {
    /// Waits until `n` submissions in all were made, and returns the last `count`.
    pub async fn wait_submitted(&self, n: usize, count: usize) -> Vec<TaskDeploymentDescriptor> {
        let mut rx = self.submissions.subscribe();
        tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| *s >= n)).await.expect("submissions").expect("open");
        let all = self.submitted.lock();
        all[all.len() - count..].to_vec()
    }
}

impl TaskExecutorGateways for Arc<FakeTaskExecutors> {
    fn connect(&self, address: &str) -> Result<Arc<dyn TaskExecutorGateway>, GatewayError> {
        Ok(Arc::new(FakeGateway(self.clone(), address.to_string())))
    }
}

struct FakeGateway(Arc<FakeTaskExecutors>, String);

fn take_one(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

impl TaskExecutorGateway for FakeGateway {
    fn request_slot(&self, _: RequestSlotRequest) -> BoxFuture<'_, Result<Option<SlotReport>, GatewayError>> {
        Box::pin(async move {
            if take_one(&self.0.not_ready) {
                return Err(GatewayError::NotReady("this TaskExecutor has not seen the leader yet".into()));
            }
            Ok(None)
        })
    }

    fn submit_task(&self, tdd: TaskDeploymentDescriptor) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            let refuse = take_one(&self.0.refuse_submissions);
            self.0.submitted.lock().push(tdd);
            self.0.submissions.send_modify(|n| *n += 1);
            if refuse {
                return Err(GatewayError::Failed("the fake TaskExecutor refused the task".into()));
            }
            if self.0.hold_answers.load(Ordering::SeqCst) {
                self.0.answer_submissions.notified().await;
            }
            Ok(())
        })
    }

    fn cancel_job_tasks(&self, _: CancelJobTasksRequest) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            self.0.cancels.fetch_add(1, Ordering::SeqCst);
            if self.0.hang_on_cancel.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            let hook = self.0.on_cancel.lock().clone();
            if let Some(hook) = hook {
                let submitted = self.0.submitted.lock().clone();
                hook(&submitted);
            }
            Ok(())
        })
    }

    fn free_slot(&self, _: FreeSlotRequest) -> BoxFuture<'_, Result<Option<SlotReport>, GatewayError>> {
        Box::pin(async move {
            self.0.freed.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        })
    }

    fn trigger_checkpoint(&self, _: TriggerCheckpointRequest) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async { Ok(()) })
    }

    fn notify_checkpoint_complete(&self, _: NotifyCheckpointCompleteRequest) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async { Ok(()) })
    }

    fn request_metrics(&self, _: MetricsRequest) -> BoxFuture<'_, Result<TaskManagerMetrics, GatewayError>> {
        Box::pin(async move {
            self.0.metrics_requests.lock().push(self.1.clone());
            Ok(TaskManagerMetrics { uptime_ms: 1, ..Default::default() })
        })
    }

    fn request_log(&self, _: LogRequest) -> BoxFuture<'_, Result<LogResponse, GatewayError>> {
        Box::pin(async { Ok(LogResponse { text: b"fake log\n".to_vec(), total_bytes: 9 }) })
    }
}

/// Registers a TaskManager `id` with `slots` free slots; returns its registration id.
pub fn register(rm: &ResourceManager, id: &str, slots: u32) -> String {
    rm.register(&registration(id, slots)).expect("registers").registration_id
}

/// The registration of a TaskManager `id` of cluster `test` with `slots` free slots of
/// 1 MiB, reachable at `id:6122`.
pub fn registration(id: &str, slots: u32) -> RegisterTaskExecutor {
    RegisterTaskExecutor {
        resource_id: id.into(),
        instance_id: id.into(),
        cluster_id: "test".into(),
        rpc_address: format!("{id}:6122"),
        slot_report: Some(SlotReport {
            slots: (0..slots).map(|index| SlotStatus { index, memory_budget_bytes: 1 << 20, ..Default::default() }).collect(),
        }),
        ..Default::default()
    }
}
