//! Planning `sinks:`: what every sink shares (name, input, parallelism, uid,
//! partitioning, the connector's options allowed), the rest by the connector
//! registered under its `connector:` name (see [`connectors`](crate::job::connectors)).

use std::sync::Arc;

use arrow::datatypes::Schema;

use super::{Node, Planner};
use crate::job::connectors::{self, PlanContext};
use crate::job::error::JobFileError;
use crate::job::graph::{Columns, OperatorDescriptor, OperatorKind};
use crate::job::spec::{line_of, SinkSpec, Spanned};

impl Planner {
    /// Plans `sinks[i]` into a node reading its `input`, else `previous`.
    pub(super) fn sink(&mut self, i: usize, sink: &Spanned<SinkSpec>, previous: Option<usize>, default_p: u32) -> Result<(), JobFileError> {
        let field = format!("sinks[{i}]");
        let s = &sink.value;
        let input = match &s.input {
            Some(name) => *self
                .by_name
                .get(&name.value)
                .ok_or_else(|| self.error(line_of(name), format!("{field}.input"), format!("unknown input '{}'", name.value)))?,
            None => previous
                .ok_or_else(|| self.error(line_of(sink), format!("{field}.input"), "say which step this sink reads with `input`"))?,
        };
        let schema = self.nodes[input].schema.clone();
        let requested = s.connector.value.to_ascii_lowercase();
        let connector =
            connectors::sink(&requested).map_err(|e| self.error(line_of(&s.connector), format!("{field}.connector"), e.to_string()))?;
        // Options of another connector are mistakes, not silently ignored.
        if let Some(option) = s.given_options().into_iter().find(|o| !connector.options().contains(o)) {
            let message = format!("'{option}' is not an option of the {requested} connector");
            return Err(self.error(line_of(sink), format!("{field}.{option}"), message));
        }
        let cx = PlanContext { file: &self.file, base: &self.base, field: &field, line: line_of(sink) };
        let options = connector.plan(s, &schema, &cx)?;
        let name = s.name.value.clone();
        let parallelism = self.parallelism(s.parallelism.as_ref(), default_p, &format!("{field}.parallelism"))?;
        let node = Node {
            name: name.clone(),
            uid: s.uid.clone().unwrap_or_else(|| format!("sink-{name}")),
            parallelism,
            inputs: vec![input],
            hash_keys: None,
            exchange: None,
            input_keys: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name: format!("Sink: {name}"),
                input: Columns::from_schema(&schema),
                output: Columns(vec![]),
                kind: OperatorKind::Sink { connector: connector.name().to_string(), options },
            },
            schema: Arc::new(Schema::empty()),
            rowtime: None,
        };
        let at = self.add(node, line_of(&s.name), &format!("{field}.name"))?;
        self.nodes[at].exchange = self.exchange(s.partition.as_ref(), &format!("{field}.partition"), false)?;
        Ok(())
    }
}
