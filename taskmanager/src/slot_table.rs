//! The slot table: the TaskManager's slots, each with its even share of the process
//! memory as its budget, and which allocation (job) holds it.

use rask_common::proto::{SlotReport, SlotStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Allocation {
    allocation_id: String,
    job_id: String,
}

#[derive(Debug, Clone)]
struct TaskSlot {
    index: u32,
    memory_budget_bytes: u64,
    allocation: Option<Allocation>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlotError {
    #[error("slot {index} does not exist (this TaskManager has {slots} slots)")]
    NoSuchSlot { index: u32, slots: u32 },
    #[error("slot {index} is held by allocation {holder} of job {job}")]
    Occupied { index: u32, holder: String, job: String },
    #[error("an allocation id is required")]
    EmptyAllocationId,
    #[error("allocation {0} already holds another slot")]
    AllocationElsewhere(String),
}

#[derive(Debug)]
pub struct SlotTable {
    slots: Vec<TaskSlot>,
}

impl SlotTable {
    /// `num_slots` slots splitting `process_memory_bytes` evenly (the remainder of the
    /// division stays unassigned).
    pub fn new(num_slots: u32, process_memory_bytes: u64) -> Self {
        let budget = process_memory_bytes / u64::from(num_slots.max(1));
        Self { slots: (0..num_slots).map(|index| TaskSlot { index, memory_budget_bytes: budget, allocation: None }).collect() }
    }

    pub fn report(&self) -> SlotReport {
        SlotReport {
            slots: self
                .slots
                .iter()
                .map(|s| SlotStatus {
                    index: s.index,
                    memory_budget_bytes: s.memory_budget_bytes,
                    allocation_id: s.allocation.as_ref().map(|a| a.allocation_id.clone()).unwrap_or_default(),
                    job_id: s.allocation.as_ref().map(|a| a.job_id.clone()).unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Gives slot `index` to an allocation. Idempotent for the allocation that holds it.
    pub fn allocate(&mut self, index: u32, allocation_id: &str, job_id: &str) -> Result<(), SlotError> {
        let slots = self.slots.len() as u32;
        if allocation_id.is_empty() {
            return Err(SlotError::EmptyAllocationId);
        }
        if let Some(other) =
            self.slots.iter().find(|s| s.index != index && s.allocation.as_ref().is_some_and(|a| a.allocation_id == allocation_id))
        {
            let _ = other;
            return Err(SlotError::AllocationElsewhere(allocation_id.to_string()));
        }
        let slot = self.slots.get_mut(index as usize).ok_or(SlotError::NoSuchSlot { index, slots })?;
        match &slot.allocation {
            Some(a) if a.allocation_id == allocation_id => Ok(()),
            Some(a) => Err(SlotError::Occupied { index, holder: a.allocation_id.clone(), job: a.job_id.clone() }),
            None => {
                slot.allocation = Some(Allocation { allocation_id: allocation_id.to_string(), job_id: job_id.to_string() });
                Ok(())
            }
        }
    }

    /// Frees the slot an allocation holds; returns whether one was held.
    pub fn free(&mut self, allocation_id: &str) -> bool {
        match self.slots.iter_mut().find(|s| s.allocation.as_ref().is_some_and(|a| a.allocation_id == allocation_id)) {
            Some(slot) => {
                slot.allocation = None;
                true
            }
            None => false,
        }
    }

    /// Frees every slot; returns the allocation ids that held one.
    pub fn free_all(&mut self) -> Vec<String> {
        self.slots.iter_mut().filter_map(|s| s.allocation.take()).map(|a| a.allocation_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_split_evenly() {
        let table = SlotTable::new(4, 1 << 30);
        let report = table.report();
        assert_eq!(report.slots.len(), 4);
        assert!(report.slots.iter().all(|s| s.memory_budget_bytes == 256 << 20));
    }

    #[test]
    fn allocate_and_free() {
        let mut table = SlotTable::new(2, 1000);
        table.allocate(0, "a1", "j1").unwrap();
        table.allocate(0, "a1", "j1").unwrap();
        assert!(matches!(table.allocate(0, "a2", "j2"), Err(SlotError::Occupied { .. })));
        assert!(matches!(table.allocate(1, "a1", "j1"), Err(SlotError::AllocationElsewhere(_))));
        assert!(matches!(table.allocate(7, "a3", "j1"), Err(SlotError::NoSuchSlot { .. })));
        assert_eq!(table.report().slots[0].job_id, "j1");
        assert!(table.free("a1"));
        assert!(!table.free("a1"));
        assert_eq!(table.report().slots[0].allocation_id, "");
    }
}
