//! The conformance suite of the HA services: what every `LeaderElection` and
//! `JobStore` backend must do, as one set of checks run against each (the in-memory
//! backend in this crate's unit tests, etcd in `tests/tests/ha_store.rs` against a
//! real etcd). A new backend passes `run_all` before it is used.

use std::sync::Arc;
use std::time::Duration;

use rask_common::job::graph::JobGraph;

use super::{BoxFuture, CheckpointPointer, HaError, JobResult, LeaderElection};

/// A backend under test: one election in which any number of candidates campaign.
pub trait Backend: Send + Sync {
    /// A new candidate in the backend's election (`name` tells candidates apart in
    /// the backend's records, where it has any).
    fn candidate(&self, name: &str) -> Arc<dyn LeaderElection>;

    /// Makes the backend unable to keep the current leader's term (etcd: the server
    /// stops, so the lease cannot be renewed). Called last: the backend need not
    /// work afterwards.
    fn break_leadership(&self) -> BoxFuture<'_, ()>;
}

/// A small planned job with this id.
pub fn job_graph(job_id: &str) -> JobGraph {
    let text = "name: conformance\nsources:\n  - name: numbers\n    connector: datagen\n    number-of-rows: 10\n    fields:\n      - {name: n, type: BIGINT, kind: sequence, start: 1}\nsinks:\n  - name: out\n    connector: print\n";
    let mut graph = rask_common::job::planner::plan_job_text(text, std::path::Path::new("conformance.yaml"), &Default::default())
        .expect("the conformance job plans");
    graph.job_id = job_id.to_string();
    graph
}

/// How long a step may take before the suite reports it as hanging.
const STEP: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.unwrap_or_else(|_| panic!("{what} did not happen within {} s", STEP.as_secs()))
}

/// Every check, the one that breaks the backend last.
pub async fn run_all(backend: &dyn Backend) {
    a_candidate_waits_while_another_leads_and_wins_when_it_resigns(backend).await;
    a_deposed_leader_cannot_write_and_the_next_leader_recovers_what_it_wrote(backend).await;
    terminated_jobs_are_never_recovered_nor_accepted_again(backend).await;
    a_leader_that_cannot_keep_its_term_is_told(backend).await;
}

/// One leader at a time; a resignation hands over at once, with a new term and token.
pub async fn a_candidate_waits_while_another_leads_and_wins_when_it_resigns(backend: &dyn Backend) {
    let (a, b) = (backend.candidate("a"), backend.candidate("b"));
    let first = within("a's campaign", a.campaign()).await.expect("a leads");
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.campaign().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "b must wait while a leads");
    a.resign().await.expect("a resigns");
    a.resign().await.expect("resigning twice is harmless");
    let second = within("b's campaign after a resigned", waiting).await.expect("joins").expect("b leads");
    assert!(second.term > first.term, "terms grow: {} after {}", second.term, first.term);
    assert_ne!(second.token, first.token);
    assert_eq!(second.token.len(), 32, "a token is 32 hex characters");
    b.resign().await.expect("b resigns");
}

/// Writes are fenced by the term; a new leader finds the jobs, their checkpoints and
/// counters that the earlier one recorded.
pub async fn a_deposed_leader_cannot_write_and_the_next_leader_recovers_what_it_wrote(backend: &dyn Backend) {
    let (a, b) = (backend.candidate("a2"), backend.candidate("b2"));
    let first = within("a's campaign", a.campaign()).await.expect("a leads");
    let (job, other) = ("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");
    first.store.put_job_graph(&job_graph(job)).await.expect("stores a JobGraph");
    first.store.put_job_graph(&job_graph(other)).await.expect("stores a second JobGraph");
    first.store.checkpoint_id_used(job, 7).await.expect("stores the counter");
    let pointer = CheckpointPointer { dir: "/chk".into(), retained: vec![6, 7] };
    first.store.put_checkpoints(job, &pointer).await.expect("stores the checkpoints");
    a.resign().await.expect("a resigns");
    let second = within("b's campaign", b.campaign()).await.expect("b leads");
    assert!(matches!(first.store.put_job_graph(&job_graph(job)).await, Err(HaError::NotLeader)));
    assert!(matches!(first.store.checkpoint_id_used(job, 8).await, Err(HaError::NotLeader)));
    assert!(matches!(first.store.put_checkpoints(job, &pointer).await, Err(HaError::NotLeader)));
    let result = JobResult { job_id: job.into(), name: "conformance".into(), status: "FINISHED".into(), end_time: 1 };
    assert!(matches!(first.store.job_terminated(&result).await, Err(HaError::NotLeader)));
    let mut recovered = second.store.recover_jobs().await.expect("recovers");
    recovered.sort_by(|x, y| x.graph.job_id.cmp(&y.graph.job_id));
    assert_eq!(recovered.len(), 2, "both jobs are recovered");
    assert_eq!(recovered[0].graph.job_id, job);
    assert_eq!(recovered[0].graph, job_graph(job), "the JobGraph comes back as it was stored");
    assert_eq!(recovered[0].checkpoint_counter, 7);
    assert_eq!(recovered[0].checkpoints.as_ref(), Some(&pointer));
    assert_eq!(recovered[1].graph.job_id, other);
    assert_eq!((recovered[1].checkpoint_counter, recovered[1].checkpoints.as_ref()), (0, None), "a job without checkpoints");
    // The new leader's writes replace the old ones.
    second.store.checkpoint_id_used(job, 9).await.expect("the new leader writes");
    let recovered = second.store.recover_jobs().await.expect("recovers");
    assert_eq!(recovered.iter().find(|r| r.graph.job_id == job).map(|r| r.checkpoint_counter), Some(9));
    for id in [job, other] {
        let result = JobResult { job_id: id.into(), name: "conformance".into(), status: "CANCELED".into(), end_time: 2 };
        second.store.job_terminated(&result).await.expect("records the end");
    }
    b.resign().await.expect("b resigns");
}

/// A terminal job is recorded once, never recovered, and its id is refused.
pub async fn terminated_jobs_are_never_recovered_nor_accepted_again(backend: &dyn Backend) {
    let a = backend.candidate("a3");
    let leadership = within("a's campaign", a.campaign()).await.expect("a leads");
    let job = "00000000000000000000000000000abc";
    leadership.store.put_job_graph(&job_graph(job)).await.expect("stores");
    leadership.store.checkpoint_id_used(job, 3).await.expect("stores the counter");
    let before = leadership.store.job_results().await.expect("reads results").len();
    let result = JobResult { job_id: job.into(), name: "conformance".into(), status: "FINISHED".into(), end_time: 3 };
    leadership.store.job_terminated(&result).await.expect("records the end");
    assert!(leadership.store.recover_jobs().await.expect("recovers").iter().all(|r| r.graph.job_id != job));
    let results = leadership.store.job_results().await.expect("reads results");
    assert_eq!(results.len(), before + 1);
    assert!(results.contains(&result));
    assert!(matches!(leadership.store.put_job_graph(&job_graph(job)).await, Err(HaError::JobEnded(id)) if id == job));
    a.resign().await.expect("a resigns");
}

/// When the backend cannot keep the term, `lost` resolves and writes fail.
pub async fn a_leader_that_cannot_keep_its_term_is_told(backend: &dyn Backend) {
    let a = backend.candidate("a4");
    let leadership = within("a's campaign", a.campaign()).await.expect("a leads");
    backend.break_leadership().await;
    within("the loss of leadership to be reported", a.lost()).await;
    let job = "0000000000000000000000000000beef";
    assert!(leadership.store.put_job_graph(&job_graph(job)).await.is_err(), "no write after the term is lost");
}
