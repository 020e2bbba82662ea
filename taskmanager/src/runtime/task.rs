//! A task: one subtask of a JobVertex. It registers its result subpartitions, connects
//! its inputs, runs its operator chain until the end of input (or cancellation, or a
//! failure), and reports each state change to the JobMaster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rask_common::checkpoint::decode_task_state;
use rask_common::job::graph::{JobGraph, Partitioning};
use rask_common::proto::job_master_gateway_client::JobMasterGatewayClient;
use rask_common::proto::{ExecutionState, PartitionRequest, TaskDeploymentDescriptor};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::memory::SlotMemory;
use super::network::input::InputGate;
use super::network::registry::{PartitionRegistry, SubpartitionKey};
use super::network::writer::{subtask_for_hash, RecordWriter};
use super::network::{remote, QUEUE_CAPACITY};
use super::operators::{self, now_ms, OperatorChain, OperatorContext};
use super::printed::PrintedRows;
use super::sources::Source;
use super::task_reports::{forward_output, report, report_final};
use super::task_state::{checkpoint, read_state, LazyStorage};
use super::{StreamElement, TaskError};
use crate::metrics::task::{OperatorCounters, TaskClock, TaskIdentity, TaskMetricGroup};
use crate::metrics::TaskManagerMetricGroup;

/// How long a consumer waits for a producer to register its result.
const PARTITION_WAIT: Duration = Duration::from_secs(60);

/// What the JobMaster tells a running task about checkpoints.
#[derive(Debug, Clone, Copy)]
pub enum CheckpointControl {
    /// Start checkpoint n (source tasks); with `stop`, end the input after it (and
    /// with `drain`, advance event time to the end first).
    Trigger { id: u64, stop: bool, drain: bool },
    /// Checkpoint n is complete: commit.
    Complete(u64),
}

/// A running task's control channel, and whether the task is a source.
type ControlChannel = (u64, bool, mpsc::Sender<CheckpointControl>);

/// What every task of a TaskManager shares.
pub struct TaskServices {
    pub resource_id: String,
    /// host:port of this TaskManager's TaskExecutor endpoint.
    pub own_address: String,
    pub partitions: PartitionRegistry,
    running: Mutex<HashMap<String, Vec<(u64, CancellationToken)>>>,
    /// The tasks of each job, by task id: where checkpoint triggers and completions go.
    controls: Mutex<HashMap<String, Vec<ControlChannel>>>,
    next_task: std::sync::atomic::AtomicU64,
    slot_memory: Mutex<HashMap<String, Arc<SlotMemory>>>,
    jobmasters: Mutex<HashMap<String, JobMasterGatewayClient<Channel>>>,
    /// Mutual TLS for the connections to the JobMaster and to other TaskManagers.
    pub internal_tls: Option<Arc<rask_common::security::InternalTls>>,
    /// rask.io.allowed-paths: checked again before a task is deployed.
    pub allowed_paths: rask_common::security::AllowedPaths,
    /// The TaskManager's metric group, where each task registers its own.
    pub metrics: Arc<TaskManagerMetricGroup>,
}

impl TaskServices {
    pub fn new(
        resource_id: String,
        own_address: String,
        internal_tls: Option<Arc<rask_common::security::InternalTls>>,
        allowed_paths: rask_common::security::AllowedPaths,
        metrics: Arc<TaskManagerMetricGroup>,
    ) -> Self {
        Self {
            metrics,
            internal_tls,
            allowed_paths,
            resource_id,
            own_address,
            partitions: PartitionRegistry::default(),
            running: Mutex::new(HashMap::new()),
            controls: Mutex::new(HashMap::new()),
            next_task: std::sync::atomic::AtomicU64::new(0),
            slot_memory: Mutex::new(HashMap::new()),
            jobmasters: Mutex::new(HashMap::new()),
        }
    }

    /// Cancels every task of a job here; returns how many were running.
    pub fn cancel_job(&self, job_id: &str) -> usize {
        self.controls.lock().remove(job_id);
        let tokens = self.running.lock().remove(job_id).unwrap_or_default();
        for (_, t) in &tokens {
            t.cancel();
        }
        self.partitions.release_job(job_id);
        tokens.len()
    }

    /// Cancels every task of every job here (their JobManager is no longer the
    /// leader); returns how many were running.
    pub fn cancel_all(&self) -> usize {
        let jobs: Vec<String> = self.running.lock().keys().cloned().collect();
        jobs.iter().map(|job| self.cancel_job(job)).sum()
    }

    /// Starts checkpoint `id` at this TaskManager's source tasks of a job; returns how
    /// many took the trigger.
    pub fn trigger_checkpoint(&self, job_id: &str, id: u64, stop: bool, drain: bool) -> usize {
        let controls = self.controls.lock();
        controls
            .get(job_id)
            .map(|c| {
                c.iter().filter(|(_, source, tx)| *source && tx.try_send(CheckpointControl::Trigger { id, stop, drain }).is_ok()).count()
            })
            .unwrap_or(0)
    }

    /// Tells every task of a job here that checkpoint `id` is complete.
    pub fn notify_checkpoint_complete(&self, job_id: &str, id: u64) -> usize {
        let controls = self.controls.lock();
        controls
            .get(job_id)
            .map(|c| c.iter().filter(|(_, _, tx)| tx.try_send(CheckpointControl::Complete(id)).is_ok()).count())
            .unwrap_or(0)
    }

    /// Forgets a slot's memory accounting when the slot is freed.
    pub fn release_slot(&self, allocation_id: &str) {
        self.slot_memory.lock().remove(allocation_id);
    }

    /// Managed memory (slot budgets) in use by this TaskManager's tasks, in bytes.
    pub fn managed_memory_used(&self) -> u64 {
        self.slot_memory.lock().values().map(|m| m.used()).sum()
    }

    fn memory(&self, allocation_id: &str, budget: u64) -> Arc<SlotMemory> {
        self.slot_memory.lock().entry(allocation_id.to_string()).or_insert_with(|| SlotMemory::new(budget)).clone()
    }

    pub(super) fn jobmaster(&self, address: &str) -> Result<JobMasterGatewayClient<Channel>, TaskError> {
        let mut clients = self.jobmasters.lock();
        if let Some(c) = clients.get(address) {
            return Ok(c.clone());
        }
        let channel = rask_common::security::tls::endpoint(address, self.internal_tls.as_deref())
            .map_err(|e| TaskError::Deployment(format!("bad JobMaster address {address}: {e}")))?
            .tcp_nodelay(true)
            .connect_lazy();
        let client = JobMasterGatewayClient::new(channel);
        clients.insert(address.to_string(), client.clone());
        Ok(client)
    }
}

/// Validates a deployment and starts the task. Errors here are the deployment's.
pub fn submit(services: Arc<TaskServices>, tdd: TaskDeploymentDescriptor) -> Result<(), TaskError> {
    if tdd.job_graph_json.len() > rask_common::job::limits::MAX_JOB_GRAPH_BYTES {
        return Err(TaskError::Deployment(format!(
            "the JobGraph is {} bytes; at most {} are accepted",
            tdd.job_graph_json.len(),
            rask_common::job::limits::MAX_JOB_GRAPH_BYTES
        )));
    }
    let graph: JobGraph =
        serde_json::from_slice(&tdd.job_graph_json).map_err(|e| TaskError::Deployment(format!("unreadable JobGraph: {e}")))?;
    // The same validation as the client's and the JobManager's, and this
    // TaskManager's own rask.io.allowed-paths.
    rask_common::job::validate_job_graph(&graph).map_err(|e| TaskError::Deployment(e.to_string()))?;
    if graph.job_id != tdd.job_id {
        return Err(TaskError::Deployment(format!("the descriptor's job {} is not the JobGraph's", tdd.job_id)));
    }
    rask_common::job::validate::check_paths(&graph, &services.allowed_paths).map_err(|e| TaskError::Deployment(e.to_string()))?;
    let vertex =
        graph.vertex(&tdd.vertex_id).ok_or_else(|| TaskError::Deployment(format!("vertex {} is not in the JobGraph", tdd.vertex_id)))?;
    if tdd.subtask_index >= vertex.parallelism {
        return Err(TaskError::Deployment(format!("subtask {} of a vertex with parallelism {}", tdd.subtask_index, vertex.parallelism)));
    }
    let token = CancellationToken::new();
    let task_id = services.next_task.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    services.running.lock().entry(tdd.job_id.clone()).or_default().push((task_id, token.clone()));
    let name = format!("{} ({}/{})", vertex.name, tdd.subtask_index + 1, vertex.parallelism);
    let metrics = services.metrics.task_io_enabled.then(|| {
        let identity = TaskIdentity {
            job_id: tdd.job_id.clone(),
            job_name: graph.name.clone(),
            vertex_id: tdd.vertex_id.clone(),
            task_name: vertex.name.clone(),
            subtask_index: tdd.subtask_index,
            attempt: tdd.attempt,
            execution_attempt_id: tdd.execution_attempt_id.clone(),
        };
        let group = TaskMetricGroup::new(
            identity,
            vertex
                .operators
                .iter()
                .map(|o| OperatorCounters::new(&o.name, &o.uid, matches!(o.kind, rask_common::job::graph::OperatorKind::Sink { .. })))
                .collect(),
        );
        services.metrics.register(task_id, group.clone());
        group
    });
    tokio::spawn(async move {
        let printed = PrintedRows::new(services.memory(&tdd.allocation_id, tdd.memory_budget_bytes));
        let forwarder = tokio::spawn(forward_output(services.clone(), tdd.clone(), name.clone(), printed.clone()));
        report(&services, &tdd, ExecutionState::Initializing, "").await;
        // The task body runs as its own tokio task, so that a panic in an operator
        // fails this task (and is reported) instead of silently vanishing.
        let body = {
            let (services, tdd, token, printed, metrics) = (services.clone(), tdd.clone(), token.clone(), printed.clone(), metrics.clone());
            tokio::spawn(async move { run(&services, &tdd, &graph, printed, &token, task_id, metrics).await })
        };
        let abort = body.abort_handle();
        let result = tokio::select! {
            r = body => match r {
                Ok(r) => r,
                Err(e) if e.is_panic() => {
                    let payload = e.into_panic();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(TaskError::Internal(message))
                }
                Err(_) => Err(TaskError::Cancelled),
            },
            _ = token.cancelled() => {
                abort.abort();
                Err(TaskError::Cancelled)
            }
        };
        // A peer that went away is usually the echo of a failure elsewhere, which the
        // JobMaster answers by cancelling the job: give that a moment, so the root
        // cause is the one reported.
        let result = match result {
            Err(TaskError::PeerGone(m)) => tokio::select! {
                _ = token.cancelled() => Err(TaskError::Cancelled),
                _ = tokio::time::sleep(Duration::from_secs(2)) => Err(TaskError::PeerGone(m)),
            },
            other => other,
        };
        // A task whose inputs broke because the job is being cancelled was cancelled.
        let result = if token.is_cancelled() { Err(TaskError::Cancelled) } else { result };
        // Every printed row reaches the JobMaster before the final state does; a task
        // whose rows could not all be delivered does not report success.
        printed.close();
        let undelivered = forwarder.await.unwrap_or(0);
        let result = match result {
            Ok(()) if undelivered > 0 => {
                Err(TaskError::Internal(format!("{undelivered} printed lines could not be delivered to the JobMaster")))
            }
            other => other,
        };
        // The final figures travel with the final state; the task's metrics are no
        // longer served here.
        let io = metrics.as_ref().map(|m| m.io());
        services.metrics.unregister(task_id);
        match result {
            Ok(()) => {
                tracing::info!("{name} finished");
                report_final(&services, &tdd, ExecutionState::Finished, "", io).await;
            }
            Err(TaskError::Cancelled) => {
                tracing::info!("{name} canceled");
                report_final(&services, &tdd, ExecutionState::Canceled, "", io).await;
            }
            Err(e) => {
                tracing::warn!("{name} failed: {e}");
                report_final(&services, &tdd, ExecutionState::Failed, &format!("{name} on {}: {e}", services.resource_id), io).await;
            }
        }
        if let Some(controls) = services.controls.lock().get_mut(&tdd.job_id) {
            controls.retain(|(id, _, _)| *id != task_id);
        }
        let mut running = services.running.lock();
        if let Some(tokens) = running.get_mut(&tdd.job_id) {
            tokens.retain(|(id, _)| *id != task_id);
            if tokens.is_empty() {
                running.remove(&tdd.job_id);
            }
        }
    });
    Ok(())
}

async fn run(
    services: &Arc<TaskServices>,
    tdd: &TaskDeploymentDescriptor,
    graph: &JobGraph,
    printed: Arc<PrintedRows>,
    cancel: &CancellationToken,
    task_id: u64,
    metrics: Option<Arc<TaskMetricGroup>>,
) -> Result<(), TaskError> {
    let vertex = graph.vertex(&tdd.vertex_id).expect("validated");
    let subtask = tdd.subtask_index;
    let ctx = OperatorContext {
        job_id: tdd.job_id.clone(),
        subtask,
        parallelism: vertex.parallelism,
        slot_memory: services.memory(&tdd.allocation_id, tdd.memory_budget_bytes),
        printed: printed.clone(),
        attempt: tdd.attempt,
        transactional: tdd.exactly_once,
    };
    let mut source = Source::build(&vertex.operators[0], subtask, vertex.parallelism, &services.allowed_paths)?;
    let skip = usize::from(source.is_some());
    let ops = vertex.operators[skip..].iter().map(|d| operators::build(d, &ctx)).collect::<Result<Vec<_>, _>>()?;
    let uids = vertex.operators[skip..].iter().map(|d| d.uid.clone()).collect();
    let mut chain = OperatorChain::new(ops, uids);
    // The source's counters come first; the chain counts its own operators.
    let source_counters = metrics.as_ref().filter(|_| skip == 1).map(|m| m.operators[0].clone());
    if let Some(m) = &metrics {
        chain.count_with(m.operators[skip..].to_vec());
    }
    let storage = LazyStorage::new(&tdd.checkpoint_dir);
    if !tdd.restore_state_path.is_empty() {
        let bytes = read_state(&tdd.restore_state_path, &storage, &services.allowed_paths, tdd.memory_budget_bytes).await?;
        let states = decode_task_state(&tdd.restore_state_path, &bytes).map_err(|e| TaskError::Deployment(e.to_string()))?;
        for (uid, state) in states {
            if uid == SOURCE_STATE {
                if let Some(s) = source.as_mut() {
                    s.restore(&state)?;
                }
            } else if chain.has_operator(&uid) {
                chain.restore(&uid, &state)?;
            } else if !tdd.allow_non_restored_state {
                return Err(TaskError::Deployment(format!(
                    "the savepoint holds state of operator '{uid}', which this job does not run (--allowNonRestoredState skips it)"
                )));
            }
        }
    }
    if !tdd.rescale_state_paths.is_empty() {
        // Restoring at another parallelism: keep the keys whose key group is ours.
        let (max_p, p, me) = (graph.max_parallelism, vertex.parallelism, subtask);
        let keep = move |hash: u64| subtask_for_hash(hash, max_p, p) == me;
        let mut source_states = Vec::new();
        for path in &tdd.rescale_state_paths {
            let bytes = read_state(path, &storage, &services.allowed_paths, tdd.memory_budget_bytes).await?;
            for (uid, state) in decode_task_state(path, &bytes).map_err(|e| TaskError::Deployment(e.to_string()))? {
                if uid == SOURCE_STATE {
                    source_states.push(state);
                } else if chain.has_operator(&uid) {
                    chain.restore_rescaled(&uid, &state, &keep)?;
                } else if !tdd.allow_non_restored_state {
                    return Err(TaskError::Deployment(format!(
                        "the savepoint holds state of operator '{uid}', which this job does not run (--allowNonRestoredState skips it)"
                    )));
                }
            }
        }
        if let (Some(s), false) = (source.as_mut(), source_states.is_empty()) {
            s.restore_rescaled(&source_states)?;
        }
    }
    // The operators' set-up and restore I/O (the file sink's directories, commits and
    // removals) is done before the task runs.
    chain.settle().await?;
    // Checkpoint triggers (sources) and completions (all) from the JobMaster.
    let (control_tx, mut controls) = mpsc::channel::<CheckpointControl>(16);
    services.controls.lock().entry(tdd.job_id.clone()).or_default().push((task_id, source.is_some(), control_tx));
    let buffer_timeout = Duration::from_millis(tdd.buffer_timeout_ms.max(1));

    // Outputs first, so that consumers waiting for them are never blocked by us.
    let mut writers = Vec::new();
    for edge in graph.outputs_of(&vertex.id) {
        let consumer = graph.vertex(&edge.target).ok_or_else(|| TaskError::Deployment("edge to a missing vertex".into()))?;
        let consumers: Vec<u32> = match edge.partitioning {
            Partitioning::Forward => vec![subtask],
            _ => (0..consumer.parallelism).collect(),
        };
        let mut senders = Vec::with_capacity(consumers.len());
        for c in consumers {
            let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
            services.partitions.register(
                SubpartitionKey {
                    job_id: tdd.job_id.clone(),
                    producer_vertex: vertex.id.clone(),
                    producer_subtask: subtask,
                    consumer_subtask: c,
                    attempt: tdd.attempt,
                },
                rx,
            );
            senders.push(tx);
        }
        writers.push(RecordWriter::new(&edge.partitioning, senders, graph.max_parallelism, buffer_timeout));
    }

    let mut gate = None;
    if source.is_none() {
        let mut receivers = Vec::new();
        for edge in graph.inputs_of(&vertex.id) {
            let producer = graph.vertex(&edge.source).ok_or_else(|| TaskError::Deployment("edge from a missing vertex".into()))?;
            let producers: Vec<u32> = match edge.partitioning {
                Partitioning::Forward => vec![subtask],
                _ => (0..producer.parallelism).collect(),
            };
            for p in producers {
                let location = tdd
                    .inputs
                    .iter()
                    .find(|l| l.producer_vertex_id == producer.id && l.producer_subtask == p)
                    .ok_or_else(|| TaskError::Deployment(format!("no location for producer subtask {p} of {}", producer.name)))?;
                let key = SubpartitionKey {
                    job_id: tdd.job_id.clone(),
                    producer_vertex: producer.id.clone(),
                    producer_subtask: p,
                    consumer_subtask: subtask,
                    attempt: tdd.attempt,
                };
                let rx = if location.taskmanager_address == services.own_address {
                    tokio::select! {
                        rx = services.partitions.take(key, PARTITION_WAIT) => rx?,
                        _ = cancel.cancelled() => return Err(TaskError::Cancelled),
                    }
                } else {
                    remote::read(
                        location.taskmanager_address.clone(),
                        services.internal_tls.clone(),
                        PartitionRequest {
                            job_id: tdd.job_id.clone(),
                            producer_vertex_id: producer.id.clone(),
                            producer_subtask: p,
                            consumer_subtask: subtask,
                            attempt: tdd.attempt,
                        },
                    )
                };
                receivers.push(rx);
            }
        }
        gate = Some(InputGate::new(receivers));
    }

    report(services, tdd, ExecutionState::Running, "").await;
    let mut out: Vec<StreamElement> = Vec::new();
    let far = Instant::now() + Duration::from_secs(86_400);
    let mut clock = TaskClock::new(metrics.is_some());
    loop {
        clock.start_waiting_for_output();
        // Back-pressure from the print sink's buffer.
        tokio::select! {
            _ = printed.wait_for_space() => {}
            _ = cancel.cancelled() => return Err(TaskError::Cancelled),
        }
        if let Some(wait) = chain.pause() {
            // A throttled source waits by choice: idle, not back-pressured.
            clock.start_waiting_for_input();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Err(TaskError::Cancelled),
            }
            clock.start_waiting_for_output();
        }
        // Back-pressure from a sink whose writer is behind.
        if let Some(backlog) = chain.backlog() {
            tokio::select! {
                _ = backlog => {}
                _ = cancel.cancelled() => return Err(TaskError::Cancelled),
            }
        }
        clock.start_waiting_for_input();
        let flush_at = writers.iter().filter_map(|w| w.flush_deadline()).min();
        let timer_at = chain.next_timer().map(|t| {
            let wait = (t - now_ms()).max(0) as u64;
            Instant::now() + Duration::from_millis(wait)
        });
        let mut ended = false;
        tokio::select! {
            elements = next_input(&mut source, &mut gate) => {
                let elements = elements?;
                clock.start_working();
                for element in elements {
                    if let Some(m) = &metrics {
                        match (&element, &source_counters) {
                            (StreamElement::Batch(b), Some(source)) => source.add_out(b.num_rows()),
                            (StreamElement::Batch(b), None) => m.batch_in(b),
                            (StreamElement::Watermark(w), None) => m.input_watermark(*w),
                            (StreamElement::Watermark(w), Some(source)) => source.set_output_watermark(*w),
                            _ => {}
                        }
                    }
                    ended |= matches!(element, StreamElement::EndOfInput);
                    if let StreamElement::Barrier(id) = element {
                        let states = chain.prepare_checkpoint(id).await.and_then(|_| chain.snapshot());
                        checkpoint(services, tdd, &storage, id, states).await;
                    }
                    chain.push(element, &mut out)?;
                }
            }
            Some(control) = controls.recv() => match control {
                CheckpointControl::Complete(id) => chain.notify_checkpoint_complete(id)?,
                CheckpointControl::Trigger { id, stop, drain } => {
                    let states = chain.prepare_checkpoint(id).await.and_then(|_| chain.snapshot()).map(|mut states| {
                        if let Some(s) = &source {
                            states.insert(0, (SOURCE_STATE.to_string(), s.snapshot()));
                        }
                        states
                    });
                    checkpoint(services, tdd, &storage, id, states).await;
                    chain.push(StreamElement::Barrier(id), &mut out)?;
                    if stop {
                        // Stop with savepoint: nothing after the barrier.
                        if drain {
                            chain.push(StreamElement::Watermark(i64::MAX), &mut out)?;
                        }
                        chain.push(StreamElement::EndOfInput, &mut out)?;
                        ended = true;
                    }
                }
            },
            _ = tokio::time::sleep_until(flush_at.unwrap_or(far).into()), if flush_at.is_some() => {
                for w in writers.iter_mut() {
                    w.flush().await?;
                }
            }
            _ = tokio::time::sleep_until(timer_at.unwrap_or(far).into()), if timer_at.is_some() => {
                chain.on_processing_time(now_ms(), &mut out)?;
            }
        }
        clock.start_working();
        for element in out.drain(..) {
            match element {
                StreamElement::Batch(b) => {
                    if let (Some(m), false) = (&metrics, writers.is_empty()) {
                        m.batch_out(&b);
                    }
                    for w in writers.iter_mut() {
                        w.write(b.clone()).await?;
                    }
                }
                other => {
                    for w in writers.iter_mut() {
                        w.broadcast(other.clone()).await?;
                    }
                }
            }
        }
        if let Some(m) = &metrics {
            let backpressured: Duration = writers.iter_mut().map(|w| w.take_backpressured()).sum();
            clock.account(m, backpressured);
        }
        if ended {
            // The sinks' output is written before the task reports FINISHED.
            chain.settle().await?;
            return Ok(());
        }
    }
}

/// The key under which a source's position is stored in its task's state file.
pub const SOURCE_STATE: &str = "__source";

async fn next_input(source: &mut Option<Source>, gate: &mut Option<InputGate>) -> Result<Vec<StreamElement>, TaskError> {
    if let Some(s) = source {
        return s.next().await;
    }
    match gate.as_mut().expect("a task has a source or inputs").next().await {
        Some(e) => Ok(vec![e]),
        None => Err(TaskError::PeerGone("an input channel closed before the end of its input (producer lost)".into())),
    }
}
