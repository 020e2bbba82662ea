//! The SlotPool (Flink's name): a JobMaster's slots. It declares the job's needs to
//! the ResourceManager and reports what happens to them as events — slots offered,
//! a TaskManager holding one of them lost, the request timed out — so the JobMaster
//! waits on events, never polls.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use crate::resource_manager::{ResourceManager, SlotOffer, SlotRequest};

/// What happened to the job's slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotPoolEvent {
    /// The declared slots are reserved for the job.
    SlotsOffered(Vec<SlotOffer>),
    /// A TaskManager holding one of the job's slots left the cluster.
    TaskManagerLost(String),
    /// slot.request.timeout passed before enough slots were free.
    RequestTimedOut { needed: usize, free: usize },
}

/// A slot the job holds: offered by the ResourceManager, allocated at its TaskExecutor.
#[derive(Debug, Clone)]
pub struct AllocatedSlot {
    pub offer: SlotOffer,
    pub allocation_id: String,
}

pub struct SlotPool {
    rm: Arc<ResourceManager>,
    job_id: String,
    /// The outstanding request, the slots it asks for and its deadline.
    request: Option<(SlotRequest, usize, Instant)>,
    lost: broadcast::Receiver<String>,
    /// Slot i hosts subtask i of every vertex (slot sharing).
    held: Vec<AllocatedSlot>,
}

impl SlotPool {
    pub fn new(rm: Arc<ResourceManager>, job_id: &str) -> Self {
        let lost = rm.subscribe_lost();
        Self { rm, job_id: job_id.to_string(), request: None, lost, held: Vec::new() }
    }

    pub fn resource_manager(&self) -> &Arc<ResourceManager> {
        &self.rm
    }

    /// Declares that the job needs `slots` slots within `timeout`. Losses reported from
    /// here on concern the slots this request brings.
    pub fn declare(&mut self, slots: usize, timeout: Duration) {
        self.lost = self.rm.subscribe_lost();
        let request = self.rm.request_slots(&self.job_id, slots);
        self.request = Some((request, slots, Instant::now() + timeout));
    }

    /// The next event. Cancel-safe: usable as a `select!` branch in a loop.
    pub async fn next_event(&mut self) -> SlotPoolEvent {
        let Self { rm, request, lost, held, .. } = self;
        loop {
            let waiting = async {
                match request.as_mut() {
                    Some((r, slots, deadline)) => {
                        let deadline = *deadline;
                        tokio::select! {
                            // Slots already granted win over a deadline passing at once.
                            biased;
                            offers = r.offers() => offers.map(SlotPoolEvent::SlotsOffered),
                            _ = tokio::time::sleep_until(deadline) => Some(SlotPoolEvent::RequestTimedOut { needed: *slots, free: 0 }),
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = waiting => {
                    *request = None;
                    match event {
                        Some(SlotPoolEvent::RequestTimedOut { needed, .. }) => {
                            return SlotPoolEvent::RequestTimedOut { needed, free: rm.overview().slots_available };
                        }
                        Some(event) => return event,
                        // The ResourceManager is gone with its term: nothing more comes.
                        None => std::future::pending::<()>().await,
                    }
                }
                notification = lost.recv() => match notification {
                    Ok(rid) if held.iter().any(|s| s.offer.resource_id == rid) => return SlotPoolEvent::TaskManagerLost(rid),
                    Ok(_) => {}
                    // Missed notifications: check every TaskManager we use.
                    Err(RecvError::Lagged(_)) => {
                        if let Some(s) = held.iter().find(|s| !rm.is_registered(&s.offer.resource_id)) {
                            return SlotPoolEvent::TaskManagerLost(s.offer.resource_id.clone());
                        }
                    }
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                },
            }
        }
    }

    /// Keeps a slot allocated at its TaskExecutor.
    pub fn hold(&mut self, slot: AllocatedSlot) {
        self.held.push(slot);
    }

    pub fn held(&self) -> &[AllocatedSlot] {
        &self.held
    }

    /// The slots held, leaving none; withdraws an outstanding request.
    pub fn take_held(&mut self) -> Vec<AllocatedSlot> {
        self.request = None;
        std::mem::take(&mut self.held)
    }

    /// Every slot reserved or requested for the job goes back to the ResourceManager.
    pub fn release(&mut self) {
        self.request = None;
        self.held.clear();
        self.rm.release(&self.job_id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::job_master::fake::registration;
    use crate::resource_manager::LossReason;

    #[tokio::test]
    async fn offers_losses_and_timeouts_arrive_as_events() {
        let rm = Arc::new(ResourceManager::new("test".into(), "t".into(), Duration::from_secs(1), Duration::from_secs(5)));
        let mut pool = SlotPool::new(rm.clone(), "job");
        pool.declare(2, Duration::from_secs(300));
        let accepted = rm.register(&registration("tm1", 2)).unwrap();
        rm.register(&registration("tm2", 1)).unwrap();
        let SlotPoolEvent::SlotsOffered(offers) = pool.next_event().await else { panic!("offers expected") };
        assert_eq!(offers.len(), 2);
        for offer in offers {
            pool.hold(AllocatedSlot { offer, allocation_id: "a".into() });
        }
        // A TaskManager without the job's slots leaves: no event; one with them: an event.
        let other = rm.register(&registration("tm3", 1)).unwrap();
        rm.deregister("tm3", &other.registration_id, &LossReason::ConnectionLost);
        rm.deregister("tm1", &accepted.registration_id, &LossReason::ConnectionLost);
        assert_eq!(pool.next_event().await, SlotPoolEvent::TaskManagerLost("tm1".into()));
        pool.release();
        // A request that nothing can fulfil times out at slot.request.timeout.
        pool.declare(5, Duration::from_millis(200));
        let started = Instant::now();
        assert_eq!(pool.next_event().await, SlotPoolEvent::RequestTimedOut { needed: 5, free: 1 });
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(rm.unmet_demand(), 0, "a timed-out request is withdrawn");
    }
}
