//! Lowering FROM with several relations (`a JOIN b ON …`, `FROM a, b WHERE …`) into
//! left-deep regular inner equi-joins: WHERE and ON conditions on one relation only
//! are filters before the join, equalities between the two sides are its keys (each
//! side hashed by its own), and the rest a filter after it. Columns after a join are
//! qualified by their relation's alias (`A.id`), so `A.id` and `P.id` stay apart.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use sqlparser::ast::{self, JoinConstraint, JoinOperator, TableFactor, TableWithJoins};

use super::{quote, Lowering, Stream};
use crate::job::error::JobFileError;
use crate::job::expr::{self, Expr};
use crate::job::graph::{Columns, OperatorKind};
use crate::job::types::type_name;

/// The conjuncts of `e` (`a AND b AND c`).
fn conjuncts(e: &ast::Expr, out: &mut Vec<ast::Expr>) {
    match e {
        ast::Expr::BinaryOp { left, op: ast::BinaryOperator::And, right } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        ast::Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other.clone()),
    }
}

/// `schema` with each column named `alias.column` (columns already qualified keep
/// their names).
fn qualify(schema: &Schema, alias: &str) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(
                |f| if f.name().contains('.') { f.as_ref().clone() } else { f.as_ref().clone().with_name(format!("{alias}.{}", f.name())) },
            )
            .collect::<Vec<Field>>(),
    ))
}

/// The column a compiled expression reads, if it is just that.
fn column_of(e: &Expr) -> Option<usize> {
    match e {
        Expr::Column { index, .. } => Some(*index),
        _ => None,
    }
}

/// One relation of FROM, planned, with its alias.
struct Relation {
    stream: Stream,
    alias: String,
}

impl Lowering<'_> {
    /// FROM of more than one relation, with the WHERE conditions (all used here).
    pub(super) fn joins(&mut self, from: &[TableWithJoins], selection: Option<&ast::Expr>) -> Result<Stream, JobFileError> {
        // Each relation, and the ON conditions that come with it.
        let mut relations: Vec<(&TableFactor, Vec<ast::Expr>)> = Vec::new();
        for t in from {
            relations.push((&t.relation, Vec::new()));
            for j in &t.joins {
                let on = match &j.join_operator {
                    JoinOperator::Join(c) | JoinOperator::Inner(c) => c,
                    JoinOperator::CrossJoin(c) => c,
                    other => {
                        return Err(
                            self.error(self.at(&j.relation), format!("{} joins are not supported yet (inner joins are)", join_name(other)))
                        )
                    }
                };
                let mut conditions = Vec::new();
                match on {
                    JoinConstraint::On(e) => conjuncts(e, &mut conditions),
                    JoinConstraint::None => {}
                    other => {
                        return Err(self.error(self.at(&j.relation), format!("join condition '{other:?}' is not supported: write ON a = b")))
                    }
                }
                relations.push((&j.relation, conditions));
            }
        }
        let mut pending: Vec<ast::Expr> = Vec::new();
        if let Some(w) = selection {
            conjuncts(w, &mut pending);
        }
        for (_, on) in &relations {
            pending.extend(on.iter().cloned());
        }
        let mut planned: Vec<Relation> = Vec::new();
        for (relation, _) in &relations {
            let alias = self.alias_of(relation)?;
            if planned.iter().any(|r| r.alias == alias) {
                return Err(self.error(self.at(*relation), format!("'{alias}' appears twice in FROM: give each an alias")));
            }
            let stream = self.relation(relation)?;
            let stream = self.require_rows(stream)?;
            if stream.updating {
                return Err(self.error(self.at(*relation), "joining an updating result (a GROUP BY) is not supported yet"));
            }
            planned.push(Relation { stream, alias });
        }
        // Conditions on one relation only filter it before the join.
        let mut later = Vec::new();
        for c in pending {
            let sides: Vec<usize> = planned
                .iter()
                .enumerate()
                .filter(|(_, r)| expr::compile(&c, &qualify(&self.schema(&r.stream), &r.alias)).is_ok())
                .map(|(i, _)| i)
                .collect();
            match sides.as_slice() {
                [i] => {
                    let stream = planned[*i].stream.clone();
                    planned[*i].stream = self.filter(stream, &c)?;
                }
                _ => later.push(c),
            }
        }
        let mut planned = planned.into_iter();
        let first = planned.next().expect("several relations");
        let mut acc = first.stream;
        let mut acc_schema = qualify(&self.schema(&acc), &first.alias);
        for right in planned {
            let right_schema = qualify(&self.schema(&right.stream), &right.alias);
            let mut fields: Vec<Field> = acc_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.extend(right_schema.fields().iter().map(|f| f.as_ref().clone()));
            let joined = Arc::new(Schema::new(fields));
            // Equalities between the sides are the keys; what else the two read filters
            // after the join; the rest waits for a later relation.
            let (mut left_keys, mut right_keys, mut after, mut wait) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for c in later {
                if let ast::Expr::BinaryOp { left, op: ast::BinaryOperator::Eq, right: r } = &c {
                    let pair = |a: &ast::Expr, b: &ast::Expr| -> Option<(usize, usize)> {
                        let l = column_of(&expr::compile(a, &acc_schema).ok()?)?;
                        let r = column_of(&expr::compile(b, &right_schema).ok()?)?;
                        Some((l, r))
                    };
                    if let Some((l, r)) = pair(left, r).or_else(|| pair(r, left)) {
                        let (lt, rt) = (acc_schema.field(l).data_type(), right_schema.field(r).data_type());
                        if lt != rt {
                            return Err(self.error(
                                self.at(&c),
                                format!("the join keys of '{c}' have different types ({} and {}): CAST one", type_name(lt), type_name(rt)),
                            ));
                        }
                        left_keys.push(l);
                        right_keys.push(r);
                        continue;
                    }
                }
                if expr::compile(&c, &joined).is_ok() {
                    after.push(c);
                } else {
                    wait.push(c);
                }
            }
            later = wait;
            if left_keys.is_empty() {
                return Err(self.error(
                    self.statement.at,
                    format!(
                        "the join with '{}' needs an equality between a column of each side (ON a.x = b.y); cross joins are not supported",
                        right.alias
                    ),
                ));
            }
            // The join tells its sides apart by their column names.
            let mut right_node = right.stream.node;
            let right_plain = self.schema(&right.stream);
            let left_plain = self.schema(&acc);
            if left_plain.fields().iter().map(|f| f.name()).eq(right_plain.fields().iter().map(|f| f.name())) {
                let expressions = right_plain.fields().iter().map(|f| quote(f.name())).collect();
                let p = self.planner.nodes[right_node].parallelism;
                right_node = self.node("Calc", vec![right_node], OperatorKind::Map { expressions }, right_schema.clone(), p, None, None)?;
            }
            let right_input = Columns::from_schema(&self.planner.nodes[right_node].schema);
            let node = self.node(
                "Join(InnerJoin)",
                vec![acc.node, right_node],
                OperatorKind::Join { left_keys: left_keys.clone(), right_keys: right_keys.clone(), right_input },
                joined.clone(),
                self.default_p,
                Some(left_keys.clone()),
                None,
            )?;
            self.planner.nodes[node].input_keys = Some(vec![left_keys, right_keys]);
            acc = Stream { node, updating: false, window: None };
            acc_schema = joined;
            for c in after {
                acc = self.filter(acc, &c)?;
            }
        }
        if let Some(c) = later.first() {
            // Compiling it names what is wrong.
            let e = expr::compile(c, &acc_schema).err().map(|e| e.0).unwrap_or_else(|| format!("'{c}' reads no relation of FROM"));
            return Err(self.error(self.at(c), e));
        }
        Ok(acc)
    }

    /// The name a relation's columns are qualified by: its alias, else its table's name.
    fn alias_of(&self, relation: &TableFactor) -> Result<String, JobFileError> {
        let alias = match relation {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. }
            | TableFactor::TableFunction { alias: Some(a), .. } => return Ok(a.name.value.clone()),
            TableFactor::Table { name, .. } => name.0.last().map(|p| crate::job::sql::script::unquote(&p.to_string())),
            _ => None,
        };
        alias.ok_or_else(|| self.error(self.at(relation), "a subquery in a join needs an alias: (SELECT …) AS name"))
    }
}

fn join_name(op: &JoinOperator) -> &'static str {
    match op {
        JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => "LEFT",
        JoinOperator::Right(_) | JoinOperator::RightOuter(_) => "RIGHT",
        JoinOperator::FullOuter(_) => "FULL",
        _ => "these",
    }
}
