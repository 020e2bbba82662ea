//! The JobGraph: what the program step produces and the JobManager executes. Vertices
//! are chains of operators that run in one task; edges say how data is partitioned
//! between vertices. It travels as JSON (REST `POST /jobs`) and inside
//! `SubmitTask` (gRPC); `version` guards the format.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// 2: sources and sinks are `Source`/`Sink { connector, options }` (1 had a variant
/// per connector).
pub const JOB_GRAPH_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobGraph {
    pub version: u32,
    pub job_id: String,
    pub name: String,
    pub max_parallelism: u32,
    pub vertices: Vec<JobVertex>,
    pub edges: Vec<JobEdge>,
    /// Start from a savepoint (`rask run --fromSavepoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<SavepointRestore>,
    /// The job's own configuration (Flink's job configuration): keys that apply per
    /// job (checkpointing, restart strategy, savepoint directory, …), set on `rask run`
    /// and applied over the cluster's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub configuration: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SavepointRestore {
    /// The savepoint's directory (holding `_metadata`).
    pub path: String,
    /// Skip state of operators the job does not run instead of refusing.
    pub allow_non_restored_state: bool,
}

impl JobGraph {
    /// Slots the job needs with slot sharing: its highest parallelism.
    pub fn slots_needed(&self) -> u32 {
        self.vertices.iter().map(|v| v.parallelism).max().unwrap_or(0)
    }

    pub fn vertex(&self, id: &str) -> Option<&JobVertex> {
        self.vertices.iter().find(|v| v.id == id)
    }

    pub fn inputs_of(&self, id: &str) -> Vec<&JobEdge> {
        self.edges.iter().filter(|e| e.target == id).collect()
    }

    pub fn outputs_of(&self, id: &str) -> Vec<&JobEdge> {
        self.edges.iter().filter(|e| e.source == id).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobVertex {
    /// 32 hex characters, stable for the same job file (derived from the operator uids).
    pub id: String,
    /// The chained operators' names joined with " -> ", as Flink shows them.
    pub name: String,
    pub parallelism: u32,
    pub operators: Vec<OperatorDescriptor>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobEdge {
    pub source: String,
    pub target: String,
    pub partitioning: Partitioning,
    /// Schema of the data on the edge.
    pub schema: Columns,
}

/// How records go from producer subtasks to consumer subtasks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Partitioning {
    /// Subtask i to subtask i (equal parallelism).
    Forward,
    /// By the hash of the key columns, through key groups.
    Hash { keys: Vec<usize> },
    /// Round-robin by batch.
    Rebalance,
    /// Every batch to every consumer.
    Broadcast,
}

/// A schema in the graph's JSON form: names and job-file types.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Columns(pub Vec<Column>);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

impl Columns {
    pub fn from_schema(schema: &Schema) -> Self {
        Columns(
            schema
                .fields()
                .iter()
                .map(|f| Column { name: f.name().clone(), ty: super::types::type_name(f.data_type()).to_string() })
                .collect(),
        )
    }

    pub fn to_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.0.iter().map(|c| Field::new(&c.name, super::types::parse_type(&c.ty).unwrap_or(DataType::Null), true)).collect::<Vec<_>>(),
        ))
    }
}

/// One operator of a chain, with everything a TaskManager needs to run it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperatorDescriptor {
    /// Stable operator id (the job file's `uid`, or derived from the name).
    pub uid: String,
    pub name: String,
    /// Schema of the operator's input (empty for sources).
    pub input: Columns,
    /// Schema of its output (empty for sinks).
    pub output: Columns,
    pub kind: OperatorKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum OperatorKind {
    /// A source: the connector registered under `connector` (see
    /// [`connectors`](super::connectors)) with its options, which decode into that
    /// connector's typed struct (checked by [`validate_job_graph`](super::validate_job_graph)).
    Source {
        connector: String,
        options: serde_json::Value,
    },
    Filter {
        predicate: String,
    },
    /// Each output column is an expression over the input.
    Map {
        expressions: Vec<String>,
    },
    FlatMapSplit {
        column: String,
        delimiter: Option<String>,
        normalize: bool,
    },
    /// Keyed running aggregate; emits the updated rows of the keys each batch touched.
    /// With `changelog` (SQL's GROUP BY) the output starts with the
    /// [`ROW_KIND_COLUMN`]: a key's first row is an insert (`+I`), each later change
    /// an update-before (`-U`) of the old row and an update-after (`+U`), as Flink's.
    Aggregate {
        keys: Vec<usize>,
        aggregates: Vec<AggregateCall>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        changelog: bool,
    },
    /// A regular inner equi-join of two inputs (SQL's `JOIN … ON a = b`): every row
    /// of each side is kept, and each arriving row is emitted joined with every row
    /// of the other side that has equal keys (left columns, then right). The left
    /// input's schema is the operator's `input`; a batch is the right side's when its
    /// column names are not the left's (the planner keeps them apart).
    Join {
        left_keys: Vec<usize>,
        right_keys: Vec<usize>,
        right_input: Columns,
    },
    /// Assigns event time after the source (a watermark on a computed column): passes
    /// batches through and emits bounded-out-of-orderness watermarks after them.
    WatermarkAssigner {
        strategy: WatermarkStrategy,
    },
    Window(WindowOperator),
    TopN {
        n: u32,
        partition_keys: Vec<usize>,
        order_by: Vec<(usize, bool)>,
    },
    /// Per key, a state machine driven by the event column; emits an alert row for
    /// every event that has no transition from the key's current state.
    StateMachine {
        keys: Vec<usize>,
        event_column: usize,
        initial: String,
        transitions: Vec<Transition>,
    },
    /// A sink: the connector registered under `connector` with its options, as for
    /// [`OperatorKind::Source`].
    Sink {
        connector: String,
        options: serde_json::Value,
    },
}

/// The column an updating (changelog) stream starts with: each row's kind as Flink's
/// `RowKind` numbers it (0 `+I` insert, 1 `-U` update-before, 2 `+U` update-after,
/// 3 `-D` delete), an INT.
pub const ROW_KIND_COLUMN: &str = "$rowkind";

/// Flink's short names of the row kinds, by number.
pub const ROW_KINDS: [&str; 4] = ["+I", "-U", "+U", "-D"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Transition {
    pub from: String,
    pub event: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FileFormat {
    Csv,
    Json,
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WatermarkStrategy {
    pub column: usize,
    pub max_out_of_orderness_ms: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum AggregateFunction {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AggregateCall {
    pub function: AggregateFunction,
    /// The argument expression; `None` for COUNT(*).
    pub argument: Option<String>,
    pub output_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WindowOperator {
    pub size_ms: i64,
    /// Equal to `size_ms` for tumbling windows.
    pub slide_ms: i64,
    pub event_time: bool,
    /// Event-time column in the input.
    pub time_column: Option<usize>,
    pub keys: Vec<usize>,
    pub aggregates: Vec<AggregateCall>,
}
