//! Job files as users write them (YAML). `docs/jobs.md` documents every field.
//! Values whose errors must point at a line are kept `Spanned`.

use serde::Deserialize;
pub use serde_saphyr::Spanned;

/// The line a spanned value starts at (1-based).
pub fn line_of<T>(s: &Spanned<T>) -> u32 {
    s.referenced.line() as u32
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JobSpec {
    pub name: Spanned<String>,
    #[serde(default)]
    pub parallelism: Option<Spanned<u32>>,
    #[serde(default)]
    pub max_parallelism: Option<Spanned<u32>>,
    pub sources: Vec<Spanned<SourceSpec>>,
    #[serde(default)]
    pub pipeline: Vec<Spanned<StepSpec>>,
    pub sinks: Vec<Spanned<SinkSpec>>,
}

/// A literal in a job file: number or string.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceSpec {
    pub name: Spanned<String>,
    /// datagen | file | socket
    pub connector: Spanned<String>,
    #[serde(default)]
    pub parallelism: Option<Spanned<u32>>,
    #[serde(default)]
    pub uid: Option<String>,
    /// The columns (datagen: how each is generated; file/socket: name and type).
    #[serde(default)]
    pub fields: Vec<Spanned<FieldSpec>>,
    // datagen
    #[serde(default)]
    pub number_of_rows: Option<u64>,
    #[serde(default)]
    pub rows_per_second: Option<u64>,
    #[serde(default)]
    pub seed: Option<u64>,
    // file
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// csv | json | text
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    #[serde(default)]
    pub header: Option<bool>,
    // socket
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    /// Event time: which column carries it and how late rows may arrive.
    #[serde(default)]
    pub watermark: Option<Spanned<WatermarkSpec>>,
}

impl SourceSpec {
    /// The connector options this source sets, spelled as in the job file (each
    /// connector says which it takes).
    pub fn given_options(&self) -> Vec<&'static str> {
        [
            ("number-of-rows", self.number_of_rows.is_some()),
            ("rows-per-second", self.rows_per_second.is_some()),
            ("seed", self.seed.is_some()),
            ("path", self.path.is_some()),
            ("format", self.format.is_some()),
            ("header", self.header.is_some()),
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("fields", !self.fields.is_empty()),
        ]
        .into_iter()
        .filter_map(|(option, set)| set.then_some(option))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FieldSpec {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub ty: Spanned<String>,
    /// datagen: sequence | random (default) | choice
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub start: Option<Spanned<Literal>>,
    #[serde(default)]
    pub end: Option<Spanned<Literal>>,
    #[serde(default)]
    pub step: Option<Spanned<Literal>>,
    #[serde(default)]
    pub min: Option<Spanned<Literal>>,
    #[serde(default)]
    pub max: Option<Spanned<Literal>>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
    #[serde(default)]
    pub length: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WatermarkSpec {
    pub column: Spanned<String>,
    #[serde(default)]
    pub max_out_of_orderness: Option<Spanned<String>>,
}

/// One or several inputs of a step or sink, by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Inputs {
    One(String),
    Many(Vec<String>),
}

impl Inputs {
    pub fn names(&self) -> Vec<String> {
        match self {
            Inputs::One(s) => vec![s.clone()],
            Inputs::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StepSpec {
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub input: Option<Spanned<Inputs>>,
    #[serde(default)]
    pub parallelism: Option<Spanned<u32>>,
    #[serde(default)]
    pub uid: Option<String>,
    /// How the step's input is distributed over its subtasks: forward (default when
    /// parallelism is equal), rebalance (round robin) or broadcast (every row to every
    /// subtask).
    #[serde(default)]
    pub partition: Option<Spanned<String>>,
    #[serde(default)]
    pub filter: Option<Spanned<String>>,
    #[serde(default)]
    pub map: Option<Spanned<String>>,
    #[serde(default, rename = "flat_map")]
    pub flat_map: Option<Spanned<FlatMapSpec>>,
    #[serde(default, rename = "key_by")]
    pub key_by: Option<Spanned<String>>,
    #[serde(default)]
    pub aggregate: Option<Spanned<AggregateSpec>>,
    #[serde(default)]
    pub window: Option<Spanned<WindowSpec>>,
    #[serde(default, rename = "top_n")]
    pub top_n: Option<Spanned<TopNSpec>>,
    #[serde(default, rename = "state_machine")]
    pub state_machine: Option<Spanned<StateMachineSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StateMachineSpec {
    /// The STRING column that holds each row's event.
    pub event: Spanned<String>,
    /// The state every key starts in.
    pub initial: Spanned<String>,
    pub transitions: Vec<Spanned<TransitionSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionSpec {
    pub from: String,
    pub event: String,
    pub to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FlatMapSpec {
    /// The STRING column to split.
    pub split: Spanned<String>,
    /// The new column holding each piece.
    #[serde(rename = "as")]
    pub into: Spanned<String>,
    /// Separator; default: runs of whitespace.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Lower-case each piece and strip punctuation around it.
    #[serde(default)]
    pub normalize: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AggregateSpec {
    pub select: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WindowSpec {
    /// tumbling | sliding
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub size: Spanned<String>,
    #[serde(default)]
    pub slide: Option<Spanned<String>>,
    /// event | processing
    pub time: Spanned<String>,
    pub select: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TopNSpec {
    pub n: Spanned<u32>,
    pub order_by: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SinkSpec {
    pub name: Spanned<String>,
    /// print | file | blackhole
    pub connector: Spanned<String>,
    #[serde(default)]
    pub input: Option<Spanned<String>>,
    #[serde(default)]
    pub parallelism: Option<Spanned<u32>>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// csv | json
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    /// How the sink's input is distributed: forward, rebalance or broadcast.
    #[serde(default)]
    pub partition: Option<Spanned<String>>,
    /// blackhole: accept at most this many rows per second (a slow consumer, to see
    /// back-pressure).
    #[serde(default)]
    pub rows_per_second: Option<u64>,
}

impl SinkSpec {
    /// The connector options this sink sets, spelled as in the job file (each
    /// connector says which it takes).
    pub fn given_options(&self) -> Vec<&'static str> {
        [("path", self.path.is_some()), ("format", self.format.is_some()), ("rows-per-second", self.rows_per_second.is_some())]
            .into_iter()
            .filter_map(|(option, set)| set.then_some(option))
            .collect()
    }
}
