//! Sources: where a source subtask's data comes from. Each source connector's reader
//! (a [`SourceReader`]) is built by the factory registered under the connector's name
//! in [`SOURCES`], from the options the JobGraph carries, decoded into the connector's
//! typed struct (the planning side is `rask_common::job::connectors`). A reader yields
//! batches, watermarks (when the source has an event-time column) and finally the end
//! of input if bounded. Adding a connector: a module here with its reader and
//! [`SourceFactory`], and a line in [`SOURCES`].

pub mod datagen;
pub mod file;
pub mod nexmark;
pub mod socket;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use rask_common::job::connectors::{decode_source_options, SourceConnector};
use rask_common::job::graph::{OperatorDescriptor, OperatorKind, WatermarkStrategy};
use rask_common::security::AllowedPaths;

use super::{StreamElement, TaskError};

/// The runtime source connectors, by name (the names of
/// `rask_common::job::connectors::SOURCES`).
pub static SOURCES: &[&dyn ErasedSourceFactory] = &[&datagen::Factory, &file::Factory, &socket::Factory, &nexmark::Factory];

/// One source subtask's reader.
pub trait SourceReader: Send {
    /// The next elements; `EndOfInput` comes last for bounded sources, and after it
    /// only empty vectors. Fails the task on an I/O or data error. Cancel-safe only
    /// where the reader says so: the task awaits it to completion or drops the task.
    fn next(&mut self) -> BoxFuture<'_, Result<Vec<StreamElement>, TaskError>>;

    /// The position for a checkpoint, taken between two `next` calls: at least one
    /// number, in the reader's own format. Pure.
    fn position(&self) -> Vec<u64>;

    /// Continues from a `position` this reader's connector wrote at the same
    /// parallelism (never empty); called before the first `next`.
    fn restore(&mut self, position: &[u64]) -> Result<(), TaskError>;

    /// Continues from every earlier subtask's position (in subtask order) written at
    /// another parallelism; called before the first `next`. Fails when the connector
    /// cannot rescale.
    fn restore_rescaled(&mut self, positions: &[Vec<u64>]) -> Result<(), TaskError>;
}

/// What building a reader may use besides the connector's options.
pub struct SourceContext<'a> {
    /// The operator's output columns.
    pub schema: SchemaRef,
    pub subtask: u32,
    pub parallelism: u32,
    /// rask.io.allowed-paths: a reader opens only paths inside them.
    pub allowed: &'a AllowedPaths,
}

/// Builds the readers of one source connector from its typed options.
pub trait SourceFactory: Sync {
    /// The planning-side connector: its name and the options type both sides share.
    type Connector: SourceConnector;

    /// The reader of subtask `cx.subtask`, from options the TaskManager has validated
    /// (`validate_job_graph`). Opens nothing yet where it can wait for `next`; fails
    /// only on what the options cannot give at run time.
    fn build(
        &self,
        options: <Self::Connector as SourceConnector>::Options,
        cx: &SourceContext<'_>,
    ) -> Result<Box<dyn SourceReader>, TaskError>;
}

/// A [`SourceFactory`] with its options as JSON, as the registry holds it.
pub trait ErasedSourceFactory: Sync {
    /// The connector's name (`SourceConnector::NAME`).
    fn name(&self) -> &'static str;
    /// Decodes `options` into the connector's typed options and builds the reader.
    fn build(&self, options: &serde_json::Value, cx: &SourceContext<'_>) -> Result<Box<dyn SourceReader>, TaskError>;
}

impl<F: SourceFactory> ErasedSourceFactory for F {
    fn name(&self) -> &'static str {
        F::Connector::NAME
    }

    fn build(&self, options: &serde_json::Value, cx: &SourceContext<'_>) -> Result<Box<dyn SourceReader>, TaskError> {
        let options = decode_source_options::<F::Connector>(options).map_err(|e| TaskError::Deployment(e.to_string()))?;
        SourceFactory::build(self, options, cx)
    }
}

/// The running source of a task: the reader its connector built.
pub struct Source(Box<dyn SourceReader>);

impl Source {
    /// The source `desc` names, or `None` for an operator that is not one. A file
    /// source reads only files inside `allowed` (rask.io.allowed-paths), each checked
    /// as it is opened (a directory's entries may be symlinks).
    pub fn build(desc: &OperatorDescriptor, subtask: u32, parallelism: u32, allowed: &AllowedPaths) -> Result<Option<Self>, TaskError> {
        let OperatorKind::Source { connector, options } = &desc.kind else {
            return Ok(None);
        };
        let factory = SOURCES.iter().find(|f| f.name() == connector).ok_or_else(|| {
            let known: Vec<&str> = SOURCES.iter().map(|f| f.name()).collect();
            TaskError::Deployment(format!("no source connector '{connector}' in this TaskManager (it has {})", known.join(", ")))
        })?;
        let cx = SourceContext { schema: desc.output.to_schema(), subtask, parallelism, allowed };
        Ok(Some(Source(factory.build(options, &cx)?)))
    }

    /// The source's position for a checkpoint: rows or batches already emitted.
    pub fn snapshot(&self) -> Vec<u8> {
        self.0.position().iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn decode(state: &[u8]) -> Result<Vec<u64>, TaskError> {
        if state.is_empty() || !state.len().is_multiple_of(8) {
            return Err(TaskError::Deployment("corrupt source position".into()));
        }
        Ok(state.chunks(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }

    /// Restores at a new parallelism from every earlier subtask's position, in
    /// subtask order.
    pub fn restore_rescaled(&mut self, states: &[Vec<u8>]) -> Result<(), TaskError> {
        let decoded = states.iter().map(|s| Self::decode(s)).collect::<Result<Vec<_>, _>>()?;
        self.0.restore_rescaled(&decoded)
    }

    /// Continues from a position `snapshot` wrote.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), TaskError> {
        self.0.restore(&Self::decode(state)?)
    }

    /// The next elements; `EndOfInput` comes last for bounded sources.
    pub async fn next(&mut self) -> Result<Vec<StreamElement>, TaskError> {
        self.0.next().await
    }
}

/// Tracks the maximum event time seen and turns it into bounded-out-of-orderness
/// watermarks: max timestamp - delay - 1, as Flink's strategy does.
pub struct WatermarkGenerator {
    strategy: WatermarkStrategy,
    max_ts: i64,
    emitted: i64,
}

impl WatermarkGenerator {
    pub fn new(strategy: WatermarkStrategy) -> Self {
        Self { strategy, max_ts: i64::MIN, emitted: i64::MIN }
    }

    /// Observes a batch; returns a watermark to emit after it, if event time advanced.
    pub fn after(&mut self, batch: &RecordBatch) -> Result<Option<i64>, TaskError> {
        let ts = cast(batch.column(self.strategy.column), &DataType::Int64)?;
        if let Some(max) = arrow::compute::max(ts.as_primitive::<Int64Type>()) {
            self.max_ts = self.max_ts.max(max);
        }
        if self.max_ts == i64::MIN {
            return Ok(None);
        }
        let w = self.max_ts - self.strategy.max_out_of_orderness_ms - 1;
        if w > self.emitted {
            self.emitted = w;
            Ok(Some(w))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rask_common::job::planner::{plan_job_text, PlanOptions};

    use super::*;

    /// The first operator (the source) of a one-source job planned in `dir`.
    fn planned_source(dir: &Path, source: &str) -> OperatorDescriptor {
        let text = format!("name: t\nsources:\n  - {source}\nsinks:\n  - {{name: out, connector: blackhole}}\n");
        let graph = plan_job_text(&text, &dir.join("job.yaml"), &PlanOptions::default()).unwrap();
        graph.vertices[0].operators[0].clone()
    }

    fn build(desc: &OperatorDescriptor) -> Source {
        Source::build(desc, 0, 1, &AllowedPaths::default()).unwrap().expect("a source")
    }

    /// Rows until the end of input.
    async fn drain(source: &mut Source) -> usize {
        let mut rows = 0;
        loop {
            for e in source.next().await.unwrap() {
                match e {
                    StreamElement::Batch(b) => rows += b.num_rows(),
                    StreamElement::EndOfInput => return rows,
                    _ => {}
                }
            }
        }
    }

    fn temp_dir(what: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rask-{what}-{}", rask_common::ids::random_hex_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn datagen_is_planned_and_built_through_the_registry_and_resumes_where_it_stopped() {
        let desc = planned_source(
            Path::new("/"),
            "{name: g, connector: datagen, number-of-rows: 5, fields: [{name: id, type: BIGINT, kind: sequence}]}",
        );
        let mut source = build(&desc);
        assert_eq!(drain(&mut source).await, 5);
        let position = source.snapshot();
        let mut again = build(&desc);
        again.restore(&position).unwrap();
        assert_eq!(drain(&mut again).await, 0, "restored after its last row");
    }

    #[tokio::test]
    async fn file_is_planned_and_built_through_the_registry() {
        let dir = temp_dir("registry-file");
        std::fs::write(dir.join("lines.txt"), "one\ntwo\nthree\n").unwrap();
        let desc = planned_source(&dir, "{name: f, connector: file, path: lines.txt, format: text}");
        assert_eq!(drain(&mut build(&desc)).await, 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn socket_is_planned_and_built_through_the_registry() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap();
            peer.write_all(b"a\nb\n").await.unwrap();
        });
        let desc = planned_source(Path::new("/"), &format!("{{name: s, connector: socket, host: 127.0.0.1, port: {port}}}"));
        assert_eq!(drain(&mut build(&desc)).await, 2);
    }

    #[test]
    fn an_unknown_source_connector_fails_the_deployment_and_other_operators_are_no_source() {
        let mut desc = planned_source(Path::new("/"), "{name: g, connector: datagen, fields: [{name: id, type: BIGINT}]}");
        desc.kind = OperatorKind::Source { connector: "kafka".into(), options: serde_json::json!({}) };
        let e = Source::build(&desc, 0, 1, &AllowedPaths::default()).err().expect("unknown");
        assert!(e.to_string().contains("no source connector 'kafka' in this TaskManager (it has datagen, file, socket, nexmark)"), "{e}");
        desc.kind = OperatorKind::Filter { predicate: "true".into() };
        assert!(Source::build(&desc, 0, 1, &AllowedPaths::default()).unwrap().is_none());
    }
}
