//! Planning the aggregating steps: `aggregate` (a running aggregate, keyed or global)
//! and `window` (tumbling or sliding, event or processing time), with their select
//! lists of key columns and COUNT/SUM/MIN/MAX/AVG calls, and the result types of those
//! calls (shared with the TaskManager's state).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};

use super::steps::{PlannedStep, StepInput};
use super::Planner;
use crate::config::values::parse_duration;
use crate::job::error::JobFileError;
use crate::job::expr;
use crate::job::graph::{AggregateCall, AggregateFunction, OperatorKind, WindowOperator};
use crate::job::spec::{line_of, AggregateSpec, Spanned, WindowSpec};
use crate::job::types::{column_names, is_numeric, timestamp_type, type_name};

impl Planner {
    pub(super) fn aggregate(&self, a: &Spanned<AggregateSpec>, input: &StepInput<'_>) -> Result<PlannedStep, JobFileError> {
        let select = &a.value.select;
        let schema = input.schema;
        let keys = &input.keys;
        let (aggs, order) = self.aggregates(&select.value, schema, keys, line_of(select), &format!("{}.aggregate.select", input.field))?;
        let mut fields: Vec<Field> = keys.iter().map(|&k| schema.field(k).clone()).collect();
        fields.extend(aggs.iter().map(|c| agg_field(c, schema)));
        Ok(PlannedStep {
            name: if keys.is_empty() { "GlobalAggregate" } else { "KeyedAggregate" }.into(),
            kind: OperatorKind::Aggregate { keys: keys.clone(), aggregates: aggs, changelog: false },
            schema: Arc::new(Schema::new(fields)),
            hash_keys: Some(keys.clone()),
            parallelism: if keys.is_empty() { 1 } else { input.parallelism },
            rowtime: None,
            select_order: Some(order),
        })
    }

    pub(super) fn window(&self, w: &Spanned<WindowSpec>, input: &StepInput<'_>) -> Result<PlannedStep, JobFileError> {
        let wf = format!("{}.window", input.field);
        let w = &w.value;
        let size = parse_duration(&w.size.value).map_err(|e| self.error(line_of(&w.size), format!("{wf}.size"), e))?.as_millis() as i64;
        if size <= 0 {
            return Err(self.error(line_of(&w.size), format!("{wf}.size"), "must be greater than 0"));
        }
        let slide = match (w.kind.value.to_ascii_lowercase().as_str(), &w.slide) {
            ("tumbling", None) => size,
            ("tumbling", Some(sl)) => {
                return Err(self.error(line_of(sl), format!("{wf}.slide"), "tumbling windows take no slide (use type: sliding)"))
            }
            ("sliding", Some(sl)) => {
                let v = parse_duration(&sl.value).map_err(|e| self.error(line_of(sl), format!("{wf}.slide"), e))?.as_millis() as i64;
                if v <= 0 || size % v != 0 {
                    return Err(self.error(line_of(sl), format!("{wf}.slide"), "must be greater than 0 and divide the size"));
                }
                v
            }
            ("sliding", None) => return Err(self.error(line_of(&w.kind), format!("{wf}.slide"), "sliding windows need a slide")),
            (other, _) => {
                return Err(self.error(
                    line_of(&w.kind),
                    format!("{wf}.type"),
                    format!("unknown window type '{other}' (tumbling or sliding)"),
                ))
            }
        };
        let event_time = match w.time.value.to_ascii_lowercase().as_str() {
            "event" => true,
            "processing" => false,
            other => {
                return Err(self.error(line_of(&w.time), format!("{wf}.time"), format!("unknown time '{other}' (event or processing)")))
            }
        };
        if event_time && input.rowtime.is_none() {
            return Err(self.error(
                line_of(&w.time),
                format!("{wf}.time"),
                "event-time windows need a source with a `watermark` (and the event-time column kept by every map before)",
            ));
        }
        let (schema, keys) = (input.schema, &input.keys);
        let (aggs, order) = self.aggregates(&w.select.value, schema, keys, line_of(&w.select), &format!("{wf}.select"))?;
        let mut fields = vec![Field::new("window_start", timestamp_type(), false), Field::new("window_end", timestamp_type(), false)];
        fields.extend(keys.iter().map(|&k| schema.field(k).clone()));
        fields.extend(aggs.iter().map(|c| agg_field(c, schema)));
        let kind_name = match (slide == size, event_time) {
            (true, true) => "TumblingEventTimeWindows",
            (true, false) => "TumblingProcessingTimeWindows",
            (false, true) => "SlidingEventTimeWindows",
            (false, false) => "SlidingProcessingTimeWindows",
        };
        let mut order_all = vec!["window_start".to_string(), "window_end".to_string()];
        order_all.extend(order);
        Ok(PlannedStep {
            name: format!("Window({kind_name}({size}))"),
            kind: OperatorKind::Window(WindowOperator {
                size_ms: size,
                slide_ms: slide,
                event_time,
                time_column: if event_time { input.rowtime } else { None },
                keys: keys.clone(),
                aggregates: aggs,
            }),
            schema: Arc::new(Schema::new(fields)),
            hash_keys: Some(keys.clone()),
            parallelism: if keys.is_empty() { 1 } else { input.parallelism },
            rowtime: Some(1),
            select_order: Some(order_all),
        })
    }

    /// Parses an aggregate select list: key columns and COUNT/SUM/MIN/MAX/AVG calls.
    /// Returns the calls and the output column order.
    fn aggregates(
        &self,
        sql: &str,
        input: &Schema,
        keys: &[usize],
        line: u32,
        field: &str,
    ) -> Result<(Vec<AggregateCall>, Vec<String>), JobFileError> {
        let items = expr::parse_select_list(sql).map_err(self.expr_error(line, field))?;
        let mut calls = Vec::new();
        let mut order = Vec::new();
        for (e, alias) in items {
            if let sqlparser::ast::Expr::Function(f) = &e {
                let fname = f.name.to_string().to_ascii_uppercase();
                let function = match fname.as_str() {
                    "COUNT" => AggregateFunction::Count,
                    "SUM" => AggregateFunction::Sum,
                    "MIN" => AggregateFunction::Min,
                    "MAX" => AggregateFunction::Max,
                    "AVG" => AggregateFunction::Avg,
                    _ => {
                        return Err(self.error(
                            line,
                            field,
                            format!("'{e}' is not an aggregate (COUNT, SUM, MIN, MAX, AVG) or a key column"),
                        ))
                    }
                };
                let args = expr::function_args(&f.args).map_err(self.expr_error(line, field))?;
                let argument = match (function, args.as_slice()) {
                    (AggregateFunction::Count, [None]) | (AggregateFunction::Count, []) => None,
                    (_, [Some(a)]) => {
                        let c = expr::compile(a, input).map_err(self.expr_error(line, field))?;
                        let t = c.data_type();
                        if function != AggregateFunction::Count
                            && !(is_numeric(&t)
                                || (matches!(t, DataType::Timestamp(_, _))
                                    && matches!(function, AggregateFunction::Min | AggregateFunction::Max)))
                        {
                            return Err(self.error(
                                line,
                                field,
                                format!("type mismatch: {fname} needs a number, '{a}' is {}", type_name(&t)),
                            ));
                        }
                        Some(a.to_string())
                    }
                    _ => return Err(self.error(line, field, format!("{fname} takes one argument"))),
                };
                let output_name = alias.ok_or_else(|| self.error(line, field, format!("'{e}' needs a name: write '{e} AS name'")))?;
                if order.contains(&output_name) || keys.iter().any(|&k| input.field(k).name() == &output_name) {
                    return Err(self.error(line, field, format!("column '{output_name}' appears twice")));
                }
                if matches!(output_name.as_str(), "window_start" | "window_end") {
                    return Err(self.error(line, field, format!("'{output_name}' is a window column; choose another name")));
                }
                order.push(output_name.clone());
                calls.push(AggregateCall { function, argument, output_name });
            } else {
                let name = expr::default_name(&e)
                    .ok_or_else(|| self.error(line, field, format!("'{e}' is neither a key column nor an aggregate")))?;
                let idx = input
                    .index_of(&name)
                    .map_err(|_| self.error(line, field, format!("unknown column '{name}' (columns: {})", column_names(input))))?;
                if !keys.contains(&idx) {
                    return Err(self.error(
                        line,
                        field,
                        format!("column '{name}' is not a key: select key columns (from key_by) or aggregates"),
                    ));
                }
                if alias.as_ref().is_some_and(|a| a != &name) {
                    return Err(self.error(line, field, format!("key column '{name}' cannot be renamed here; rename it with a map after")));
                }
                order.push(name);
            }
        }
        for &k in keys {
            if !order.contains(input.field(k).name()) {
                order.insert(0, input.field(k).name().clone());
            }
        }
        Ok((calls, order))
    }
}

/// The output field of an aggregate call.
pub fn agg_field(call: &AggregateCall, input: &Schema) -> Field {
    Field::new(&call.output_name, aggregate_type(call, input), true)
}

/// Result type: COUNT BIGINT, AVG DOUBLE, SUM BIGINT or DOUBLE, MIN/MAX the argument's.
pub fn aggregate_type(call: &AggregateCall, input: &Schema) -> DataType {
    let arg = call.argument.as_ref().and_then(|a| expr::compile_str(a, input).ok()).map(|e| e.data_type());
    match (call.function, arg) {
        (AggregateFunction::Count, _) => DataType::Int64,
        (AggregateFunction::Avg, _) => DataType::Float64,
        (AggregateFunction::Sum, Some(DataType::Float64)) => DataType::Float64,
        (AggregateFunction::Sum, _) => DataType::Int64,
        (_, Some(t)) => t,
        (_, None) => DataType::Int64,
    }
}
