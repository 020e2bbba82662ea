//! Restart strategies (Flink's names and keys): what a job does when a task fails or
//! its TaskManager is lost.

use std::time::Duration;

use rask_common::config::{options as o, ConfigError, Configuration};

#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// Fail the job at the first failure.
    None,
    FixedDelay {
        attempts: u32,
        delay: Duration,
    },
    ExponentialDelay {
        initial: Duration,
        max: Duration,
        multiplier: f64,
        attempts: u32,
    },
}

impl RestartStrategy {
    /// `restart-strategy.type`; unset means exponential-delay with checkpointing (as
    /// Flink 2), none without.
    pub fn from_configuration(conf: &Configuration, checkpointing: bool) -> Result<Self, ConfigError> {
        let kind = conf.get_string(&o::RESTART_STRATEGY_TYPE).map(|s| s.to_ascii_lowercase());
        let kind = kind.as_deref().unwrap_or(if checkpointing { "exponential-delay" } else { "none" });
        Ok(match kind {
            "fixed-delay" | "fixeddelay" => RestartStrategy::FixedDelay {
                attempts: conf.get_positive_int(&o::RESTART_FIXED_DELAY_ATTEMPTS)?,
                delay: conf.get_duration(&o::RESTART_FIXED_DELAY_DELAY)?,
            },
            "exponential-delay" | "exponentialdelay" => RestartStrategy::ExponentialDelay {
                initial: conf.get_duration(&o::RESTART_EXP_INITIAL_BACKOFF)?,
                max: conf.get_duration(&o::RESTART_EXP_MAX_BACKOFF)?,
                multiplier: conf.get_multiplier(&o::RESTART_EXP_MULTIPLIER)?,
                attempts: conf.get_positive_int(&o::RESTART_EXP_ATTEMPTS)?,
            },
            _ => RestartStrategy::None,
        })
    }

    /// How Flink's `/jobs/:id/config` describes the strategy.
    pub fn describe(&self) -> String {
        match self {
            RestartStrategy::None => "No restart.".to_string(),
            RestartStrategy::FixedDelay { attempts, delay } => {
                format!("Restart with fixed delay ({} ms). #{attempts} restart attempts.", delay.as_millis())
            }
            RestartStrategy::ExponentialDelay { initial, max, multiplier, attempts } => format!(
                "Restart with exponential delay: initial backoff {} ms, max backoff {} ms, multiplier {multiplier}, #{attempts} restart attempts.",
                initial.as_millis(),
                max.as_millis()
            ),
        }
    }

    /// The wait before restart number `restarts + 1`, or `None` when restarts are
    /// exhausted.
    pub fn next_delay(&self, restarts: u32) -> Option<Duration> {
        match self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => (restarts < *attempts).then_some(*delay),
            RestartStrategy::ExponentialDelay { initial, max, multiplier, attempts } => {
                // Saturates at `max`: a huge multiplier or many restarts never overflow.
                let backoff = initial.as_secs_f64() * multiplier.powi(restarts.min(1024) as i32);
                (restarts < *attempts).then(|| Duration::try_from_secs_f64(backoff).map_or(*max, |d| d.min(*max)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_and_exhaustion() {
        let fixed = RestartStrategy::FixedDelay { attempts: 2, delay: Duration::from_millis(5) };
        assert_eq!(fixed.next_delay(0), Some(Duration::from_millis(5)));
        assert_eq!(fixed.next_delay(2), None);
        let exp = RestartStrategy::ExponentialDelay {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(300),
            multiplier: 2.0,
            attempts: 10,
        };
        assert_eq!(exp.next_delay(1), Some(Duration::from_millis(200)));
        assert_eq!(exp.next_delay(5), Some(Duration::from_millis(300)));
        assert_eq!(RestartStrategy::None.next_delay(0), None);
        // Never an overflow: a huge multiplier, or an hour of flapping, waits `max`.
        let unbounded = |multiplier: f64| RestartStrategy::ExponentialDelay {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier,
            attempts: u32::MAX,
        };
        assert_eq!(unbounded(1e300).next_delay(2), Some(Duration::from_secs(60)));
        let flapping = unbounded(2.0);
        assert_eq!(flapping.next_delay(100_000), Some(Duration::from_secs(60)));
        let conf = Configuration::new();
        assert_eq!(RestartStrategy::from_configuration(&conf, false).unwrap(), RestartStrategy::None);
        assert!(matches!(RestartStrategy::from_configuration(&conf, true).unwrap(), RestartStrategy::ExponentialDelay { .. }));
    }
}
