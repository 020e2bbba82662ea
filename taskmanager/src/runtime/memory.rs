//! A slot's memory budget: the keyed state of every task in the slot is accounted
//! against it; growing past it fails the task that asked, not the TaskManager.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::TaskError;

#[derive(Debug)]
pub struct SlotMemory {
    budget: u64,
    used: AtomicU64,
}

impl SlotMemory {
    pub fn new(budget: u64) -> Arc<Self> {
        Arc::new(Self { budget, used: AtomicU64::new(0) })
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// One operator's share of a slot's memory; releases what it holds when dropped.
#[derive(Debug)]
pub struct MemoryReservation {
    slot: Arc<SlotMemory>,
    operator: String,
    held: u64,
}

impl MemoryReservation {
    pub fn new(slot: Arc<SlotMemory>, operator: &str) -> Self {
        Self { slot, operator: operator.to_string(), held: 0 }
    }

    /// Sets this operator's usage to `bytes`; fails when the slot would exceed its budget.
    pub fn resize(&mut self, bytes: u64) -> Result<(), TaskError> {
        if bytes > self.held {
            let grow = bytes - self.held;
            let before = self.slot.used.fetch_add(grow, Ordering::Relaxed);
            if before + grow > self.slot.budget {
                self.slot.used.fetch_sub(grow, Ordering::Relaxed);
                return Err(TaskError::MemoryBudgetExceeded {
                    operator: self.operator.clone(),
                    budget_mb: self.slot.budget >> 20,
                    needed_mb: (before + grow) >> 20,
                });
            }
        } else {
            self.slot.used.fetch_sub(self.held - bytes, Ordering::Relaxed);
        }
        self.held = bytes;
        Ok(())
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        self.slot.used.fetch_sub(self.held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_shared_and_released() {
        let slot = SlotMemory::new(1000);
        let mut a = MemoryReservation::new(slot.clone(), "a");
        let mut b = MemoryReservation::new(slot.clone(), "b");
        a.resize(600).unwrap();
        let e = b.resize(500).unwrap_err().to_string();
        assert!(e.contains("operator 'b'"), "{e}");
        b.resize(400).unwrap();
        drop(a);
        assert_eq!(slot.used(), 400);
    }
}
