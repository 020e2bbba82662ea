//! The ResourceManager's slot manager: JobMasters declare how many slots they need;
//! a request is fulfilled (all or nothing, spread evenly over the TaskManagers, as
//! Flink's cluster.evenly-spread-out-slots) the moment enough slots are free — at the
//! request, or when a TaskManager registers or slots are freed — and answered through
//! a channel, never polled. Unmet requests are the demand an active resource provider
//! starts workers for; it is woken through [`ResourceManager::changes`].

use tokio::sync::{oneshot, watch};

use super::{ResourceManager, SlotOffer};

/// A JobMaster's request waiting for slots.
pub(super) struct PendingRequest {
    job_id: String,
    slots: usize,
    answer: oneshot::Sender<Vec<SlotOffer>>,
}

/// The answer to a slot request: resolves with the slots once they are reserved for
/// the job. Dropping it withdraws the request (slots already reserved stay the job's
/// until [`ResourceManager::release`]).
pub struct SlotRequest {
    answer: oneshot::Receiver<Vec<SlotOffer>>,
}

impl SlotRequest {
    /// Waits for the slots. Cancel-safe: a caller may poll it again after a `select!`
    /// took another branch. `None` only if the ResourceManager went away.
    pub async fn offers(&mut self) -> Option<Vec<SlotOffer>> {
        (&mut self.answer).await.ok()
    }
}

impl ResourceManager {
    /// Declares that `job_id` needs `slots` slots. Answered at once when enough are
    /// free, else as soon as they are; requests are served oldest first, a request
    /// that does not fit yet letting smaller later ones pass.
    pub fn request_slots(&self, job_id: &str, slots: usize) -> SlotRequest {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().push_back(PendingRequest { job_id: job_id.to_string(), slots, answer: tx });
        self.fulfil_pending();
        self.changes.send_modify(|v| *v += 1);
        SlotRequest { answer: rx }
    }

    /// Returns a job's reserved slots to the pool and withdraws its requests.
    pub fn release(&self, job_id: &str) {
        self.reserved.lock().retain(|_, j| j != job_id);
        self.pending.lock().retain(|r| r.job_id != job_id);
        self.resources_changed();
    }

    /// Free slots or requests may have changed: fulfil what now fits, and wake the
    /// resource provider.
    pub(super) fn resources_changed(&self) {
        self.fulfil_pending();
        self.changes.send_modify(|v| *v += 1);
    }

    /// Bumped whenever free slots or pending requests may have changed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Slots that waiting jobs need beyond the free ones (what an active resource
    /// provider should start workers for).
    pub fn unmet_demand(&self) -> usize {
        let wanted: usize = self.pending.lock().iter().filter(|r| !r.answer.is_closed()).map(|r| r.slots).sum();
        wanted.saturating_sub(self.overview().slots_available)
    }

    /// Answers every pending request that fits, oldest first; drops withdrawn ones.
    fn fulfil_pending(&self) {
        let mut pending = self.pending.lock();
        pending.retain(|r| !r.answer.is_closed());
        let mut i = 0;
        while i < pending.len() {
            match self.reserve(&pending[i].job_id, pending[i].slots) {
                Some(offers) => {
                    let request = pending.remove(i).expect("index in range");
                    if let Err(offers) = request.answer.send(offers) {
                        // Withdrawn meanwhile: the slots go back.
                        let mut reserved = self.reserved.lock();
                        for o in offers {
                            reserved.remove(&(o.resource_id, o.slot_index));
                        }
                    }
                }
                None => i += 1,
            }
        }
    }

    /// Reserves `n` free slots for a job, spread evenly over the TaskManagers; `None`
    /// (and nothing reserved) when fewer are free.
    fn reserve(&self, job_id: &str, n: usize) -> Option<Vec<SlotOffer>> {
        let tms = self.taskmanagers.lock();
        let mut reserved = self.reserved.lock();
        let mut ids: Vec<&String> = tms.keys().collect();
        ids.sort();
        let mut per_tm: Vec<Vec<SlotOffer>> = ids
            .into_iter()
            .map(|id| {
                let r = &tms[id];
                r.info
                    .slots
                    .iter()
                    .filter(|s| s.allocation_id.is_empty() && !reserved.contains_key(&(id.clone(), s.index)))
                    .map(|s| SlotOffer {
                        resource_id: id.clone(),
                        rpc_address: r.info.rpc_address.clone(),
                        slot_index: s.index,
                        memory_budget_bytes: s.memory_budget_bytes,
                    })
                    .rev()
                    .collect()
            })
            .collect();
        if per_tm.iter().map(Vec::len).sum::<usize>() < n {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            for slots in per_tm.iter_mut() {
                if out.len() == n {
                    break;
                }
                if let Some(s) = slots.pop() {
                    out.push(s);
                }
            }
        }
        for s in &out {
            reserved.insert((s.resource_id.clone(), s.slot_index), job_id.to_string());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::job_master::fake::registration;

    fn rm() -> ResourceManager {
        ResourceManager::new("test".into(), "t".into(), Duration::from_secs(1), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_request_is_answered_when_a_taskmanager_brings_the_slots() {
        let rm = rm();
        let changes = rm.changes();
        rm.register(&registration("tm1", 1)).unwrap();
        let mut request = rm.request_slots("job", 3);
        assert!(changes.has_changed().unwrap(), "the provider is woken");
        assert_eq!(rm.unmet_demand(), 2);
        let waiting = tokio::time::timeout(Duration::from_millis(50), request.offers()).await;
        assert!(waiting.is_err(), "not enough slots yet");
        rm.register(&registration("tm2", 2)).unwrap();
        let offers = request.offers().await.expect("answered");
        assert_eq!(offers.len(), 3);
        let on_tm1 = offers.iter().filter(|o| o.resource_id == "tm1").count();
        assert_eq!(on_tm1, 1, "spread over both TaskManagers");
        assert_eq!(rm.unmet_demand(), 0);
        assert_eq!(rm.overview().slots_available, 0);
        rm.release("job");
        assert_eq!(rm.overview().slots_available, 3);
    }

    #[tokio::test]
    async fn requests_are_served_oldest_first_and_a_withdrawn_one_takes_nothing() {
        let rm = rm();
        let mut big = rm.request_slots("big", 2);
        let withdrawn = rm.request_slots("gone", 1);
        drop(withdrawn);
        let mut small = rm.request_slots("small", 1);
        rm.register(&registration("tm1", 1)).unwrap();
        // The big request does not fit; the small one passes it; the withdrawn one is skipped.
        assert_eq!(small.offers().await.unwrap().len(), 1);
        assert_eq!(rm.unmet_demand(), 2);
        rm.register(&registration("tm2", 2)).unwrap();
        assert_eq!(big.offers().await.unwrap().len(), 2);
        assert_eq!(rm.overview().slots_available, 0);
    }

    #[tokio::test]
    async fn freed_slots_answer_a_waiting_request() {
        let rm = rm();
        rm.register(&registration("tm1", 2)).unwrap();
        let mut first = rm.request_slots("first", 2);
        assert_eq!(first.offers().await.unwrap().len(), 2);
        let mut second = rm.request_slots("second", 2);
        assert!(tokio::time::timeout(Duration::from_millis(20), second.offers()).await.is_err());
        rm.release("first");
        assert_eq!(second.offers().await.unwrap().len(), 2);
    }
}
