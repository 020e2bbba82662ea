//! etcd HA: leader election with etcd's Election API on a lease the leader renews,
//! and the JobStore whose every write is a transaction guarded by the leader key's
//! create revision (a deposed leader's writes fail). Key layout: `rask_common::etcd`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use parking_lot::Mutex;
use rask_common::etcd::{describe_error, EtcdSettings, REQUEST_TIMEOUT};
use rask_common::job::graph::JobGraph;
use rask_common::leader::LeaderAddress;
use tokio::sync::watch;

use super::{BoxFuture, CheckpointPointer, HaError, JobResult, JobStore, LeaderElection, Leadership, RecoveredJob};

fn unavailable(e: impl std::fmt::Display) -> HaError {
    HaError::Unavailable(e.to_string())
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = Result<T, etcd_client::Error>>) -> Result<T, HaError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| HaError::Unavailable(format!("{what}: {}", describe_error(&e)))),
        Err(_) => Err(HaError::Unavailable(format!("{what}: no answer from etcd within {} s", REQUEST_TIMEOUT.as_secs()))),
    }
}

/// The term this JobManager holds or campaigns for.
struct Term {
    client: Client,
    lease: i64,
    lost: watch::Receiver<bool>,
    keeper: tokio::task::JoinHandle<()>,
}

/// Campaigns in `/rask/<cluster-id>/leader` with this JobManager's addresses.
pub struct EtcdLeaderElection {
    settings: EtcdSettings,
    address: LeaderAddress,
    term: Mutex<Option<Term>>,
    /// A lease of an ended term not revoked yet (etcd was unreachable).
    stale_lease: Mutex<Option<i64>>,
}

impl EtcdLeaderElection {
    pub fn new(settings: EtcdSettings, address: LeaderAddress) -> Self {
        Self { settings, address, term: Mutex::new(None), stale_lease: Mutex::new(None) }
    }

    async fn campaign_once(&self) -> Result<Leadership, HaError> {
        // A previous term's lease would keep its key ahead of ours: revoke it first.
        self.end_term();
        let mut client = self.settings.connect().await.map_err(unavailable)?;
        let stale = self.stale_lease.lock().take();
        if let Some(lease) = stale {
            if bounded("revoking the previous lease", client.lease_revoke(lease)).await.is_err() {
                tracing::debug!("could not revoke the previous lease {lease:x}; it expires on its own");
            }
        }
        let ttl = self.settings.lease_ttl.as_secs() as i64;
        let lease = bounded("granting a lease", client.lease_grant(ttl, None)).await?.id();
        let (lost_tx, mut lost) = watch::channel(false);
        let keeper = tokio::spawn(keep_alive(client.clone(), lease, self.settings.lease_ttl, lost_tx));
        *self.term.lock() = Some(Term { client: client.clone(), lease, lost: lost.clone(), keeper });
        // The token is published with the addresses: TaskManagers check it.
        let token = rask_common::ids::random_hex_id();
        let value = serde_json::to_vec(&LeaderAddress { session: token.clone(), ..self.address.clone() }).expect("serializes");
        tracing::info!("campaigning for leadership in etcd ({}) with lease {lease:x}", self.settings.describe());
        let name = self.settings.leader_election();
        let mut election = client.clone();
        let won = tokio::select! {
            r = election.campaign(name.clone(), value, lease) => r.map_err(|e| unavailable(format!("campaign: {}", describe_error(&e))))?,
            _ = lost.wait_for(|l| *l) => return Err(HaError::Unavailable("the campaign's lease could not be renewed".into())),
        };
        let key = won.leader().ok_or_else(|| HaError::Unavailable("campaign answered without a leader key".into()))?;
        let (leader_key, revision) = (key.key().to_vec(), key.rev());
        tracing::info!("won the leadership in etcd (key {}, revision {revision})", String::from_utf8_lossy(&leader_key));
        let store = EtcdJobStore { client, settings: self.settings.clone(), leader_key, revision };
        Ok(Leadership { token, term: revision as u64, store: Arc::new(store) })
    }

    /// Stops renewing the current term's lease and remembers it for revocation.
    fn end_term(&self) {
        if let Some(term) = self.term.lock().take() {
            term.keeper.abort();
            *self.stale_lease.lock() = Some(term.lease);
        }
    }
}

impl LeaderElection for EtcdLeaderElection {
    fn campaign(&self) -> BoxFuture<'_, Result<Leadership, HaError>> {
        Box::pin(async move {
            let result = self.campaign_once().await;
            if result.is_err() {
                self.end_term();
            }
            result
        })
    }

    fn lost(&self) -> BoxFuture<'_, ()> {
        let lost = self.term.lock().as_ref().map(|t| t.lost.clone());
        Box::pin(async move {
            match lost {
                Some(mut lost) => {
                    let _ = lost.wait_for(|l| *l).await;
                }
                None => std::future::pending().await,
            }
        })
    }

    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>> {
        Box::pin(async move {
            let term = self.term.lock().take();
            let Some(mut term) = term else {
                // A lease of an ended term may still hold a candidate key: revoke it.
                let stale = self.stale_lease.lock().take();
                if let (Some(lease), Ok(mut client)) = (stale, self.settings.connect().await) {
                    let _ = bounded("revoking the previous lease", client.lease_revoke(lease)).await;
                }
                return Ok(());
            };
            term.keeper.abort();
            // Revoking the lease deletes the leader key: a standby's campaign wins now.
            let lease = term.lease;
            if let Err(e) = bounded("revoking the leader lease", term.client.lease_revoke(lease)).await {
                *self.stale_lease.lock() = Some(lease);
                return Err(e);
            }
            tracing::info!("resigned the leadership (lease {lease:x} revoked)");
            Ok(())
        })
    }
}

/// Renews `lease` every quarter of its TTL. Reports `lost` when no renewal succeeded
/// for three quarters of the TTL (before etcd could let the lease expire, however the
/// clocks drift) or when etcd says the lease is gone.
async fn keep_alive(mut client: Client, lease: i64, ttl: Duration, lost: watch::Sender<bool>) {
    let interval = ttl / 4;
    let step_down_after = ttl * 3 / 4;
    let mut renewed = Instant::now();
    let mut stream = None;
    let mut failures = 0u32;
    loop {
        let deadline = renewed + step_down_after;
        let sent = Instant::now();
        let attempt = async {
            if stream.is_none() {
                stream = Some(client.lease_keep_alive(lease).await?);
            }
            let (keeper, responses) = stream.as_mut().expect("just set");
            keeper.keep_alive().await?;
            match responses.message().await? {
                Some(r) => Ok(r.ttl()),
                None => Err(etcd_client::Error::InvalidArgs("keep-alive stream closed".into())),
            }
        };
        match tokio::time::timeout_at(deadline.into(), attempt).await {
            Ok(Ok(ttl_left)) if ttl_left > 0 => {
                renewed = sent;
                failures = 0;
            }
            Ok(Ok(_)) => {
                tracing::error!("the leader lease {lease:x} has expired in etcd; stepping down");
                let _ = lost.send(true);
                return;
            }
            Ok(Err(e)) => {
                stream = None;
                failures += 1;
                if failures == 1 {
                    tracing::warn!("cannot renew the leader lease {lease:x}: {}", describe_error(&e));
                }
            }
            Err(_) => {}
        }
        if Instant::now() >= renewed + step_down_after {
            tracing::error!(
                "no renewal of the leader lease {lease:x} for {} ms (3/4 of high-availability.etcd.lease-ttl); stepping down",
                step_down_after.as_millis()
            );
            let _ = lost.send(true);
            return;
        }
        let next = if failures > 0 { Instant::now() + Duration::from_millis(100) } else { sent + interval };
        tokio::time::sleep_until(next.min(renewed + step_down_after).into()).await;
    }
}

/// The leader's store in etcd.
pub struct EtcdJobStore {
    client: Client,
    settings: EtcdSettings,
    leader_key: Vec<u8>,
    revision: i64,
}

impl EtcdJobStore {
    /// Applies `ops` only while our leader key still exists with our revision.
    async fn guarded(&self, what: &str, ops: Vec<TxnOp>) -> Result<(), HaError> {
        let txn = Txn::new().when([Compare::create_revision(self.leader_key.clone(), CompareOp::Equal, self.revision)]).and_then(ops);
        let mut client = self.client.clone();
        let response = bounded(what, client.txn(txn)).await?;
        if response.succeeded() {
            Ok(())
        } else {
            tracing::error!("etcd refused {what}: this JobManager's leader key is gone (it is no longer the leader)");
            Err(HaError::NotLeader)
        }
    }

    /// Every key under `prefix`, by the name after it.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, HaError> {
        let mut client = self.client.clone();
        let response = bounded("reading etcd", client.get(prefix, Some(GetOptions::new().with_prefix()))).await?;
        Ok(response.kvs().iter().map(|kv| (String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned(), kv.value().to_vec())).collect())
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, HaError> {
    serde_json::from_slice(bytes).map_err(|e| HaError::Corrupt { key: key.to_string(), message: e.to_string() })
}

impl JobStore for EtcdJobStore {
    fn put_job_graph<'a>(&'a self, graph: &'a JobGraph) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            let result = format!("{}{}", self.settings.job_results(), graph.job_id);
            let mut client = self.client.clone();
            if !bounded("reading etcd", client.get(result, None)).await?.kvs().is_empty() {
                return Err(HaError::JobEnded(graph.job_id.clone()));
            }
            let key = format!("{}{}", self.settings.job_graphs(), graph.job_id);
            let json = serde_json::to_vec(graph).expect("JobGraph serializes");
            self.guarded("storing a JobGraph", vec![TxnOp::put(key, json, None)]).await
        })
    }

    fn recover_jobs(&self) -> BoxFuture<'_, Result<Vec<RecoveredJob>, HaError>> {
        Box::pin(async move {
            let finished: std::collections::HashSet<String> =
                self.list(&self.settings.job_results()).await?.into_iter().map(|(job, _)| job).collect();
            // A job with a corrupt record is not run (it could only start over and
            // repeat its output); it is named, and the other jobs are recovered.
            let mut corrupt = std::collections::HashSet::new();
            let mut counters = std::collections::HashMap::new();
            for (job, value) in self.list(&self.settings.checkpoint_counters()).await? {
                match String::from_utf8_lossy(&value).parse::<u64>() {
                    Ok(n) => {
                        counters.insert(job, n);
                    }
                    Err(e) => {
                        tracing::error!("job {job}: corrupt checkpoint counter in etcd ({e}); the job is not recovered");
                        corrupt.insert(job);
                    }
                }
            }
            let mut pointers = std::collections::HashMap::new();
            for (job, value) in self.list(&self.settings.checkpoints()).await? {
                match decode::<CheckpointPointer>(&format!("{}{job}", self.settings.checkpoints()), &value) {
                    Ok(pointer) => {
                        pointers.insert(job, pointer);
                    }
                    Err(e) => {
                        tracing::error!("job {job}: {e}; the job is not recovered");
                        corrupt.insert(job);
                    }
                }
            }
            let mut jobs = Vec::new();
            for (job, value) in self.list(&self.settings.job_graphs()).await? {
                if finished.contains(&job) || corrupt.contains(&job) {
                    continue;
                }
                let graph: JobGraph = match decode(&format!("{}{job}", self.settings.job_graphs()), &value) {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::error!("{e}; the job is not recovered");
                        continue;
                    }
                };
                let checkpoint_counter = counters.get(&job).copied().unwrap_or(0);
                jobs.push(RecoveredJob { graph, checkpoint_counter, checkpoints: pointers.remove(&job) });
            }
            Ok(jobs)
        })
    }

    fn job_results(&self) -> BoxFuture<'_, Result<Vec<JobResult>, HaError>> {
        Box::pin(async move {
            let mut results = Vec::new();
            for (job, value) in self.list(&self.settings.job_results()).await? {
                results.push(decode(&format!("{}{job}", self.settings.job_results()), &value)?);
            }
            Ok(results)
        })
    }

    fn checkpoint_id_used<'a>(&'a self, job_id: &'a str, id: u64) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            let key = format!("{}{job_id}", self.settings.checkpoint_counters());
            self.guarded("storing the checkpoint counter", vec![TxnOp::put(key, id.to_string(), None)]).await
        })
    }

    fn put_checkpoints<'a>(&'a self, job_id: &'a str, pointer: &'a CheckpointPointer) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            let key = format!("{}{job_id}", self.settings.checkpoints());
            let json = serde_json::to_vec(pointer).expect("serializes");
            self.guarded("storing the latest checkpoint", vec![TxnOp::put(key, json, None)]).await
        })
    }

    fn job_terminated<'a>(&'a self, result: &'a JobResult) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async move {
            let job = &result.job_id;
            let json = serde_json::to_vec(result).expect("serializes");
            let ops = vec![
                TxnOp::put(format!("{}{job}", self.settings.job_results()), json, None),
                TxnOp::delete(format!("{}{job}", self.settings.job_graphs()), None),
                TxnOp::delete(format!("{}{job}", self.settings.checkpoints()), None),
                TxnOp::delete(format!("{}{job}", self.settings.checkpoint_counters()), None),
            ];
            self.guarded("recording a terminal job", ops).await
        })
    }
}
