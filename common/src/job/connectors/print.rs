//! The `print` sink connector (planning and checking): no options. At run time it
//! prints rows as tables to the job's output (the CLI shows them when attached), each
//! titled with the sink task (`Sink: <name> (i/n)`); at least once.

use arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use super::{PlanContext, SinkConnector};
use crate::job::error::JobFileError;
use crate::job::spec::SinkSpec;
use crate::job::validate::InvalidJobGraph;

/// The print sink's options in the JobGraph: none.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrintOptions {}

/// The `print` sink connector.
pub struct Print;

impl SinkConnector for Print {
    type Options = PrintOptions;
    const NAME: &'static str = "print";
    const OPTIONS: &'static [&'static str] = &[];

    fn plan(&self, _spec: &SinkSpec, _input: &Schema, _cx: &PlanContext<'_>) -> Result<PrintOptions, JobFileError> {
        Ok(PrintOptions {})
    }

    fn validate(&self, _options: &PrintOptions, _what: &str, _inputs: usize) -> Result<(), InvalidJobGraph> {
        Ok(())
    }
}
