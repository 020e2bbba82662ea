//! The `print` sink connector (planning and checking): no options. At run time it
//! prints rows as tables to the job's output (the CLI shows them when attached), each
//! titled with the sink task (`Sink: <name> (i/n)`); at least once. A SQL `print`
//! table prints a line per row as Flink's does (`identifier:2> +I[1, a]`).

use arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use super::{PlanContext, SinkConnector};
use crate::job::error::JobFileError;
use crate::job::spec::SinkSpec;
use crate::job::validate::InvalidJobGraph;

/// The print sink's options in the JobGraph: tables (job files) or rows (SQL).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrintOptions {
    /// A line per row, as Flink's print connector (`None`: a table per batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<PrintRows>,
}

/// Flink's row format: `[identifier[:subtask]> ]<kind>[v1, v2, …]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrintRows {
    /// `print-identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// The input starts with the row-kind column (an updating stream).
    #[serde(default)]
    pub row_kind: bool,
}

/// The `print` sink connector.
pub struct Print;

impl SinkConnector for Print {
    type Options = PrintOptions;
    const NAME: &'static str = "print";
    const OPTIONS: &'static [&'static str] = &[];

    fn plan(&self, _spec: &SinkSpec, _input: &Schema, _cx: &PlanContext<'_>) -> Result<PrintOptions, JobFileError> {
        Ok(PrintOptions::default())
    }

    fn validate(&self, options: &PrintOptions, what: &str, inputs: usize) -> Result<(), InvalidJobGraph> {
        if let Some(rows) = &options.rows {
            crate::job::validate::string(&format!("{what}'s print-identifier"), rows.identifier.as_deref().unwrap_or(""))?;
            if rows.row_kind && inputs == 0 {
                return Err(InvalidJobGraph(format!("{what} prints row kinds of an input without columns")));
            }
        }
        Ok(())
    }
}
