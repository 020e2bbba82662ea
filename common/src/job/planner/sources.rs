//! Planning `sources:`: what every source shares (name, parallelism, uid, the
//! connector's options allowed), the rest by the connector registered under its
//! `connector:` name (see [`connectors`](crate::job::connectors)).

use super::{Node, Planner};
use crate::job::connectors::{self, PlanContext};
use crate::job::error::JobFileError;
use crate::job::graph::{Columns, OperatorDescriptor, OperatorKind};
use crate::job::spec::{line_of, SourceSpec, Spanned};

impl Planner {
    /// Plans `sources[i]` into a node.
    pub(super) fn source(&mut self, i: usize, source: &Spanned<SourceSpec>, default_p: u32) -> Result<(), JobFileError> {
        let field = format!("sources[{i}]");
        let s = &source.value;
        let name = s.name.value.clone();
        let parallelism = self.parallelism(s.parallelism.as_ref(), default_p, &format!("{field}.parallelism"))?;
        let requested = s.connector.value.to_ascii_lowercase();
        let connector = connectors::source(&requested);
        // Options of another connector are mistakes, not silently ignored. (An unknown
        // connector takes every option: its name is the error.)
        if let Ok(c) = &connector {
            if let Some(option) = s.given_options().into_iter().find(|o| !c.options().contains(o)) {
                let message = format!("'{option}' is not an option of the {requested} connector");
                return Err(self.error(line_of(source), format!("{field}.{option}"), message));
            }
        }
        let connector = connector.map_err(|e| self.error(line_of(&s.connector), format!("{field}.connector"), e.to_string()))?;
        let cx = PlanContext { file: &self.file, base: &self.base, field: &field, line: line_of(source) };
        let planned = connector.plan(s, &cx)?;
        let node = Node {
            name: name.clone(),
            uid: s.uid.clone().unwrap_or_else(|| format!("source-{name}")),
            parallelism,
            inputs: vec![],
            hash_keys: None,
            exchange: None,
            input_keys: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name: format!("Source: {name}"),
                input: Columns(vec![]),
                output: Columns::from_schema(&planned.schema),
                kind: OperatorKind::Source { connector: connector.name().to_string(), options: planned.options },
            },
            schema: planned.schema,
            rowtime: planned.event_time,
        };
        self.add(node, line_of(&s.name), &format!("{field}.name"))?;
        Ok(())
    }
}
