//! Sinks: the registry of sink connectors ([`SINKS`]: each builds its operator from
//! the options the JobGraph carries, decoded into the connector's typed struct; the
//! planning side is `rask_common::job::connectors`), and the print (rows as a table to
//! the job's output, through the task's bounded printed-rows buffer; at least once)
//! and blackhole operators. The file sink's operator has its own module
//! ([`file_sink`](super::file_sink)). Adding a sink: its operator and [`SinkFactory`]
//! in a module, and a line in [`SINKS`].

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use rask_common::job::connectors::blackhole::BlackholeOptions;
use rask_common::job::connectors::file::FileSinkOptions;
use rask_common::job::connectors::print::PrintOptions;
use rask_common::job::connectors::{self, decode_sink_options, SinkConnector};

use crate::runtime::printed::PrintedRows;

use super::{file_sink, OperatorContext, StreamOperator};
use crate::runtime::{StreamElement, TaskError};

/// The runtime sink connectors, by name (the names of
/// `rask_common::job::connectors::SINKS`).
pub static SINKS: &[&dyn ErasedSinkFactory] = &[&PrintFactory, &FileSinkFactory, &BlackholeFactory];

/// Builds the operators of one sink connector from its typed options.
pub trait SinkFactory: Sync {
    /// The planning-side connector: its name and the options type both sides share.
    type Connector: SinkConnector;

    /// The sink operator `name` of subtask `ctx.subtask`, from options the TaskManager
    /// has validated (`validate_job_graph`). May create what it writes to (the file
    /// sink makes its directory); fails when that is impossible.
    fn build(
        &self,
        options: <Self::Connector as SinkConnector>::Options,
        name: &str,
        ctx: &OperatorContext,
    ) -> Result<Box<dyn StreamOperator>, TaskError>;
}

/// A [`SinkFactory`] with its options as JSON, as the registry holds it.
pub trait ErasedSinkFactory: Sync {
    /// The connector's name (`SinkConnector::NAME`).
    fn name(&self) -> &'static str;
    /// Decodes `options` into the connector's typed options and builds the operator.
    fn build(&self, options: &serde_json::Value, name: &str, ctx: &OperatorContext) -> Result<Box<dyn StreamOperator>, TaskError>;
}

impl<F: SinkFactory> ErasedSinkFactory for F {
    fn name(&self) -> &'static str {
        F::Connector::NAME
    }

    fn build(&self, options: &serde_json::Value, name: &str, ctx: &OperatorContext) -> Result<Box<dyn StreamOperator>, TaskError> {
        let options = decode_sink_options::<F::Connector>(options).map_err(|e| TaskError::Deployment(e.to_string()))?;
        SinkFactory::build(self, options, name, ctx)
    }
}

/// The sink operator of connector `connector`.
pub fn build(
    connector: &str,
    options: &serde_json::Value,
    name: &str,
    ctx: &OperatorContext,
) -> Result<Box<dyn StreamOperator>, TaskError> {
    let factory = SINKS.iter().find(|f| f.name() == connector).ok_or_else(|| {
        let known: Vec<&str> = SINKS.iter().map(|f| f.name()).collect();
        TaskError::Deployment(format!("no sink connector '{connector}' in this TaskManager (it has {})", known.join(", ")))
    })?;
    factory.build(options, name, ctx)
}

/// Registers [`Print`] under `print`.
pub struct PrintFactory;

impl SinkFactory for PrintFactory {
    type Connector = connectors::print::Print;

    fn build(&self, options: PrintOptions, name: &str, ctx: &OperatorContext) -> Result<Box<dyn StreamOperator>, TaskError> {
        Ok(match options.rows {
            None => Box::new(Print::new(name, ctx)),
            Some(rows) => Box::new(PrintRowsSink::new(rows, ctx)),
        })
    }
}

/// Registers [`Blackhole`] under `blackhole`.
pub struct BlackholeFactory;

impl SinkFactory for BlackholeFactory {
    type Connector = connectors::blackhole::Blackhole;

    fn build(&self, options: BlackholeOptions, _name: &str, _ctx: &OperatorContext) -> Result<Box<dyn StreamOperator>, TaskError> {
        Ok(Box::new(Blackhole::new(options.rows_per_second)))
    }
}

/// Registers the file sink ([`file_sink::FileSink`]) under `file`.
pub struct FileSinkFactory;

impl SinkFactory for FileSinkFactory {
    type Connector = connectors::file::FileSink;

    fn build(&self, options: FileSinkOptions, _name: &str, ctx: &OperatorContext) -> Result<Box<dyn StreamOperator>, TaskError> {
        Ok(Box::new(file_sink::FileSink::new(&options.path, options.format, ctx)?))
    }
}

pub struct Print {
    printed: Arc<PrintedRows>,
    /// The line before each table: the sink's task as Flink names it, with the
    /// subtask when the sink runs in several (e.g. `Sink: counts (2/2)`).
    title: String,
}

impl Print {
    pub fn new(name: &str, ctx: &OperatorContext) -> Self {
        let title = match ctx.parallelism {
            1 => name.to_string(),
            n => format!("{name} ({}/{n})", ctx.subtask + 1),
        };
        Self { printed: ctx.printed.clone(), title }
    }
}

impl StreamOperator for Print {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return Ok(());
        }
        let table = arrow::util::pretty::pretty_format_batches(&[batch])?.to_string();
        let lines: Vec<String> = std::iter::once(self.title.clone()).chain(table.lines().map(str::to_string)).collect();
        for line in &lines {
            tracing::debug!(target: "rask::print", "{line}");
        }
        self.printed.push(lines, rows)
    }
}

/// Prints a line per row as Flink's print connector does: `[identifier[:i]> ]+I[a, b]`
/// (`i` the 1-based subtask when the sink runs in several).
pub struct PrintRowsSink {
    printed: Arc<PrintedRows>,
    prefix: String,
    row_kind: bool,
}

impl PrintRowsSink {
    pub fn new(rows: rask_common::job::connectors::print::PrintRows, ctx: &OperatorContext) -> Self {
        let prefix = match (rows.identifier.as_deref().filter(|i| !i.is_empty()), ctx.parallelism) {
            (Some(id), 1) => format!("{id}> "),
            (Some(id), _) => format!("{id}:{}> ", ctx.subtask + 1),
            (None, 1) => String::new(),
            (None, _) => format!("{}> ", ctx.subtask + 1),
        };
        Self { printed: ctx.printed.clone(), prefix, row_kind: rows.row_kind }
    }
}

impl StreamOperator for PrintRowsSink {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        use arrow::util::display::{ArrayFormatter, FormatOptions};
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let first = usize::from(self.row_kind);
        let options = FormatOptions::default().with_null("null");
        let formatters =
            batch.columns()[first..].iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<Vec<_>, _>>()?;
        let kinds = self.row_kind.then(|| batch.column(0).as_any().downcast_ref::<arrow::array::Int32Array>()).flatten();
        let mut lines = Vec::with_capacity(rows);
        for row in 0..rows {
            let kind = kinds.map(|k| k.value(row)).unwrap_or(0);
            let mut line = format!("{}{}[", self.prefix, rask_common::job::graph::ROW_KINDS.get(kind as usize).copied().unwrap_or("?"));
            for (i, f) in formatters.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                line.push_str(&f.value(row).to_string());
            }
            line.push(']');
            lines.push(line);
        }
        self.printed.push(lines, rows as u64)
    }
}

/// Discards rows. With `rows_per_second` it is a slow consumer: it holds its task
/// until the rows it took are due, so back-pressure reaches the sources.
pub struct Blackhole {
    rows: u64,
    rows_per_second: Option<u64>,
    started: std::time::Instant,
}

impl Blackhole {
    pub fn new(rows_per_second: Option<u64>) -> Self {
        Self { rows: 0, rows_per_second, started: std::time::Instant::now() }
    }
}

impl StreamOperator for Blackhole {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn pause(&self) -> Option<std::time::Duration> {
        let rate = self.rows_per_second? as f64;
        let due = std::time::Duration::from_secs_f64(self.rows as f64 / rate.max(1.0));
        due.checked_sub(self.started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use rask_common::job::graph::OperatorKind;
    use rask_common::job::planner::{plan_job_text, PlanOptions};

    use super::*;
    use crate::runtime::operators::test_context;

    /// The sink `sink` of a job planned in `dir`, built through the registry.
    fn planned_sink(dir: &Path, sink: &str, ctx: &OperatorContext) -> Box<dyn StreamOperator> {
        let text = format!(
            "name: t\nsources:\n  - {{name: g, connector: datagen, number-of-rows: 1, fields: [{{name: id, type: BIGINT}}]}}\nsinks:\n  - {sink}\n"
        );
        let graph = plan_job_text(&text, &dir.join("job.yaml"), &PlanOptions::default()).unwrap();
        let desc = graph.vertices.iter().flat_map(|v| &v.operators).last().unwrap().clone();
        let OperatorKind::Sink { connector, options } = &desc.kind else { panic!("{:?}", desc.kind) };
        build(connector, options, &desc.name, ctx).unwrap()
    }

    fn batch(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..rows))]).unwrap()
    }

    #[tokio::test]
    async fn print_is_planned_and_built_through_the_registry() {
        let ctx = test_context();
        let mut sink = planned_sink(Path::new("/"), "{name: out, connector: print}", &ctx);
        sink.process_batch(batch(2), &mut Vec::new()).unwrap();
        ctx.printed.close();
        let chunk = ctx.printed.next_chunk().await.expect("printed");
        assert_eq!(chunk.lines[0], "Sink: out");
        assert_eq!(chunk.rows, 2);
    }

    #[test]
    fn blackhole_is_planned_and_built_through_the_registry() {
        let ctx = test_context();
        let mut sink = planned_sink(Path::new("/"), "{name: out, connector: blackhole, rows-per-second: 1}", &ctx);
        sink.process_batch(batch(100), &mut Vec::new()).unwrap();
        assert!(sink.pause().is_some(), "100 rows at 1 row/s hold the task");
        let mut unlimited = planned_sink(Path::new("/"), "{name: out, connector: blackhole}", &ctx);
        unlimited.process_batch(batch(100), &mut Vec::new()).unwrap();
        assert!(unlimited.pause().is_none());
    }

    #[tokio::test]
    async fn file_is_planned_and_built_through_the_registry() {
        let dir = std::env::temp_dir().join(format!("rask-registry-file-sink-{}", rask_common::ids::random_hex_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ctx = test_context();
        let mut sink = planned_sink(&dir, "{name: out, connector: file, path: out, format: csv}", &ctx);
        sink.process_batch(batch(3), &mut Vec::new()).unwrap();
        sink.finish(&mut Vec::new()).unwrap();
        // Its writer works on the blocking pool: wait until it has written.
        if let Some(settling) = sink.settle() {
            settling.await.unwrap();
        }
        drop(sink);
        let parts: Vec<String> =
            std::fs::read_dir(dir.join("out")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(parts.len(), 1, "{parts:?}");
        let text = std::fs::read_to_string(dir.join("out").join(&parts[0])).unwrap();
        assert_eq!(text.lines().count(), 4, "a header and three rows: {text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unknown_sink_connector_fails_the_deployment() {
        let e = build("jdbc", &serde_json::json!({}), "Sink: out", &test_context()).err().expect("unknown");
        assert!(e.to_string().contains("no sink connector 'jdbc' in this TaskManager (it has print, file, blackhole)"), "{e}");
        let e = build("blackhole", &serde_json::json!({"rowsPerSecond": "fast"}), "Sink: out", &test_context()).err().expect("bad");
        assert!(e.to_string().contains("the options of the blackhole sink do not decode"), "{e}");
    }
}
