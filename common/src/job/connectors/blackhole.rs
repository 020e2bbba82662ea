//! The `blackhole` sink connector (planning and checking): option `rows-per-second`
//! (optional). At run time it discards rows; with a rate it is a slow consumer, to see
//! back-pressure.

use arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use super::{PlanContext, SinkConnector};
use crate::job::error::JobFileError;
use crate::job::spec::SinkSpec;
use crate::job::validate::InvalidJobGraph;

/// The blackhole sink's options in the JobGraph.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlackholeOptions {
    /// Accept at most this many rows per second (per subtask); `None` = no limit.
    pub rows_per_second: Option<u64>,
}

/// The `blackhole` sink connector.
pub struct Blackhole;

impl SinkConnector for Blackhole {
    type Options = BlackholeOptions;
    const NAME: &'static str = "blackhole";
    const OPTIONS: &'static [&'static str] = &["rows-per-second"];

    fn plan(&self, s: &SinkSpec, _input: &Schema, _cx: &PlanContext<'_>) -> Result<BlackholeOptions, JobFileError> {
        Ok(BlackholeOptions { rows_per_second: s.rows_per_second })
    }

    fn validate(&self, _options: &BlackholeOptions, _what: &str, _inputs: usize) -> Result<(), InvalidJobGraph> {
        Ok(())
    }
}
