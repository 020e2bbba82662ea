//! Lowering queries: FROM (tables, views, `WITH` queries, subqueries, the window table
//! functions TUMBLE and HOP), WHERE, the select list, and UNION ALL, into filter, map
//! and union operators. Aggregations are [`group`](super::group)'s.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use sqlparser::ast::{self, SelectItem, SetExpr, SetOperator, SetQuantifier, TableFactor};

use super::{quote, Lowering, Source, Stream};
use crate::job::error::JobFileError;
use crate::job::expr;
use crate::job::graph::{OperatorKind, ROW_KIND_COLUMN};
use crate::job::types::type_name;

/// Views and `WITH` queries expand into each other at most this deep.
const MAX_VIEW_DEPTH: usize = 32;

/// A window table function over a stream: which rows fall in which windows.
#[derive(Debug, Clone)]
pub(super) struct WindowTvf {
    pub size_ms: i64,
    pub slide_ms: i64,
    /// The event-time column of the input.
    pub time_column: usize,
}

pub(super) use crate::job::expr::functions::interval_ms;

impl Lowering<'_> {
    pub(super) fn query(&mut self, q: &ast::Query) -> Result<Stream, JobFileError> {
        if q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
            return Err(self.error(
                self.at(q),
                "ORDER BY and LIMIT on an unbounded stream are not supported; for the first N rows per group use Top-N (ROW_NUMBER() OVER …)",
            ));
        }
        let scope = self.ctes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.ctes.push((cte.alias.name.value.clone(), (*cte.query).clone()));
            }
        }
        let result = self.set_expr(&q.body);
        self.ctes.truncate(scope);
        result
    }

    fn set_expr(&mut self, body: &SetExpr) -> Result<Stream, JobFileError> {
        match body {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { op: SetOperator::Union, set_quantifier: SetQuantifier::All, left, right } => {
                let l = self.set_expr(left)?;
                let l = self.require_rows(l)?;
                let r = self.set_expr(right)?;
                let r = self.require_rows(r)?;
                self.union(l, r, body)
            }
            SetExpr::SetOperation { op, .. } => {
                Err(self
                    .error(self.at(body), format!("{op} is not supported on streams; UNION ALL is (a distinct union needs a GROUP BY)")))
            }
            other => Err(self.error(self.at(other), format!("'{other}' is not supported as a query"))),
        }
    }

    /// UNION ALL: the right side's columns take the left's names; types must match.
    fn union(&mut self, l: Stream, r: Stream, body: &SetExpr) -> Result<Stream, JobFileError> {
        let (ls, rs) = (self.schema(&l), self.schema(&r));
        if l.updating || r.updating {
            return Err(self.error(self.at(body), "UNION ALL of an updating result (a GROUP BY) is not supported"));
        }
        let types = |s: &Schema| s.fields().iter().map(|f| type_name(f.data_type())).collect::<Vec<_>>().join(", ");
        if ls.fields().len() != rs.fields().len() || ls.fields().iter().zip(rs.fields()).any(|(a, b)| a.data_type() != b.data_type()) {
            return Err(self.error(
                self.at(body),
                format!("UNION ALL needs the same column types on both sides: ({}) and ({})", types(&ls), types(&rs)),
            ));
        }
        let r_node = if ls.fields().iter().zip(rs.fields()).all(|(a, b)| a.name() == b.name()) {
            r.node
        } else {
            let expressions = rs.fields().iter().map(|f| quote(f.name())).collect();
            let p = self.planner.nodes[r.node].parallelism;
            self.node("Calc", vec![r.node], OperatorKind::Map { expressions }, ls.clone(), p, None, None)?
        };
        let expressions = ls.fields().iter().map(|f| quote(f.name())).collect();
        let p = self.default_p;
        let rowtime = self.rowtime(&l).filter(|&rt| self.planner.nodes[r_node].rowtime == Some(rt));
        let node = self.node("Union", vec![l.node, r_node], OperatorKind::Map { expressions }, ls, p, None, rowtime)?;
        Ok(Stream { node, updating: false, window: None })
    }

    fn select(&mut self, s: &ast::Select) -> Result<Stream, JobFileError> {
        if s.distinct.is_some() {
            return Err(self.error(self.at(s), "SELECT DISTINCT is not supported yet: GROUP BY the columns instead"));
        }
        let input = match s.from.as_slice() {
            [] => return Err(self.error(self.at(s), "a query needs FROM (a table, view or subquery)")),
            [one] if one.joins.is_empty() => {
                let mut input = self.relation(&one.relation)?;
                if let Some(selection) = &s.selection {
                    input = self.filter(input, selection)?;
                }
                input
            }
            several => self.joins(several, s.selection.as_ref())?,
        };
        let aggregating = !matches!(&s.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty())
            || s.projection.iter().any(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => super::group::has_aggregate(e),
                _ => false,
            });
        if aggregating {
            return self.aggregate(s, input);
        }
        if let Some(having) = &s.having {
            return Err(self.error(self.at(having), "HAVING needs a GROUP BY or an aggregate"));
        }
        let input = self.require_rows(input)?;
        self.project(input, &s.projection)
    }

    /// WHERE: a filter on the input (of a window function: on its input rows).
    pub(super) fn filter(&mut self, input: Stream, predicate: &ast::Expr) -> Result<Stream, JobFileError> {
        let schema = self.schema(&input);
        let compiled = expr::compile(predicate, &schema).map_err(|e| self.error(self.at(predicate), e.0))?;
        if !matches!(compiled.data_type(), DataType::Boolean | DataType::Null) {
            return Err(self.error(
                self.at(predicate),
                format!("WHERE needs a BOOLEAN condition, '{predicate}' is {}", type_name(&compiled.data_type())),
            ));
        }
        let p = self.planner.nodes[input.node].parallelism;
        let rowtime = self.rowtime(&input);
        let node =
            self.node("Calc", vec![input.node], OperatorKind::Filter { predicate: predicate.to_string() }, schema, p, None, rowtime)?;
        Ok(Stream { node, ..input })
    }

    /// The select list as a projection (a row-kind column passes through first).
    pub(super) fn project(&mut self, input: Stream, items: &[SelectItem]) -> Result<Stream, JobFileError> {
        let schema = self.schema(&input);
        let mut expressions = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        if input.updating {
            expressions.push(quote(ROW_KIND_COLUMN));
            fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int32, false));
        }
        let visible: Vec<&Field> = schema.fields().iter().map(|f| f.as_ref()).filter(|f| f.name() != ROW_KIND_COLUMN).collect();
        // Output columns that are an input column as it is.
        let mut columns: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let (e, alias) = match item {
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                    for f in &visible {
                        columns.insert(fields.len(), schema.index_of(f.name()).expect("a column"));
                        expressions.push(quote(f.name()));
                        fields.push((*f).clone());
                    }
                    continue;
                }
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                other => return Err(self.error(self.at(other), format!("'{other}' is not supported in a select list"))),
            };
            let compiled = expr::compile(e, &schema).map_err(|err| self.error(self.at(e), err.0))?;
            let mut name = alias.or_else(|| expr::default_name(e)).unwrap_or_else(|| format!("EXPR${i}"));
            // As Flink (Calcite) does, a name that is taken gets a number: dateTime0.
            if fields.iter().any(|f| f.name() == &name) {
                let base = name.clone();
                name = (0..).map(|n| format!("{base}{n}")).find(|c| fields.iter().all(|f| f.name() != c)).expect("a free name");
            }
            if let expr::Expr::Column { index, .. } = compiled {
                columns.insert(fields.len(), index);
            }
            expressions.push(e.to_string());
            fields.push(Field::new(&name, compiled.data_type(), true));
        }
        let identity = expressions.len() == schema.fields().len()
            && expressions.iter().zip(schema.fields()).all(|(e, f)| *e == quote(f.name()))
            && fields.iter().zip(schema.fields()).all(|(a, b)| a.name() == b.name());
        if identity {
            return Ok(input);
        }
        // The event-time column stays one if selected as it is.
        let rowtime = self.rowtime(&input).and_then(|rt| columns.iter().filter(|(_, &c)| c == rt).map(|(&out, _)| out).min());
        let p = self.planner.nodes[input.node].parallelism;
        let node =
            self.node("Calc", vec![input.node], OperatorKind::Map { expressions }, Arc::new(Schema::new(fields)), p, None, rowtime)?;
        Ok(Stream { node, ..input })
    }

    /// One relation of FROM.
    pub(super) fn relation(&mut self, relation: &TableFactor) -> Result<Stream, JobFileError> {
        match relation {
            TableFactor::Table { name, args: None, .. } => self.named(&name.to_string(), self.at(relation)),
            TableFactor::Derived { subquery, lateral: false, .. } => self.query(subquery),
            TableFactor::TableFunction { expr: ast::Expr::Function(f), .. } => self.window_function(f),
            TableFactor::Table { name, args: Some(_), .. } => Err(self.error(
                self.at(relation),
                format!("table function {name} is not supported: window functions are written TABLE({name}(TABLE t, DESCRIPTOR(ts), …))"),
            )),
            other => Err(self.error(self.at(other), format!("'{other}' is not supported in FROM"))),
        }
    }

    /// A table, view or `WITH` query by name.
    fn named(&mut self, name: &str, at: crate::job::sql::Position) -> Result<Stream, JobFileError> {
        let name = crate::job::sql::script::unquote(name.rsplit('.').next().unwrap_or(name));
        match self.lookup(&name, at)? {
            Source::Table(t) => self.scan(t),
            Source::Query(q) => {
                if self.depth >= MAX_VIEW_DEPTH {
                    return Err(self.error(at, format!("views nest more than {MAX_VIEW_DEPTH} deep (does '{name}' read itself?)")));
                }
                self.depth += 1;
                let result = self.query(&q);
                self.depth -= 1;
                result
            }
        }
    }

    /// `TUMBLE(TABLE t, DESCRIPTOR(ts), size)` or `HOP(TABLE t, DESCRIPTOR(ts), slide,
    /// size)` (also with Flink's named arguments DATA, TIMECOL, SIZE, SLIDE).
    fn window_function(&mut self, f: &ast::Function) -> Result<Stream, JobFileError> {
        let at = self.at(f);
        let name = f.name.to_string().to_ascii_uppercase();
        let ast::FunctionArguments::List(list) = &f.args else {
            return Err(self.error(at, format!("{name} needs arguments: (TABLE t, DESCRIPTOR(ts), INTERVAL …)")));
        };
        let mut positional: Vec<&ast::Expr> = Vec::new();
        let mut named: Vec<(String, &ast::Expr)> = Vec::new();
        for a in &list.args {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => positional.push(e),
                ast::FunctionArg::Named { name, arg: ast::FunctionArgExpr::Expr(e), .. } => {
                    named.push((name.value.to_ascii_uppercase(), e))
                }
                other => return Err(self.error(at, format!("argument '{other}' of {name} is not supported"))),
            }
        }
        let order: &[&str] = match name.as_str() {
            "TUMBLE" => &["DATA", "TIMECOL", "SIZE"],
            "HOP" => &["DATA", "TIMECOL", "SLIDE", "SIZE"],
            "CUMULATE" => return Err(self.error(at, "CUMULATE windows are not supported yet (TUMBLE and HOP are)")),
            "SESSION" => return Err(self.error(at, "SESSION windows are not supported yet (TUMBLE and HOP are)")),
            _ => return Err(self.error(at, format!("unknown table function {name} (TUMBLE or HOP)"))),
        };
        let arg = |i: usize| -> Option<&ast::Expr> {
            positional.get(i).copied().or_else(|| named.iter().find(|(n, _)| n == order[i]).map(|(_, e)| *e))
        };
        if positional.len() + named.len() != order.len() {
            return Err(self.error(at, format!("{name} takes {} arguments: ({})", order.len(), order.join(", "))));
        }
        let data = arg(0).ok_or_else(|| self.error(at, format!("{name} needs its DATA: TABLE t")))?;
        let table = match data {
            ast::Expr::Identifier(i) => i.value.clone(),
            ast::Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()).unwrap_or_default(),
            other => return Err(self.error(self.at(other), format!("{name}'s first argument is TABLE name, found {other}"))),
        };
        let input = self.named(&table, self.at(data))?;
        let input = self.require_rows(input)?;
        if input.updating {
            return Err(self.error(at, format!("{name} over an updating result (a GROUP BY) is not supported")));
        }
        let timecol = arg(1).ok_or_else(|| self.error(at, format!("{name} needs its TIMECOL: DESCRIPTOR(column)")))?;
        let column = match timecol {
            ast::Expr::Function(d) if d.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => {
                match expr::function_args(&d.args).ok().as_deref() {
                    Some([Some(c)]) => expr::default_name(c),
                    _ => None,
                }
            }
            _ => None,
        }
        .ok_or_else(|| self.error(self.at(timecol), format!("{name}'s time column is DESCRIPTOR(column), found {timecol}")))?;
        let schema = self.schema(&input);
        let time_column = schema.index_of(&column).map_err(|_| {
            self.error(
                self.at(timecol),
                format!("unknown column '{column}' in DESCRIPTOR (columns: {})", crate::job::types::column_names(&schema)),
            )
        })?;
        if self.rowtime(&input) != Some(time_column) {
            return Err(self.error(
                self.at(timecol),
                format!("DESCRIPTOR({column}) must name an event-time column: one a WATERMARK is defined on in its table"),
            ));
        }
        let interval = |i: usize| -> Result<i64, JobFileError> {
            let e = arg(i).ok_or_else(|| self.error(at, format!("{name} needs its {}", order[i])))?;
            let ms = interval_ms(e).map_err(|m| self.error(self.at(e), m))?;
            if ms <= 0 {
                return Err(self.error(self.at(e), format!("{}'s {} must be greater than 0", name, order[i])));
            }
            Ok(ms)
        };
        let (size_ms, slide_ms) = match name.as_str() {
            "TUMBLE" => {
                let size = interval(2)?;
                (size, size)
            }
            _ => {
                let (slide, size) = (interval(2)?, interval(3)?);
                if slide > size || size % slide != 0 {
                    return Err(self.error(at, "HOP's slide must divide its size"));
                }
                (size, slide)
            }
        };
        Ok(Stream { window: Some(WindowTvf { size_ms, slide_ms, time_column }), ..input })
    }
}
