//! Lowering aggregations: `GROUP BY` columns with COUNT, SUM, MIN, MAX and AVG into
//! a keyed running aggregate whose output is a changelog (`+I`, `-U`, `+U`), and
//! `GROUP BY window_start, window_end, …` over TUMBLE or HOP into a window operator
//! that emits each window once when the watermark passes its end. Aggregate calls in
//! the select list and HAVING are replaced by the operator's output columns, so any
//! expression around them (`SUM(x) / COUNT(*)`) is a projection after it.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use sqlparser::ast::{self, SelectItem};

use super::{Lowering, Stream};
use crate::job::error::JobFileError;
use crate::job::expr;
use crate::job::graph::{AggregateCall, AggregateFunction, OperatorKind, WindowOperator, ROW_KIND_COLUMN};
use crate::job::planner::agg_field;
use crate::job::types::{is_numeric, timestamp_type, type_name};

/// The aggregate function a call names, if it is one.
fn aggregate_function(f: &ast::Function) -> Option<AggregateFunction> {
    Some(match f.name.to_string().to_ascii_uppercase().as_str() {
        "COUNT" => AggregateFunction::Count,
        "SUM" => AggregateFunction::Sum,
        "MIN" => AggregateFunction::Min,
        "MAX" => AggregateFunction::Max,
        "AVG" => AggregateFunction::Avg,
        _ => return None,
    })
}

/// Whether `e` calls an aggregate function anywhere.
pub(super) fn has_aggregate(e: &ast::Expr) -> bool {
    let mut found = false;
    let mut copy = e.clone();
    visit(&mut copy, &mut |f| {
        if aggregate_function(f).is_some() {
            found = true;
        }
    });
    found
}

/// Calls `on_function` on every function call in `e` (outermost first), descending
/// into the forms expressions are made of.
fn visit(e: &mut ast::Expr, on_function: &mut dyn FnMut(&mut ast::Function)) {
    use ast::Expr as A;
    match e {
        A::Function(f) => {
            on_function(f);
            if let ast::FunctionArguments::List(list) = &mut f.args {
                for a in &mut list.args {
                    if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                        visit(x, on_function);
                    }
                }
            }
        }
        A::BinaryOp { left, right, .. } => {
            visit(left, on_function);
            visit(right, on_function);
        }
        A::UnaryOp { expr, .. } | A::Nested(expr) | A::Cast { expr, .. } | A::IsNull(expr) | A::IsNotNull(expr) => visit(expr, on_function),
        A::Between { expr, low, high, .. } => {
            visit(expr, on_function);
            visit(low, on_function);
            visit(high, on_function);
        }
        A::In { expr, target: ast::InTarget::List(list), .. } => {
            visit(expr, on_function);
            list.iter_mut().for_each(|x| visit(x, on_function));
        }
        A::Case { operand, conditions, else_result, .. } => {
            if let Some(o) = operand {
                visit(o, on_function);
            }
            for w in conditions {
                visit(&mut w.condition, on_function);
                visit(&mut w.result, on_function);
            }
            if let Some(e) = else_result {
                visit(e, on_function);
            }
        }
        _ => {}
    }
}

/// The output column of aggregate call `n`.
fn agg_column(n: usize) -> String {
    format!("$agg{n}")
}

impl Lowering<'_> {
    /// A SELECT with GROUP BY or aggregates over `input`.
    pub(super) fn aggregate(&mut self, s: &ast::Select, input: Stream) -> Result<Stream, JobFileError> {
        let at = self.at(s);
        if input.updating {
            return Err(self.error(at, "aggregating an updating result (a GROUP BY over a GROUP BY) is not supported yet"));
        }
        let schema = self.schema(&input);
        let groups: &[ast::Expr] = match &s.group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs,
            other => return Err(self.error(at, format!("'{other}' is not supported: GROUP BY takes columns"))),
        };
        let (mut window_start, mut window_end) = (false, false);
        let mut keys = Vec::new();
        for g in groups {
            let name = expr::default_name(g)
                .ok_or_else(|| self.error(self.at(g), format!("GROUP BY takes columns; compute '{g}' in a subquery or view first")))?;
            if input.window.is_some() && (name == "window_start" || name == "window_end") {
                window_start |= name == "window_start";
                window_end |= name == "window_end";
                continue;
            }
            let index = match expr::compile(g, &schema) {
                Ok(expr::Expr::Column { index, .. }) => index,
                Ok(_) => return Err(self.error(self.at(g), format!("GROUP BY takes columns; compute '{g}' in a subquery or view first"))),
                Err(e) => return Err(self.error(self.at(g), format!("{} in GROUP BY", e.0))),
            };
            if !keys.contains(&index) {
                keys.push(index);
            }
        }
        if input.window.is_some() && !(window_start && window_end) {
            return Err(self.error(at, "the GROUP BY of a window function must include window_start and window_end"));
        }
        // Aggregate calls become the operator's output columns.
        let mut calls: Vec<AggregateCall> = Vec::new();
        let mut items = Vec::new();
        for (i, item) in s.projection.iter().enumerate() {
            let (e, alias) = match item {
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                other => return Err(self.error(self.at(other), "SELECT * cannot be aggregated: list the grouped columns and aggregates")),
            };
            let name = alias.or_else(|| expr::default_name(e)).unwrap_or_else(|| format!("EXPR${i}"));
            let rewritten = self.replace_aggregates(e, &schema, &mut calls)?;
            items.push(SelectItem::ExprWithAlias { expr: rewritten, alias: ast::Ident::with_quote('"', name) });
        }
        let having = s.having.as_ref().map(|h| Ok::<_, JobFileError>((h, self.replace_aggregates(h, &schema, &mut calls)?))).transpose()?;
        let p = if keys.is_empty() { 1 } else { self.default_p };
        let mut fields: Vec<Field> = Vec::new();
        let updating = input.window.is_none();
        if updating {
            fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int32, false));
        } else {
            fields.push(Field::new("window_start", timestamp_type(), false));
            fields.push(Field::new("window_end", timestamp_type(), false));
        }
        fields.extend(keys.iter().map(|&k| schema.field(k).clone()));
        fields.extend(calls.iter().map(|c| agg_field(c, &schema)));
        let out = Arc::new(Schema::new(fields));
        let node = match &input.window {
            None => self.node(
                if keys.is_empty() { "GlobalGroupAggregate" } else { "GroupAggregate" },
                vec![input.node],
                OperatorKind::Aggregate { keys: keys.clone(), aggregates: calls, changelog: true },
                out.clone(),
                p,
                Some(keys),
                None,
            )?,
            Some(w) => {
                let kind = if w.size_ms == w.slide_ms { "TUMBLE" } else { "HOP" };
                self.node(
                    &format!("WindowAggregate({kind}, size={} ms, slide={} ms)", w.size_ms, w.slide_ms),
                    vec![input.node],
                    OperatorKind::Window(WindowOperator {
                        size_ms: w.size_ms,
                        slide_ms: w.slide_ms,
                        event_time: true,
                        time_column: Some(w.time_column),
                        keys: keys.clone(),
                        aggregates: calls,
                    }),
                    out.clone(),
                    p,
                    Some(keys),
                    Some(1),
                )?
            }
        };
        let mut stream = Stream { node, updating, window: None };
        if let Some((original, h)) = having {
            let compiled = expr::compile(&h, &out).map_err(|e| self.error(self.at(original), self.not_grouped(e.0, &schema)))?;
            if !matches!(compiled.data_type(), DataType::Boolean | DataType::Null) {
                return Err(self.error(self.at(original), "HAVING needs a BOOLEAN condition"));
            }
            let node = self.node(
                "Calc",
                vec![node],
                OperatorKind::Filter { predicate: h.to_string() },
                out.clone(),
                p,
                None,
                self.rowtime(&stream),
            )?;
            stream = Stream { node, ..stream };
        }
        for item in &items {
            if let SelectItem::ExprWithAlias { expr: e, .. } = item {
                expr::compile(e, &out).map_err(|err| self.error(self.statement.at, self.not_grouped(err.0, &schema)))?;
            }
        }
        self.project(stream, &items)
    }

    /// "unknown column 'x'" for a column the input has: it is neither grouped nor
    /// aggregated.
    fn not_grouped(&self, message: String, input: &Schema) -> String {
        if let Some(rest) = message.strip_prefix("unknown column '") {
            let name = rest.split('\'').next().unwrap_or("");
            if input.index_of(name).is_ok() {
                return format!("column '{name}' is neither grouped nor aggregated: add it to GROUP BY or aggregate it");
            }
        }
        message
    }

    /// `e` with each aggregate call replaced by its output column, the calls appended
    /// to `calls` (checked against the input).
    fn replace_aggregates(&self, e: &ast::Expr, input: &Schema, calls: &mut Vec<AggregateCall>) -> Result<ast::Expr, JobFileError> {
        let mut out = e.clone();
        let mut error = None;
        self.replace_in(&mut out, input, calls, &mut error);
        match error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn replace_in(&self, e: &mut ast::Expr, input: &Schema, calls: &mut Vec<AggregateCall>, error: &mut Option<JobFileError>) {
        if let ast::Expr::Function(f) = e {
            if let Some(function) = aggregate_function(f) {
                match self.aggregate_call(f, function, input, calls.len()) {
                    Ok(call) => {
                        // The same call twice is computed once.
                        let n =
                            calls.iter().position(|c| c.function == call.function && c.argument == call.argument).unwrap_or_else(|| {
                                calls.push(call);
                                calls.len() - 1
                            });
                        *e = ast::Expr::Identifier(ast::Ident::with_quote('"', agg_column(n)));
                    }
                    Err(err) => {
                        error.get_or_insert(err);
                    }
                }
                return;
            }
        }
        use ast::Expr as A;
        match e {
            A::Function(f) => {
                if let ast::FunctionArguments::List(list) = &mut f.args {
                    for a in &mut list.args {
                        if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                            self.replace_in(x, input, calls, error);
                        }
                    }
                }
            }
            A::BinaryOp { left, right, .. } => {
                self.replace_in(left, input, calls, error);
                self.replace_in(right, input, calls, error);
            }
            A::UnaryOp { expr, .. } | A::Nested(expr) | A::Cast { expr, .. } | A::IsNull(expr) | A::IsNotNull(expr) => {
                self.replace_in(expr, input, calls, error)
            }
            A::Between { expr, low, high, .. } => {
                self.replace_in(expr, input, calls, error);
                self.replace_in(low, input, calls, error);
                self.replace_in(high, input, calls, error);
            }
            A::In { expr, target: ast::InTarget::List(list), .. } => {
                self.replace_in(expr, input, calls, error);
                for x in list {
                    self.replace_in(x, input, calls, error);
                }
            }
            A::Case { operand, conditions, else_result, .. } => {
                if let Some(o) = operand {
                    self.replace_in(o, input, calls, error);
                }
                for w in conditions {
                    self.replace_in(&mut w.condition, input, calls, error);
                    self.replace_in(&mut w.result, input, calls, error);
                }
                if let Some(x) = else_result {
                    self.replace_in(x, input, calls, error);
                }
            }
            _ => {}
        }
    }

    /// One aggregate call, checked: its argument compiles against the input and has a
    /// type the function takes.
    fn aggregate_call(
        &self,
        f: &ast::Function,
        function: AggregateFunction,
        input: &Schema,
        n: usize,
    ) -> Result<AggregateCall, JobFileError> {
        let at = self.at(f);
        let fname = f.name.to_string().to_ascii_uppercase();
        if let ast::FunctionArguments::List(list) = &f.args {
            if list.duplicate_treatment == Some(ast::DuplicateTreatment::Distinct) {
                return Err(self.error(at, format!("{fname}(DISTINCT …) is not supported yet")));
            }
        }
        if f.over.is_some() {
            return Err(self.error(at, format!("{fname}(…) OVER (…) aggregations are not supported yet")));
        }
        let args = expr::function_args(&f.args).map_err(|e| self.error(at, e.0))?;
        let argument = match (function, args.as_slice()) {
            (AggregateFunction::Count, [None]) | (AggregateFunction::Count, []) => None,
            (_, [Some(a)]) => {
                if has_aggregate(a) {
                    return Err(self.error(at, "an aggregate cannot take another aggregate"));
                }
                let c = expr::compile(a, input).map_err(|e| self.error(self.at(a), e.0))?;
                let t = c.data_type();
                let takes = function == AggregateFunction::Count
                    || is_numeric(&t)
                    || (matches!(t, DataType::Timestamp(_, _)) && matches!(function, AggregateFunction::Min | AggregateFunction::Max));
                if !takes {
                    return Err(self.error(self.at(a), format!("{fname} needs a number, '{a}' is {}", type_name(&t))));
                }
                Some(a.to_string())
            }
            _ => return Err(self.error(at, format!("{fname} takes one argument"))),
        };
        Ok(AggregateCall { function, argument, output_name: agg_column(n) })
    }
}
