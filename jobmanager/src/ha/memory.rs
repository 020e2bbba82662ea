//! In-memory HA: leader election among the candidates of one process and a JobStore
//! fenced by the leadership term, with the same contracts as the etcd backend. For
//! unit tests of the Dispatcher and the JobMaster, and for the conformance suite
//! ([`super::conformance`]) that both backends pass. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use rask_common::job::graph::JobGraph;
use tokio::sync::watch;

use super::{BoxFuture, CheckpointPointer, HaError, JobResult, JobStore, LeaderElection, Leadership, RecoveredJob};

/// What the backend holds: the leader and the store's records.
#[derive(Default)]
struct State {
    /// (term, candidate) of the current leader.
    leader: Option<(u64, u64)>,
    last_term: u64,
    next_candidate: u64,
    job_graphs: BTreeMap<String, JobGraph>,
    counters: HashMap<String, u64>,
    checkpoints: HashMap<String, CheckpointPointer>,
    results: BTreeMap<String, JobResult>,
    /// Set by [`InMemoryHaServices::set_available`]: every call fails as etcd's do
    /// when it cannot be reached.
    unavailable: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped on every change of leader.
    leadership: watch::Sender<u64>,
}

/// One in-memory HA backend; clones share it. Candidates made from it campaign in
/// the same election.
#[derive(Clone)]
pub struct InMemoryHaServices {
    shared: Arc<Shared>,
}

impl Default for InMemoryHaServices {
    fn default() -> Self {
        Self { shared: Arc::new(Shared { state: Mutex::new(State::default()), leadership: watch::Sender::new(0) }) }
    }
}

impl InMemoryHaServices {
    /// A new candidate for leadership.
    pub fn candidate(&self) -> InMemoryLeaderElection {
        let id = {
            let mut state = self.shared.state.lock();
            state.next_candidate += 1;
            state.next_candidate
        };
        InMemoryLeaderElection { shared: self.shared.clone(), id, term: Mutex::new(None) }
    }

    /// Ends the current leader's term as an expired lease would: its `lost` resolves,
    /// its store's writes fail, and a waiting candidate wins.
    pub fn expire_leader(&self) {
        self.shared.state.lock().leader = None;
        self.shared.leadership.send_modify(|v| *v += 1);
    }

    /// With `false`, every call fails with `Unavailable` (as with etcd down) and the
    /// leader loses its term; with `true`, the backend answers again.
    pub fn set_available(&self, available: bool) {
        self.shared.state.lock().unavailable = !available;
        if !available {
            self.expire_leader();
        }
    }

    /// The jobs recorded as terminal, whoever leads (for tests).
    pub fn results(&self) -> Vec<JobResult> {
        self.shared.state.lock().results.values().cloned().collect()
    }
}

fn unavailable() -> HaError {
    HaError::Unavailable("the in-memory backend is switched off".into())
}

/// A candidate of an [`InMemoryHaServices`] election.
pub struct InMemoryLeaderElection {
    shared: Arc<Shared>,
    id: u64,
    /// The term the last campaign won.
    term: Mutex<Option<u64>>,
}

impl InMemoryLeaderElection {
    fn leads(&self, term: u64) -> bool {
        self.shared.state.lock().leader == Some((term, self.id))
    }
}

impl LeaderElection for InMemoryLeaderElection {
    fn campaign(&self) -> BoxFuture<'_, Result<Leadership, HaError>> {
        Box::pin(async move {
            let mut changes = self.shared.leadership.subscribe();
            loop {
                {
                    let mut state = self.shared.state.lock();
                    if state.unavailable {
                        return Err(unavailable());
                    }
                    if state.leader.is_none() {
                        state.last_term += 1;
                        let term = state.last_term;
                        state.leader = Some((term, self.id));
                        drop(state);
                        *self.term.lock() = Some(term);
                        self.shared.leadership.send_modify(|v| *v += 1);
                        let store = InMemoryJobStore { shared: self.shared.clone(), term };
                        return Ok(Leadership { token: rask_common::ids::random_hex_id(), term, store: Arc::new(store) });
                    }
                }
                if changes.changed().await.is_err() {
                    return Err(unavailable());
                }
            }
        })
    }

    fn lost(&self) -> BoxFuture<'_, ()> {
        let term = *self.term.lock();
        let mut changes = self.shared.leadership.subscribe();
        Box::pin(async move {
            let Some(term) = term else { return std::future::pending().await };
            while self.leads(term) {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
    }

    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>> {
        Box::pin(async move {
            let Some(term) = self.term.lock().take() else { return Ok(()) };
            let mut state = self.shared.state.lock();
            if state.leader == Some((term, self.id)) {
                state.leader = None;
                drop(state);
                self.shared.leadership.send_modify(|v| *v += 1);
            }
            Ok(())
        })
    }
}

/// The store of one leadership term: writes succeed while the term lasts.
pub struct InMemoryJobStore {
    shared: Arc<Shared>,
    term: u64,
}

impl InMemoryJobStore {
    /// Runs `write` on the state while this store's term leads.
    fn guarded<T>(&self, write: impl FnOnce(&mut State) -> Result<T, HaError>) -> Result<T, HaError> {
        let mut state = self.shared.state.lock();
        if state.unavailable {
            return Err(unavailable());
        }
        if state.leader.map(|(term, _)| term) != Some(self.term) {
            return Err(HaError::NotLeader);
        }
        write(&mut state)
    }

    fn read<T>(&self, read: impl FnOnce(&State) -> T) -> Result<T, HaError> {
        let state = self.shared.state.lock();
        if state.unavailable {
            return Err(unavailable());
        }
        Ok(read(&state))
    }
}

impl JobStore for InMemoryJobStore {
    fn put_job_graph<'a>(&'a self, graph: &'a JobGraph) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            if self.read(|s| s.results.contains_key(&graph.job_id))? {
                return Err(HaError::JobEnded(graph.job_id.clone()));
            }
            self.guarded(|s| {
                s.job_graphs.insert(graph.job_id.clone(), graph.clone());
                Ok(())
            })
        })
    }

    fn recover_jobs(&self) -> BoxFuture<'_, Result<Vec<RecoveredJob>, HaError>> {
        Box::pin(async move {
            self.read(|s| {
                s.job_graphs
                    .values()
                    .filter(|g| !s.results.contains_key(&g.job_id))
                    .map(|g| RecoveredJob {
                        graph: g.clone(),
                        checkpoint_counter: s.counters.get(&g.job_id).copied().unwrap_or(0),
                        checkpoints: s.checkpoints.get(&g.job_id).cloned(),
                    })
                    .collect()
            })
        })
    }

    fn job_results(&self) -> BoxFuture<'_, Result<Vec<JobResult>, HaError>> {
        Box::pin(async move { self.read(|s| s.results.values().cloned().collect()) })
    }

    fn checkpoint_id_used<'a>(&'a self, job_id: &'a str, id: u64) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            self.guarded(|s| {
                s.counters.insert(job_id.to_string(), id);
                Ok(())
            })
        })
    }

    fn put_checkpoints<'a>(&'a self, job_id: &'a str, pointer: &'a CheckpointPointer) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            self.guarded(|s| {
                s.checkpoints.insert(job_id.to_string(), pointer.clone());
                Ok(())
            })
        })
    }

    fn job_terminated<'a>(&'a self, result: &'a JobResult) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            self.guarded(|s| {
                let job = &result.job_id;
                s.results.insert(job.clone(), result.clone());
                s.job_graphs.remove(job);
                s.checkpoints.remove(job);
                s.counters.remove(job);
                Ok(())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ha::conformance::{self, Backend};

    struct Memory(InMemoryHaServices);

    impl Backend for Memory {
        fn candidate(&self, _name: &str) -> Arc<dyn LeaderElection> {
            Arc::new(self.0.candidate())
        }

        fn break_leadership(&self) -> BoxFuture<'_, ()> {
            Box::pin(async { self.0.set_available(false) })
        }
    }

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        conformance::run_all(&Memory(InMemoryHaServices::default())).await;
    }
}
