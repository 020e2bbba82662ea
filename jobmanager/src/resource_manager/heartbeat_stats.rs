//! Heartbeat round-trip statistics: a bounded window of recent round-trip times, from
//! which `/jobmanager/metrics` reports percentiles.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;

const WINDOW: usize = 16_384;

#[derive(Debug, Default)]
pub struct HeartbeatStats {
    samples_us: Mutex<VecDeque<u32>>,
    total: std::sync::atomic::AtomicU64,
}

impl HeartbeatStats {
    pub fn record(&self, rtt: Duration) {
        let us = rtt.as_micros().min(u128::from(u32::MAX)) as u32;
        self.total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut s = self.samples_us.lock();
        if s.len() == WINDOW {
            s.pop_front();
        }
        s.push_back(us);
    }

    /// The `q`-quantile (0..=1) of the recent round trips, `None` before any sample.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut v: Vec<u32> = self.samples_us.lock().iter().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(Duration::from_micros(u64::from(v[rank - 1])))
    }

    /// Round trips measured since start (the quantiles cover the latest 16,384).
    pub fn count(&self) -> u64 {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let s = HeartbeatStats::default();
        assert_eq!(s.quantile(0.99), None);
        for ms in 1..=100 {
            s.record(Duration::from_millis(ms));
        }
        assert_eq!(s.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(s.quantile(0.5), Some(Duration::from_millis(50)));
    }
}
