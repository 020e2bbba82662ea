//! Planning `pipeline:` steps. Each step does exactly one thing, read off its spec as a
//! [`StepKind`]; `key_by` marks the input of the next (keyed) step, every other kind is
//! planned by its own function into a [`PlannedStep`] that becomes a node. Keyed
//! aggregates and windows live in [`aggregates`](super::aggregates).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{Node, Planner};
use crate::job::error::JobFileError;
use crate::job::expr;
use crate::job::graph::{Columns, OperatorDescriptor, OperatorKind, Transition};
use crate::job::spec::{line_of, AggregateSpec, FlatMapSpec, Spanned, StateMachineSpec, StepSpec, TopNSpec, WindowSpec};
use crate::job::types::{column_names, type_name};

/// What one step does, read off its spec.
pub(super) enum StepKind<'a> {
    /// Hash-partitions the next step's input by these columns.
    KeyBy(&'a Spanned<String>),
    Operation(Operation<'a>),
}

/// A step that becomes an operator.
pub(super) enum Operation<'a> {
    Filter(&'a Spanned<String>),
    Map(&'a Spanned<String>),
    FlatMap(&'a Spanned<FlatMapSpec>),
    Aggregate(&'a Spanned<AggregateSpec>),
    Window(&'a Spanned<WindowSpec>),
    TopN(&'a Spanned<TopNSpec>),
    StateMachine(&'a Spanned<StateMachineSpec>),
}

/// Why a step's spec is not exactly one thing.
enum NotOneThing {
    /// `key_by` with another operation in the same step.
    KeyByWithMore,
    /// No operation, or several.
    NotExactlyOne,
}

impl<'a> StepKind<'a> {
    fn of(s: &'a StepSpec) -> Result<Self, NotOneThing> {
        let mut set = Vec::new();
        if let Some(f) = &s.filter {
            set.push(Operation::Filter(f));
        }
        if let Some(m) = &s.map {
            set.push(Operation::Map(m));
        }
        if let Some(f) = &s.flat_map {
            set.push(Operation::FlatMap(f));
        }
        if let Some(a) = &s.aggregate {
            set.push(Operation::Aggregate(a));
        }
        if let Some(w) = &s.window {
            set.push(Operation::Window(w));
        }
        if let Some(t) = &s.top_n {
            set.push(Operation::TopN(t));
        }
        if let Some(m) = &s.state_machine {
            set.push(Operation::StateMachine(m));
        }
        match (&s.key_by, set.len()) {
            (Some(k), 0) => Ok(StepKind::KeyBy(k)),
            (Some(_), _) => Err(NotOneThing::KeyByWithMore),
            (None, 1) => Ok(StepKind::Operation(set.remove(0))),
            (None, _) => Err(NotOneThing::NotExactlyOne),
        }
    }
}

impl Operation<'_> {
    /// Whether it runs per key (and so may follow a `key_by`).
    fn keyed(&self) -> bool {
        matches!(self, Operation::Aggregate(_) | Operation::Window(_) | Operation::TopN(_) | Operation::StateMachine(_))
    }
}

/// What planning one operation yields.
pub(super) struct PlannedStep {
    /// The operator's name, as Flink names it ("Filter", "Window(...)").
    pub name: String,
    pub kind: OperatorKind,
    /// The output columns.
    pub schema: SchemaRef,
    /// Keys (input column indices) the input is hashed by; empty or `None`: not keyed.
    pub hash_keys: Option<Vec<usize>>,
    pub parallelism: u32,
    /// The output's event-time column.
    pub rowtime: Option<usize>,
    /// The select list's column order, when the step's natural output order may differ.
    pub select_order: Option<Vec<String>>,
}

/// The step's input as an operation sees it.
pub(super) struct StepInput<'a> {
    pub schema: &'a SchemaRef,
    /// Event-time column of the input.
    pub rowtime: Option<usize>,
    /// Key columns from a preceding `key_by` (empty without).
    pub keys: Vec<usize>,
    /// The step's own parallelism (or the default).
    pub parallelism: u32,
    /// The step's field path, `pipeline[i]`, and its line.
    pub field: &'a str,
    pub line: u32,
}

impl Planner {
    /// Plans the steps in order; returns the node the last one left (what a sink reads
    /// by default). `first` is the only source, if there is one.
    pub(super) fn pipeline(
        &mut self,
        steps: &[Spanned<StepSpec>],
        first: Option<usize>,
        default_p: u32,
    ) -> Result<Option<usize>, JobFileError> {
        let mut previous = first;
        let mut pending_keys: Option<(Vec<String>, u32)> = None;
        for (i, step) in steps.iter().enumerate() {
            let field = format!("pipeline[{i}]");
            let line = line_of(step);
            let s = &step.value;
            let inputs = self.inputs(s.input.as_ref(), previous, line, &field)?;
            let kind = match StepKind::of(s) {
                Err(NotOneThing::KeyByWithMore) => {
                    return Err(self.error(line, &field, "a step does exactly one thing: key_by stands alone"));
                }
                Ok(StepKind::KeyBy(key_by)) => {
                    pending_keys = Some(self.key_by(key_by, inputs[0], &field)?);
                    previous = Some(inputs[0]);
                    continue;
                }
                Ok(StepKind::Operation(op)) => Ok(op),
                Err(NotOneThing::NotExactlyOne) => Err(()),
            };
            if pending_keys.is_some() && s.input.is_some() && Some(inputs[0]) != previous {
                return Err(self.error(line, format!("{field}.input"), "a step after key_by reads the keyed stream: drop `input` here"));
            }
            let parallelism = self.parallelism(s.parallelism.as_ref(), default_p, &format!("{field}.parallelism"))?;
            let op = kind.map_err(|()| {
                self.error(
                    line,
                    &field,
                    "a step needs exactly one of: filter, map, flat_map, key_by, aggregate, window, top_n, state_machine",
                )
            })?;
            previous = Some(self.step(i, s, op, &inputs, line, &field, parallelism, pending_keys.take())?);
        }
        if let Some((_, line)) = pending_keys {
            return Err(self.error(line, "pipeline", "key_by must be followed by aggregate, window, top_n or state_machine"));
        }
        Ok(previous)
    }

    /// Checks a `key_by`'s columns against the schema of `input`; returns them and the
    /// line, for the next step.
    fn key_by(&self, key_by: &Spanned<String>, input: usize, field: &str) -> Result<(Vec<String>, u32), JobFileError> {
        let keys: Vec<String> = key_by.value.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
        let schema = &self.nodes[input].schema;
        for k in &keys {
            if schema.index_of(k).is_err() {
                return Err(self.error(
                    line_of(key_by),
                    format!("{field}.key_by"),
                    format!(
                        "unknown column '{k}' (columns: {}); key_by takes column names — compute a key with map first",
                        column_names(schema)
                    ),
                ));
            }
        }
        if keys.is_empty() {
            return Err(self.error(line_of(key_by), format!("{field}.key_by"), "names no column"));
        }
        Ok((keys, line_of(key_by)))
    }

    /// Plans one operation into a node (and a select-order map after it when needed);
    /// returns the node its name now refers to.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        i: usize,
        s: &StepSpec,
        op: Operation<'_>,
        inputs: &[usize],
        line: u32,
        field: &str,
        parallelism: u32,
        keys: Option<(Vec<String>, u32)>,
    ) -> Result<usize, JobFileError> {
        let schema = self.nodes[inputs[0]].schema.clone();
        // key_by checked its columns against this same input (a keyed step reads it).
        let key_indices = || -> Vec<usize> {
            keys.as_ref().map(|(k, _)| k.iter().map(|c| schema.index_of(c).expect("checked by key_by")).collect()).unwrap_or_default()
        };
        let keyed = op.keyed();
        let input = StepInput {
            schema: &schema,
            rowtime: self.nodes[inputs[0]].rowtime,
            keys: if keyed { key_indices() } else { Vec::new() },
            parallelism,
            field,
            line,
        };
        let planned = match op {
            Operation::Filter(f) => self.filter(f, &input)?,
            Operation::Map(m) => self.map(m, &input)?,
            Operation::FlatMap(fm) => self.flat_map(fm, &input)?,
            Operation::Aggregate(a) => self.aggregate(a, &input)?,
            Operation::Window(w) => self.window(w, &input)?,
            Operation::TopN(t) => self.top_n(t, &input)?,
            Operation::StateMachine(sm) => self.state_machine(sm, &input)?,
        };
        if keys.is_some() && !keyed {
            return Err(self.error(line, field, "key_by must be followed by aggregate, window, top_n or state_machine"));
        }
        let PlannedStep { name, kind, schema: output, hash_keys, parallelism, rowtime, select_order } = planned;
        let step_name = s.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("step-{i}"));
        let uid = s.uid.clone().unwrap_or_else(|| format!("{step_name}-{}", name.split('(').next().unwrap_or("").to_ascii_lowercase()));
        let node = Node {
            name: step_name.clone(),
            uid,
            parallelism,
            inputs: inputs.to_vec(),
            hash_keys: hash_keys.filter(|k| !k.is_empty()),
            exchange: None,
            input_keys: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name,
                input: Columns::from_schema(&schema),
                output: Columns::from_schema(&output),
                kind,
            },
            schema: output.clone(),
            rowtime,
        };
        let idx = self.add(node, line, &format!("{field}.name"))?;
        self.nodes[idx].exchange =
            self.exchange(s.partition.as_ref(), &format!("{field}.partition"), self.nodes[idx].hash_keys.is_some())?;
        // Reorder to the select list's order when it differs from keys-then-aggregates.
        match select_order {
            Some(order) if order.iter().map(String::as_str).ne(output.fields().iter().map(|f| f.name().as_str())) => {
                self.select(idx, step_name, &order, &output)
            }
            _ => Ok(idx),
        }
    }

    /// A map after node `idx` that puts its columns in the select list's `order`; the
    /// step's name then refers to it.
    fn select(&mut self, idx: usize, step_name: String, order: &[String], schema: &SchemaRef) -> Result<usize, JobFileError> {
        let exprs: Vec<String> = order.iter().map(|n| quote_ident(n)).collect();
        let fields: Vec<Field> = order.iter().map(|n| schema.field_with_name(n).expect("planned column").clone()).collect();
        let out = Arc::new(Schema::new(fields));
        let rowtime = self.nodes[idx].rowtime.and_then(|rt| order.iter().position(|n| n == schema.field(rt).name()));
        let map = Node {
            name: format!("{step_name}.select"),
            uid: format!("{}-select", self.nodes[idx].uid),
            parallelism: self.nodes[idx].parallelism,
            inputs: vec![idx],
            hash_keys: None,
            exchange: None,
            input_keys: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name: "Map".into(),
                input: Columns::from_schema(schema),
                output: Columns::from_schema(&out),
                kind: OperatorKind::Map { expressions: exprs },
            },
            schema: out,
            rowtime,
        };
        let m = self.push(map)?;
        self.by_name.insert(step_name, m);
        Ok(m)
    }

    fn filter(&self, f: &Spanned<String>, input: &StepInput<'_>) -> Result<PlannedStep, JobFileError> {
        let field = format!("{}.filter", input.field);
        let e = expr::compile_str(&f.value, input.schema).map_err(self.expr_error(line_of(f), &field))?;
        if e.data_type() != DataType::Boolean {
            return Err(self.error(
                line_of(f),
                field,
                format!("type mismatch: a filter must be BOOLEAN, '{}' is {}", f.value, type_name(&e.data_type())),
            ));
        }
        Ok(PlannedStep {
            name: "Filter".into(),
            kind: OperatorKind::Filter { predicate: f.value.clone() },
            schema: input.schema.clone(),
            hash_keys: None,
            parallelism: input.parallelism,
            rowtime: input.rowtime,
            select_order: None,
        })
    }

    fn map(&self, m: &Spanned<String>, input: &StepInput<'_>) -> Result<PlannedStep, JobFileError> {
        let (exprs, schema) = self.projection(&m.value, input.schema, line_of(m), &format!("{}.map", input.field))?;
        let rowtime = input.rowtime.and_then(|rt| exprs.iter().position(|e| e == input.schema.field(rt).name()));
        Ok(PlannedStep {
            name: "Map".into(),
            kind: OperatorKind::Map { expressions: exprs },
            schema,
            hash_keys: None,
            parallelism: input.parallelism,
            rowtime,
            select_order: None,
        })
    }

    /// A select list of expressions: the expressions and the columns they make.
    fn projection(&self, sql: &str, input: &Schema, line: u32, field: &str) -> Result<(Vec<String>, SchemaRef), JobFileError> {
        let items = expr::parse_select_list(sql).map_err(self.expr_error(line, field))?;
        let mut exprs = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        for (e, alias) in items {
            let name = alias
                .or_else(|| expr::default_name(&e))
                .ok_or_else(|| self.error(line, field, format!("'{e}' needs a name: write '{e} AS name'")))?;
            let compiled = expr::compile(&e, input).map_err(self.expr_error(line, field))?;
            if fields.iter().any(|f| f.name() == &name) {
                return Err(self.error(line, field, format!("column '{name}' appears twice")));
            }
            fields.push(Field::new(&name, compiled.data_type(), true));
            exprs.push(format!("{e}"));
        }
        Ok((exprs, Arc::new(Schema::new(fields))))
    }

    fn flat_map(&self, fm: &Spanned<FlatMapSpec>, input: &StepInput<'_>) -> Result<PlannedStep, JobFileError> {
        let field = format!("{}.flat_map.split", input.field);
        let schema = input.schema;
        let col = &fm.value.split;
        let idx = schema
            .index_of(&col.value)
            .map_err(|_| self.error(line_of(col), &field, format!("unknown column '{}' (columns: {})", col.value, column_names(schema))))?;
        if schema.field(idx).data_type() != &DataType::Utf8 {
            return Err(self.error(
                line_of(col),
                field,
                format!("type mismatch: split needs a STRING column, '{}' is {}", col.value, type_name(schema.field(idx).data_type())),
            ));
        }
        let mut fields: Vec<Field> =
            schema.fields().iter().enumerate().filter(|(j, _)| *j != idx).map(|(_, f)| f.as_ref().clone()).collect();
        fields.push(Field::new(&fm.value.into.value, DataType::Utf8, true));
        Ok(PlannedStep {
            name: "FlatMap".into(),
            kind: OperatorKind::FlatMapSplit {
                column: col.value.clone(),
                delimiter: fm.value.delimiter.clone(),
                normalize: fm.value.normalize,
            },
            schema: Arc::new(Schema::new(fields)),
            hash_keys: None,
            parallelism: input.parallelism,
            rowtime: None,
            select_order: None,
        })
    }

    fn top_n(&self, t: &Spanned<TopNSpec>, input: &StepInput<'_>) -> Result<PlannedStep, JobFileError> {
        let tf = format!("{}.top_n", input.field);
        let schema = input.schema;
        if t.value.n.value == 0 {
            return Err(self.error(line_of(&t.value.n), format!("{tf}.n"), "must be at least 1"));
        }
        let order_line = line_of(&t.value.order_by);
        let order = expr::parse_order_by(&t.value.order_by.value).map_err(self.expr_error(order_line, &format!("{tf}.order-by")))?;
        let mut order_by = Vec::new();
        for (e, desc) in order {
            let col =
                expr::default_name(&e).ok_or_else(|| self.error(order_line, format!("{tf}.order-by"), "order-by takes column names"))?;
            let idx = schema.index_of(&col).map_err(|_| {
                self.error(order_line, format!("{tf}.order-by"), format!("unknown column '{col}' (columns: {})", column_names(schema)))
            })?;
            order_by.push((idx, desc));
        }
        let mut partition = input.keys.clone();
        if partition.is_empty() {
            if let Ok(we) = schema.index_of("window_end") {
                partition.push(we);
            }
        }
        let mut fields = vec![Field::new("rank", DataType::Int64, false)];
        fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
        Ok(PlannedStep {
            name: "TopN".into(),
            parallelism: if partition.is_empty() { 1 } else { input.parallelism },
            kind: OperatorKind::TopN { n: t.value.n.value, partition_keys: partition.clone(), order_by },
            schema: Arc::new(Schema::new(fields)),
            hash_keys: Some(partition),
            rowtime: None,
            select_order: None,
        })
    }

    fn state_machine(&self, sm: &Spanned<StateMachineSpec>, input: &StepInput<'_>) -> Result<PlannedStep, JobFileError> {
        let sf = format!("{}.state_machine", input.field);
        let schema = input.schema;
        if input.keys.is_empty() {
            return Err(self.error(input.line, &sf, "state_machine runs per key: put a key_by before it"));
        }
        let ev = &sm.value.event;
        let event_column = schema.index_of(&ev.value).map_err(|_| {
            self.error(line_of(ev), format!("{sf}.event"), format!("unknown column '{}' (columns: {})", ev.value, column_names(schema)))
        })?;
        if schema.field(event_column).data_type() != &DataType::Utf8 {
            return Err(self.error(
                line_of(ev),
                format!("{sf}.event"),
                format!(
                    "type mismatch: the event column must be STRING, '{}' is {}",
                    ev.value,
                    type_name(schema.field(event_column).data_type())
                ),
            ));
        }
        let mut transitions = Vec::new();
        let mut seen = HashSet::new();
        for (j, t) in sm.value.transitions.iter().enumerate() {
            if !seen.insert((t.value.from.clone(), t.value.event.clone())) {
                return Err(self.error(
                    line_of(t),
                    format!("{sf}.transitions[{j}]"),
                    format!("a second transition from '{}' on '{}'", t.value.from, t.value.event),
                ));
            }
            transitions.push(Transition { from: t.value.from.clone(), event: t.value.event.clone(), to: t.value.to.clone() });
        }
        if !transitions.iter().any(|t| t.from == sm.value.initial.value) {
            return Err(self.error(
                line_of(&sm.value.initial),
                format!("{sf}.initial"),
                format!("no transition leaves the initial state '{}'", sm.value.initial.value),
            ));
        }
        let mut fields: Vec<Field> = input.keys.iter().map(|&k| schema.field(k).clone()).collect();
        fields.push(Field::new("state", DataType::Utf8, false));
        fields.push(Field::new("event", DataType::Utf8, true));
        Ok(PlannedStep {
            name: "StateMachine".into(),
            kind: OperatorKind::StateMachine {
                keys: input.keys.clone(),
                event_column,
                initial: sm.value.initial.value.clone(),
                transitions,
            },
            schema: Arc::new(Schema::new(fields)),
            hash_keys: Some(input.keys.clone()),
            parallelism: input.parallelism,
            rowtime: None,
            select_order: None,
        })
    }
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
