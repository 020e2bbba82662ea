//! Leadership terms: what a JobManager runs while it leads (ResourceManager,
//! Dispatcher with its JobMasters, the REST routes), the gate through which the
//! endpoints reach the current term, and the loop that campaigns, starts a term,
//! recovers the jobs of earlier leaders, and suspends the term when leadership ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::RwLock;
use rask_common::leader::LeaderRetrieval;
use serde_json::json;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::configuration::JobManagerConfiguration;
use crate::dispatcher::Dispatcher;
use crate::ha::{LeaderElection, Leadership};
use crate::job_master::JobMasterServices;
use crate::metrics::fetcher::MetricFetcher;
use crate::metrics::JobManagerMetrics;
use crate::resource_manager::ResourceManager;
use crate::resource_provider::{self, ResourceProvider};
use crate::rest::{self, RestState};

/// One term of leadership.
pub struct LeaderTerm {
    pub token: String,
    pub term: u64,
    pub resource_manager: Arc<ResourceManager>,
    pub dispatcher: Arc<Dispatcher>,
    pub metrics: Arc<JobManagerMetrics>,
    rest: axum::Router,
    /// Turns true when the term ends: TaskManager sessions close.
    ended: watch::Sender<bool>,
}

impl LeaderTerm {
    /// Resolves when the term has ended.
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    /// Stops acting as leader without touching the jobs' tasks: JobMasters stop where
    /// they are (a new leader recovers the jobs), TaskManager sessions close. A
    /// `graceful` stop (not a lost leadership) lets ended jobs record their end first.
    async fn suspend(&self, graceful: bool) {
        let _ = self.ended.send(true);
        self.dispatcher.suspend(graceful).await;
    }
}

/// How endpoints reach the current term; a standby has none.
pub struct LeaderGate {
    current: RwLock<Option<Arc<LeaderTerm>>>,
    changed: watch::Sender<u64>,
    /// Where the leader is (etcd HA), for a standby's answers.
    retrieval: Option<Arc<dyn LeaderRetrieval>>,
    own_rest_url: String,
}

impl LeaderGate {
    pub fn new(retrieval: Option<Arc<dyn LeaderRetrieval>>, own_rest_url: String) -> Self {
        Self { current: RwLock::new(None), changed: watch::Sender::new(0), retrieval, own_rest_url }
    }

    pub fn term(&self) -> Option<Arc<LeaderTerm>> {
        self.current.read().clone()
    }

    fn set(&self, term: Option<Arc<LeaderTerm>>) {
        *self.current.write() = term;
        self.changed.send_modify(|n| *n += 1);
    }

    /// Waits until this JobManager leads, at most `timeout`.
    pub async fn wait_for_term(&self, timeout: Duration) -> Option<Arc<LeaderTerm>> {
        let mut changed = self.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = self.term() {
                return Some(t);
            }
            if tokio::time::timeout_at(deadline.into(), changed.changed()).await.is_err() {
                return None;
            }
        }
    }

    /// The leader's REST URL when another JobManager leads.
    pub fn other_leader(&self) -> Option<String> {
        let leader = self.retrieval.as_ref()?.subscribe().borrow().clone()?;
        (leader.rest_url != self.own_rest_url).then_some(leader.rest_url)
    }

    /// A standby's answer: a redirect to the leader (307 keeps method and body), or
    /// 503 while no leader is known.
    fn not_leader(&self, request: &Request) -> Response {
        let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        match self.other_leader() {
            Some(leader) => {
                let message = format!("This JobManager is not the leader; the leader is at {leader}.");
                let location = format!("{leader}{path}");
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)], Json(json!({ "errors": [message] }))).into_response()
            }
            None => {
                let message = "This JobManager is not the leader and no leader is elected right now; retry shortly.";
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "errors": [message] }))).into_response()
            }
        }
    }
}

/// The REST endpoint: the current term's routes, or a standby's answer.
pub fn rest_router(gate: Arc<LeaderGate>) -> axum::Router {
    axum::Router::new().fallback(route).with_state(gate)
}

async fn route(State(gate): State<Arc<LeaderGate>>, request: Request<Body>) -> Response {
    match gate.term() {
        Some(term) => match term.rest.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        None => gate.not_leader(&request),
    }
}

/// Campaigns, leads, and campaigns again after a lost term, until `shutdown`; then
/// suspends the term and resigns so a standby takes over at once.
pub async fn run(
    conf: Arc<JobManagerConfiguration>,
    election: Arc<dyn LeaderElection>,
    provider: Arc<dyn ResourceProvider>,
    gate: Arc<LeaderGate>,
    gateway_address: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let campaign = tokio::select! {
            r = election.campaign() => r,
            _ = stopped(&mut shutdown) => {
                let _ = election.resign().await;
                return;
            }
        };
        let leadership = match campaign {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("leader election: {e}; retrying in {} ms", backoff.as_millis());
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped(&mut shutdown) => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let term = match start_term(&conf, leadership, &gateway_address, started).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("cannot take over as leader: {e}; resigning, campaigning again in {} ms", backoff.as_millis());
                let _ = election.resign().await;
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped(&mut shutdown) => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        tokio::spawn(resource_provider::drive(
            provider.clone(),
            term.resource_manager.clone(),
            conf.slots_per_worker,
            conf.taskmanager_timeout,
            term.ended(),
        ));
        backoff = Duration::from_millis(100);
        gate.set(Some(term.clone()));
        let resign = tokio::select! {
            _ = election.lost() => false,
            _ = stopped(&mut shutdown) => true,
        };
        gate.set(None);
        term.suspend(resign).await;
        if resign {
            if let Err(e) = election.resign().await {
                tracing::warn!("could not resign leadership: {e}");
            }
            return;
        }
        tracing::warn!("lost the leadership (term {}): jobs suspended, campaigning again", term.term);
    }
}

/// Builds a term and resubmits every job an earlier leader left running.
async fn start_term(
    conf: &JobManagerConfiguration,
    leadership: Leadership,
    gateway_address: &str,
    started: Instant,
) -> Result<Arc<LeaderTerm>, crate::ha::HaError> {
    let recovered = leadership.store.recover_jobs().await?;
    let gateways: Arc<dyn crate::job_master::gateway::TaskExecutorGateways> =
        Arc::new(crate::job_master::gateway::GrpcGateways { tls: conf.internal_tls.clone() });
    let resource_manager =
        Arc::new(ResourceManager::new(conf.cluster_id.clone(), leadership.token.clone(), conf.heartbeat_interval, conf.heartbeat_timeout));
    let dispatcher = Arc::new(Dispatcher::new(
        JobMasterServices {
            resource_manager: resource_manager.clone(),
            gateways: gateways.clone(),
            leader_token: leadership.token.clone(),
            gateway_address: gateway_address.to_string(),
            slot_request_timeout: conf.slot_request_timeout,
            cluster_configuration: conf.raw.clone(),
            savepoint_staging: conf.savepoint_staging.clone(),
            store: leadership.store.clone(),
            term: leadership.term,
            allowed_paths: conf.allowed_paths.clone(),
        },
        conf.jobstore_expiration,
    ));
    for job in recovered {
        tracing::info!("Recovering job '{}' ({}) from the high-availability store.", job.graph.name, job.graph.job_id);
        dispatcher.recover(job).await;
    }
    let metrics = Arc::new(JobManagerMetrics {
        resource_manager: resource_manager.clone(),
        dispatcher: dispatcher.clone(),
        fetcher: MetricFetcher::new(resource_manager.clone(), gateways.clone(), conf.metrics_fetcher_interval),
    });
    let rest = rest::router(RestState {
        resource_manager: resource_manager.clone(),
        dispatcher: dispatcher.clone(),
        configuration: Arc::new(conf.clone()),
        metrics: metrics.clone(),
        cpu: Arc::default(),
        started,
    });
    tracing::info!("leading cluster '{}' (term {})", conf.cluster_id, leadership.term);
    Ok(Arc::new(LeaderTerm {
        token: leadership.token,
        term: leadership.term,
        resource_manager,
        dispatcher,
        metrics,
        rest,
        ended: watch::Sender::new(false),
    }))
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
