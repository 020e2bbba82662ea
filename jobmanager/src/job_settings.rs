//! A job's effective settings: the cluster's configuration with the job's own keys
//! (Flink's job configuration, carried by its JobGraph) over it — checkpointing, the
//! restart strategy, the buffer timeout and the default savepoint directory.

use std::collections::BTreeMap;
use std::time::Duration;

use rask_common::checkpoint::CheckpointStorage;
use rask_common::config::{options as o, ConfigError, Configuration, Origin};

use crate::checkpoint_coordinator::CheckpointSettings;
use crate::restart_strategy::RestartStrategy;

/// The most completed checkpoints a job's own configuration may retain.
pub const MAX_RETAINED_CHECKPOINTS: u32 = 100;

/// What one job runs with.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The effective configuration (cluster keys, then the job's).
    pub configuration: Configuration,
    /// The keys the job set itself.
    pub job_keys: BTreeMap<String, String>,
    pub checkpointing: Option<CheckpointSettings>,
    /// Whether `checkpointing` is only the JobManager's staging area for savepoints
    /// (the job named no state.checkpoints.dir).
    pub savepoint_staging: bool,
    pub restart_strategy: RestartStrategy,
    pub buffer_timeout: Duration,
    /// state.savepoints.dir: the default target of this job's savepoints.
    pub savepoints_dir: Option<String>,
}

impl JobSettings {
    /// The settings of a job with `job_keys` on a cluster configured by `cluster`. A job
    /// without a checkpoint directory still takes savepoints: its tasks write their
    /// state to `staging` (under the JobManager's working directory) first.
    pub fn resolve(
        cluster: &Configuration,
        job_keys: &BTreeMap<String, String>,
        staging: Option<&CheckpointStorage>,
    ) -> Result<Self, ConfigError> {
        let configuration = cluster.with_job_configuration(job_keys)?;
        // A job keeps at most MAX_RETAINED_CHECKPOINTS of its own (each stays on disk and
        // in the HA store's pointer).
        if configuration.origin(&o::CHECKPOINTS_NUM_RETAINED) == Origin::Job
            && configuration.get_positive_int(&o::CHECKPOINTS_NUM_RETAINED)? > MAX_RETAINED_CHECKPOINTS
        {
            return Err(ConfigError::InvalidValue {
                key: o::CHECKPOINTS_NUM_RETAINED.key.into(),
                value: configuration.get_string(&o::CHECKPOINTS_NUM_RETAINED).unwrap_or_default(),
                origin: Origin::Job,
                reason: format!("a job may retain at most {MAX_RETAINED_CHECKPOINTS} checkpoints"),
            });
        }
        let mut checkpointing = checkpointing(&configuration)?;
        let savepoint_staging = checkpointing.is_none() && staging.is_some();
        if let (None, Some(storage)) = (&checkpointing, staging) {
            checkpointing = Some(CheckpointSettings {
                interval: None,
                timeout: configuration.get_duration(&o::CHECKPOINTING_TIMEOUT)?,
                min_pause: configuration.get_duration(&o::CHECKPOINTING_MIN_PAUSE)?,
                retained: 1,
                storage: storage.clone(),
            });
        }
        Ok(Self {
            restart_strategy: RestartStrategy::from_configuration(&configuration, configuration.contains(&o::CHECKPOINTING_INTERVAL))?,
            buffer_timeout: configuration.get_duration(&o::EXECUTION_BUFFER_TIMEOUT)?,
            savepoints_dir: configuration.get_string(&o::SAVEPOINTS_DIR),
            job_keys: job_keys.clone(),
            checkpointing,
            savepoint_staging,
            configuration,
        })
    }
}

/// Checkpoint settings, when `execution.checkpointing.interval` or
/// `state.checkpoints.dir` is set (without an interval, the directory serves savepoints).
pub fn checkpointing(conf: &Configuration) -> Result<Option<CheckpointSettings>, ConfigError> {
    let interval = match conf.contains(&o::CHECKPOINTING_INTERVAL) {
        true => Some(conf.get_duration(&o::CHECKPOINTING_INTERVAL)?.max(Duration::from_millis(10))),
        false if conf.contains(&o::CHECKPOINTS_DIR) => None,
        false => return Ok(None),
    };
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: o::CHECKPOINTS_DIR.key.to_string(),
        value: conf.get_string(&o::CHECKPOINTS_DIR).unwrap_or_default(),
        origin: conf.origin(&o::CHECKPOINTS_DIR),
        reason,
    };
    let dir = conf.get_string(&o::CHECKPOINTS_DIR).ok_or_else(|| {
        let at = match conf.origin(&o::CHECKPOINTING_INTERVAL) {
            Origin::Job => "rask run -D state.checkpoints.dir=DIR",
            _ => "the configuration that sets the interval, or per job with rask run -D state.checkpoints.dir=DIR",
        };
        invalid(format!("must be set when execution.checkpointing.interval is: set it in {at}"))
    })?;
    let storage = CheckpointStorage::open(&dir).map_err(|e| invalid(e.to_string()))?;
    Ok(Some(CheckpointSettings {
        interval,
        timeout: conf.get_duration(&o::CHECKPOINTING_TIMEOUT)?,
        min_pause: conf.get_duration(&o::CHECKPOINTING_MIN_PAUSE)?,
        retained: conf.get_positive_int(&o::CHECKPOINTS_NUM_RETAINED)? as usize,
        storage,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn job_keys_override_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Configuration::new();
        cluster.set("restart-strategy.type", "none").unwrap();
        let chk = format!("file://{}", dir.path().display());
        let job = keys(&[
            ("execution.checkpointing.interval", "2 s"),
            ("state.checkpoints.dir", &chk),
            ("state.savepoints.dir", "/sp"),
            ("restart-strategy.type", "fixed-delay"),
        ]);
        let settings = JobSettings::resolve(&cluster, &job, None).unwrap();
        let c = settings.checkpointing.as_ref().unwrap();
        assert_eq!(c.interval, Some(Duration::from_secs(2)));
        assert_eq!(c.storage.dir(), dir.path().display().to_string());
        assert!(matches!(settings.restart_strategy, RestartStrategy::FixedDelay { .. }));
        assert_eq!(settings.savepoints_dir.as_deref(), Some("/sp"));
        assert!(!settings.savepoint_staging);
    }

    #[test]
    fn a_job_without_a_checkpoint_directory_stages_savepoints_with_the_jobmanager() {
        let dir = tempfile::tempdir().unwrap();
        let staging = CheckpointStorage::open(&dir.path().display().to_string()).unwrap();
        let settings = JobSettings::resolve(&Configuration::new(), &BTreeMap::new(), Some(&staging)).unwrap();
        let c = settings.checkpointing.unwrap();
        assert_eq!(c.interval, None);
        assert!(settings.savepoint_staging);
        assert_eq!(settings.restart_strategy, RestartStrategy::None);
    }

    #[test]
    fn cluster_keys_and_bad_values_are_refused_naming_the_key() {
        let e = JobSettings::resolve(&Configuration::new(), &keys(&[("taskmanager.numberOfTaskSlots", "4")]), None).unwrap_err();
        assert!(e.to_string().contains("'taskmanager.numberOfTaskSlots' cannot be set per job"), "{e}");
        let e = JobSettings::resolve(&Configuration::new(), &keys(&[("execution.checkpointing.interval", "soon")]), None).unwrap_err();
        assert!(e.to_string().contains("execution.checkpointing.interval") && e.to_string().contains("-D of rask run"), "{e}");
        let e = JobSettings::resolve(&Configuration::new(), &keys(&[("state.checkpoints.num-retained", "5000")]), None).unwrap_err();
        assert!(e.to_string().contains("at most 100"), "{e}");
        let e = JobSettings::resolve(&Configuration::new(), &keys(&[("STATE.CHECKPOINTS.DIR", "/elsewhere")]), None).unwrap_err();
        assert!(e.to_string().contains("exactly") && e.to_string().contains("'state.checkpoints.dir'"), "{e}");
        let e = JobSettings::resolve(&Configuration::new(), &keys(&[("execution.checkpointing.interval", "1 s")]), None).unwrap_err();
        assert!(e.to_string().contains("rask run -D state.checkpoints.dir=DIR"), "{e}");
    }
}
