//! The etcd HA services against a real etcd, in-process: leader election, and the
//! JobStore whose writes are fenced by the writer's leadership. A leader that lost
//! its key (resigned, or its lease expired while it was paused) cannot write.

use std::sync::Arc;
use std::time::Duration;

use rask_common::config::Configuration;
use rask_common::etcd::EtcdSettings;
use rask_common::job::graph::JobGraph;
use rask_common::leader::LeaderAddress;
use rask_jobmanager::ha::etcd::EtcdLeaderElection;
use rask_jobmanager::ha::{CheckpointPointer, HaError, JobResult, LeaderElection};
use rask_tests::*;

fn settings(etcd: &Etcd, ttl: u32) -> EtcdSettings {
    let mut conf = Configuration::new();
    conf.set("high-availability.type", "etcd").unwrap();
    conf.set("high-availability.etcd.endpoints", etcd.url.clone()).unwrap();
    conf.set("high-availability.cluster-id", format!("store-{}", free_port())).unwrap();
    conf.set("high-availability.etcd.lease-ttl", ttl.to_string()).unwrap();
    EtcdSettings::from_configuration(&conf).unwrap().expect("etcd settings")
}

fn candidate(settings: &EtcdSettings, name: &str) -> Arc<EtcdLeaderElection> {
    let address = LeaderAddress { rpc_address: format!("{name}:6123"), rest_url: format!("http://{name}:8081"), session: String::new() };
    Arc::new(EtcdLeaderElection::new(settings.clone(), address))
}

/// A planned job with this id.
fn graph(job_id: &str) -> JobGraph {
    let path = examples_dir().join("word-count.yaml");
    let mut graph = rask_common::job::plan_job_file(&path, &Default::default()).unwrap();
    graph.job_id = job_id.to_string();
    graph
}

#[test]
fn a_deposed_leader_cannot_write_and_the_next_leader_recovers_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let settings = settings(&etcd, 30);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (a, b) = (candidate(&settings, "a"), candidate(&settings, "b"));
        let first = a.campaign().await.unwrap();
        let job = "0123456789abcdef0123456789abcdef";
        first.store.put_job_graph(&graph(job)).await.unwrap();
        first.store.checkpoint_id_used(job, 7).await.unwrap();
        let pointer = CheckpointPointer { dir: "/chk".into(), retained: vec![6, 7] };
        first.store.put_checkpoints(job, &pointer).await.unwrap();
        // b waits behind a; a resigns; b leads at once (the lease is 30 s).
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.campaign().await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "b must wait while a leads");
        a.resign().await.unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("b leads after a resigned").unwrap().unwrap();
        assert!(second.term > first.term && second.token != first.token);
        // Every write of the deposed leader is refused.
        assert!(matches!(first.store.put_job_graph(&graph(job)).await, Err(HaError::NotLeader)));
        assert!(matches!(first.store.checkpoint_id_used(job, 8).await, Err(HaError::NotLeader)));
        assert!(matches!(first.store.put_checkpoints(job, &pointer).await, Err(HaError::NotLeader)));
        // The new leader finds the job, its checkpoints and its counter.
        let recovered = second.store.recover_jobs().await.unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].graph.job_id, job);
        assert_eq!(recovered[0].checkpoint_counter, 7);
        assert_eq!(recovered[0].checkpoints.as_ref(), Some(&pointer));
        // A terminal job is recorded and never recovered again.
        let result = JobResult { job_id: job.into(), name: "word-count".into(), status: "FINISHED".into(), end_time: 1 };
        second.store.job_terminated(&result).await.unwrap();
        assert!(second.store.recover_jobs().await.unwrap().is_empty());
        assert_eq!(second.store.job_results().await.unwrap(), vec![result]);
        // Its id cannot be submitted again.
        assert!(matches!(second.store.put_job_graph(&graph(job)).await, Err(HaError::JobEnded(_))));
    });
}

#[test]
fn a_leader_that_cannot_renew_its_lease_reports_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start(dir.path());
    let settings = settings(&etcd, 2);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let a = candidate(&settings, "a");
        let _leadership = a.campaign().await.unwrap();
        tokio::task::block_in_place(|| etcd.stop());
        // It steps down after three quarters of the 2 s lease without a renewal.
        tokio::time::timeout(Duration::from_secs(5), a.lost()).await.expect("the loss is reported");
    });
}

/// etcd as a conformance-suite backend: candidates with a 2 s lease; breaking the
/// leadership stops the etcd server.
struct EtcdBackend {
    settings: EtcdSettings,
    etcd: std::sync::Mutex<Etcd>,
}

impl rask_jobmanager::ha::conformance::Backend for EtcdBackend {
    fn candidate(&self, name: &str) -> Arc<dyn LeaderElection> {
        candidate(&self.settings, name)
    }

    fn break_leadership(&self) -> rask_jobmanager::ha::BoxFuture<'_, ()> {
        Box::pin(async { tokio::task::block_in_place(|| self.etcd.lock().unwrap().stop()) })
    }
}

#[test]
fn etcd_passes_the_ha_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let backend = EtcdBackend { settings: settings(&etcd, 2), etcd: std::sync::Mutex::new(etcd) };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(rask_jobmanager::ha::conformance::run_all(&backend));
}
