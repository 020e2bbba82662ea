//! SQL tables as sources and sinks: a table's `WITH` options, named as Flink's
//! connectors name them (`datagen`, `filesystem`, `print`, `blackhole`, `socket`), are
//! checked here and handed to Rask's connector of the same kind through the registry;
//! computed columns become a projection after the source, and a `WATERMARK` on one of
//! them a watermark assigner after that. An INSERT's rows are cast to the table's
//! column types and names, as Flink's implicit casts do.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use serde_saphyr::Location;
use sqlparser::ast;

use super::{quote, Lowering, Stream};
use crate::job::connectors::{self, print::PrintRows, PlanContext};
use crate::job::error::JobFileError;
use crate::job::expr;
use crate::job::graph::{OperatorKind, WatermarkStrategy, ROW_KIND_COLUMN};
use crate::job::spec::{FieldSpec, Literal, SinkSpec, SourceSpec, Spanned, WatermarkSpec};
use crate::job::sql::ddl::{ColumnKind, CreateTable, TableOption};
use crate::job::types::{is_numeric, type_name};

/// A value in a spec, without a YAML position (SQL positions are kept separately).
fn sp<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

/// Options every table of a connector may set besides its own.
const COMMON: &[&str] = &["connector"];

/// The `fields.<column>.<option>` options of datagen.
const DATAGEN_FIELD_OPTIONS: &[&str] = &["kind", "min", "max", "length", "start", "end", "max-past", "null-rate"];

/// The options each connector takes in `WITH`; `fields.` options are checked by
/// datagen itself.
fn allowed(connector: &str) -> Option<&'static [&'static str]> {
    Some(match connector {
        "datagen" => &["number-of-rows", "rows-per-second", "scan.parallelism", "seed"],
        "filesystem" => &["path", "format", "sink.parallelism", "scan.parallelism"],
        "print" => &["print-identifier", "standard-error", "sink.parallelism"],
        "blackhole" => &["sink.parallelism"],
        "socket" => &["hostname", "port", "format", "byte-delimiter", "scan.parallelism"],
        "nexmark" => &[
            "events.num",
            "first-event.rate",
            "next-event.rate",
            "rate.shape",
            "rate.period",
            "rate.limited",
            "person.proportion",
            "auction.proportion",
            "bid.proportion",
            "base-time",
            "scan.parallelism",
        ],
        _ => return None,
    })
}

impl Lowering<'_> {
    /// The table's `connector` option, checked against the known ones and its options
    /// against the connector's.
    fn connector<'t>(&self, t: &'t CreateTable) -> Result<(&'t str, &'static [&'static str]), JobFileError> {
        let c = t.option("connector").ok_or_else(|| {
            self.error(
                t.at,
                format!("table '{}' has no 'connector' option (datagen, filesystem, print, blackhole, socket or nexmark)", t.name),
            )
        })?;
        let allowed = allowed(&c.value).ok_or_else(|| {
            self.error(
                c.at,
                format!("table '{}': unknown connector '{}' (datagen, filesystem, print, blackhole, socket or nexmark)", t.name, c.value),
            )
        })?;
        for o in &t.options {
            let own = COMMON.contains(&o.key.as_str()) || allowed.contains(&o.key.as_str());
            let field_option = c.value == "datagen"
                && o.key.starts_with("fields.")
                && o.key.rsplit_once('.').is_some_and(|(_, k)| DATAGEN_FIELD_OPTIONS.contains(&k));
            if !own && !field_option {
                let mut supported: Vec<&str> = COMMON.iter().chain(allowed.iter()).copied().collect();
                if c.value == "datagen" {
                    supported.push("fields.<column>.kind/min/max/length/start/end/max-past/null-rate");
                }
                return Err(self.error(
                    o.at,
                    format!("unsupported option '{}' for connector '{}' (supported: {})", o.key, c.value, supported.join(", ")),
                ));
            }
        }
        Ok((c.value.as_str(), allowed))
    }

    fn parallelism_option(&self, option: Option<&TableOption>) -> Result<Option<u32>, JobFileError> {
        option
            .map(|o| {
                o.value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|&p| p >= 1 && p <= self.planner.max_p)
                    .ok_or_else(|| self.error(o.at, format!("'{}' must be between 1 and max-parallelism ({})", o.key, self.planner.max_p)))
            })
            .transpose()
    }

    /// A path option: `file://` stripped, relative to the script's directory.
    fn path_option(&self, t: &CreateTable) -> Result<Spanned<String>, JobFileError> {
        let o = t.option("path").ok_or_else(|| self.error(t.at, format!("table '{}' needs a 'path' option", t.name)))?;
        let path = o.value.strip_prefix("file://").unwrap_or(&o.value);
        if path.contains("://") {
            return Err(self.error(o.at, format!("'{}': only local paths (or file://) are supported", o.value)));
        }
        Ok(sp(path.to_string()))
    }

    fn format_option(&self, t: &CreateTable, what: &str) -> Result<Spanned<String>, JobFileError> {
        let o = t.option("format").ok_or_else(|| self.error(t.at, format!("table '{}' needs a 'format' option ({what})", t.name)))?;
        Ok(sp(o.value.to_ascii_lowercase()))
    }

    /// Reads table `t`: its source, computed columns and watermark.
    pub(super) fn scan(&mut self, t: &CreateTable) -> Result<Stream, JobFileError> {
        let (connector, _) = self.connector(t)?;
        let physical: Vec<(&str, &DataType)> = t
            .columns
            .iter()
            .filter_map(|c| match &c.kind {
                ColumnKind::Physical(ty) => Some((c.name.as_str(), ty)),
                ColumnKind::Computed(_) => None,
            })
            .collect();
        let computed = physical.len() != t.columns.len();
        let watermark = t.watermark.as_ref().map(|w| self.watermark(t, w)).transpose()?;
        let on_source = watermark.as_ref().filter(|_| !computed);
        let mut spec = SourceSpec {
            name: sp(t.name.clone()),
            connector: sp(String::new()),
            parallelism: None,
            uid: None,
            fields: Vec::new(),
            number_of_rows: None,
            rows_per_second: None,
            seed: None,
            path: None,
            format: None,
            header: None,
            host: None,
            port: None,
            watermark: on_source.map(|(column, delay)| {
                sp(WatermarkSpec { column: sp(column.clone()), max_out_of_orderness: Some(sp(format!("{delay} ms"))) })
            }),
        };
        let field = |name: &str, ty: &DataType| FieldSpec {
            name: sp(name.to_string()),
            ty: sp(type_name(ty).to_string()),
            kind: None,
            start: None,
            end: None,
            step: None,
            min: None,
            max: None,
            values: None,
            length: None,
        };
        let mut parallelism = self.parallelism_option(t.option("scan.parallelism"))?;
        match connector {
            "datagen" => {
                spec.connector = sp("datagen".into());
                spec.rows_per_second = Some(self.u64_option(t, "rows-per-second")?.unwrap_or(10_000));
                spec.number_of_rows = self.u64_option(t, "number-of-rows")?;
                spec.seed = self.u64_option(t, "seed")?;
                for (name, ty) in &physical {
                    let (f, rows) = self.datagen_field(t, field(name, ty), ty)?;
                    if let Some(rows) = rows {
                        spec.number_of_rows = Some(spec.number_of_rows.map_or(rows, |n| n.min(rows)));
                    }
                    spec.fields.push(sp(f));
                }
                for o in t.options.iter().filter(|o| o.key.starts_with("fields.")) {
                    let column = o.key["fields.".len()..].rsplit_once('.').map(|(c, _)| c).unwrap_or("");
                    if !physical.iter().any(|(n, _)| *n == column) {
                        return Err(self.error(o.at, format!("option '{}' names no physical column of '{}'", o.key, t.name)));
                    }
                }
            }
            "filesystem" => {
                spec.connector = sp("file".into());
                spec.path = Some(self.path_option(t)?);
                let format = self.format_option(t, "csv or json")?;
                if !matches!(format.value.as_str(), "csv" | "json") {
                    return Err(
                        self.error(t.option("format").expect("read").at, format!("unknown format '{}' (csv or json)", format.value))
                    );
                }
                spec.format = Some(format);
                spec.header = Some(false);
                spec.fields = physical.iter().map(|(n, ty)| sp(field(n, ty))).collect();
            }
            "socket" => {
                spec.connector = sp("socket".into());
                spec.host = t.option("hostname").map(|o| o.value.clone());
                let port = t.option("port").ok_or_else(|| self.error(t.at, "a socket table needs a 'port'"))?;
                spec.port = Some(sp(port
                    .value
                    .parse::<u16>()
                    .map_err(|_| self.error(port.at, format!("port '{}' is not a port number", port.value)))?));
                if physical.len() != 1 || physical[0].1 != &DataType::Utf8 {
                    return Err(self.error(t.at, "a socket table has one STRING column: each line read"));
                }
                if t.option("format").is_some_and(|f| f.value != "raw") {
                    return Err(self.error(t.option("format").expect("read").at, "a socket table reads lines: 'format' = 'raw'"));
                }
                parallelism = Some(1);
            }
            "nexmark" => spec.connector = sp("nexmark".into()),
            other => return Err(self.error(t.at, format!("connector '{other}' writes; it cannot be read (it is a sink)"))),
        }
        let source = connectors::source(&spec.connector.value).map_err(|e| self.error(t.at, e.to_string()))?;
        let cx = PlanContext { file: &self.planner.file, base: &self.planner.base, field: &t.name, line: 0 };
        let mut planned = source.plan(&spec, &cx).map_err(|e| self.error(t.at, format!("table '{}': {}", t.name, e.message)))?;
        if connector == "nexmark" {
            planned.options = self.nexmark_options(t, &physical, &planned.schema)?;
            if watermark.is_some() && !computed {
                return Err(self.error(t.at, "a nexmark table's event time is a computed column (dateTime AS CASE … END)"));
            }
        }
        let mut schema = planned.schema;
        if connector == "socket" {
            // The socket source names its column `line`; the table names it.
            schema = Arc::new(Schema::new(vec![Field::new(physical[0].0, DataType::Utf8, true)]));
        }
        let p = parallelism.unwrap_or(self.default_p);
        let mut node = self.node(
            &format!("Source: {}", t.name),
            vec![],
            OperatorKind::Source { connector: source.name().to_string(), options: planned.options },
            schema.clone(),
            p,
            None,
            planned.event_time,
        )?;
        if computed {
            let mut expressions = Vec::new();
            let mut fields = Vec::new();
            for c in &t.columns {
                let (text, ty) = match &c.kind {
                    ColumnKind::Physical(ty) => (quote(&c.name), ty.clone()),
                    ColumnKind::Computed(e) => {
                        let compiled = expr::compile(e, &schema)
                            .map_err(|err| self.error(self.at(e.as_ref()), format!("computed column '{}': {}", c.name, err.0)))?;
                        (e.to_string(), compiled.data_type())
                    }
                };
                expressions.push(text);
                fields.push(Field::new(&c.name, ty, true));
            }
            let out = Arc::new(Schema::new(fields));
            node = self.node("Calc", vec![node], OperatorKind::Map { expressions }, out, p, None, None)?;
        }
        if let (Some((column, delay)), true) = (&watermark, computed) {
            let out = self.planner.nodes[node].schema.clone();
            let index = out.index_of(column).expect("checked by watermark()");
            let strategy = WatermarkStrategy { column: index, max_out_of_orderness_ms: *delay };
            node = self.node("WatermarkAssigner", vec![node], OperatorKind::WatermarkAssigner { strategy }, out, p, None, Some(index))?;
        }
        Ok(Stream { node, updating: false, window: None })
    }

    /// A nexmark table: its columns must be Flink's nexmark DDL's; its options Flink's.
    fn nexmark_options(&self, t: &CreateTable, physical: &[(&str, &DataType)], schema: &Schema) -> Result<serde_json::Value, JobFileError> {
        let expected: Vec<(&str, &DataType)> = schema.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
        if physical != expected.as_slice() {
            return Err(self.error(
                t.at,
                format!(
                    "a nexmark table has the columns of Flink's nexmark DDL: {}",
                    expected.iter().map(|(n, ty)| format!("{n} {}", type_name(ty))).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let mut o = connectors::nexmark::NexmarkOptions::default();
        let positive = |key: &str, default: u64| -> Result<u64, JobFileError> {
            match self.u64_option(t, key)? {
                Some(0) => Err(self.error(t.option(key).expect("read").at, format!("'{key}' must be at least 1"))),
                Some(v) => Ok(v),
                None => Ok(default),
            }
        };
        o.events_num = self.u64_option(t, "events.num")?.filter(|&n| n > 0);
        o.first_event_rate = positive("first-event.rate", o.first_event_rate)?;
        o.next_event_rate = positive("next-event.rate", o.first_event_rate)?;
        o.rate_period = positive("rate.period", o.rate_period)?;
        o.person_proportion = positive("person.proportion", o.person_proportion)?;
        o.auction_proportion = positive("auction.proportion", o.auction_proportion)?;
        o.bid_proportion = positive("bid.proportion", o.bid_proportion)?;
        o.base_time = self.u64_option(t, "base-time")?.unwrap_or(o.base_time);
        if let Some(shape) = t.option("rate.shape") {
            o.sine = match shape.value.to_ascii_lowercase().as_str() {
                "sine" => true,
                "square" => false,
                other => return Err(self.error(shape.at, format!("unknown rate.shape '{other}' (square or sine)"))),
            };
        }
        if let Some(limited) = t.option("rate.limited") {
            o.rate_limited = limited
                .value
                .parse::<bool>()
                .map_err(|_| self.error(limited.at, format!("'rate.limited' = '{}' is not true or false", limited.value)))?;
        }
        Ok(serde_json::to_value(o).expect("plain struct"))
    }

    fn u64_option(&self, t: &CreateTable, key: &str) -> Result<Option<u64>, JobFileError> {
        t.option(key)
            .map(|o| o.value.trim().parse::<u64>().map_err(|_| self.error(o.at, format!("'{key}' = '{}' is not a whole number", o.value))))
            .transpose()
    }

    /// A datagen column from its `fields.<name>.*` options; with a bounded sequence,
    /// the rows it allows.
    fn datagen_field(&self, t: &CreateTable, mut f: FieldSpec, ty: &DataType) -> Result<(FieldSpec, Option<u64>), JobFileError> {
        let name = f.name.value.clone();
        let get = |key: &str| t.option(&format!("fields.{name}.{key}"));
        let literal = |o: &TableOption| -> Result<Spanned<Literal>, JobFileError> {
            let v = o.value.trim();
            let lit = if let Ok(i) = v.parse::<i64>() {
                Literal::Int(i)
            } else if let (Ok(x), true) = (v.parse::<f64>(), is_numeric(ty)) {
                Literal::Float(x)
            } else if is_numeric(ty) {
                return Err(self.error(o.at, format!("'{}' = '{}' is not a number", o.key, o.value)));
            } else {
                Literal::Text(v.to_string())
            };
            Ok(sp(lit))
        };
        if let Some(rate) = get("null-rate") {
            if rate.value.trim().parse::<f64>().ok() != Some(0.0) {
                return Err(self.error(rate.at, "null-rate other than 0 is not supported"));
            }
        }
        let kind = get("kind").map(|k| k.value.to_ascii_lowercase()).unwrap_or_else(|| "random".into());
        let mut rows = None;
        match kind.as_str() {
            "sequence" => {
                let (start, end) = match (get("start"), get("end")) {
                    (Some(s), Some(e)) => (s, e),
                    _ => {
                        return Err(
                            self.error(t.at, format!("the sequence of '{name}' needs 'fields.{name}.start' and 'fields.{name}.end'"))
                        )
                    }
                };
                f.kind = Some(sp("sequence".into()));
                f.start = Some(literal(start)?);
                let (s, e) = (start.value.trim().parse::<i64>(), end.value.trim().parse::<i64>());
                match (s, e) {
                    (Ok(s), Ok(e)) if e >= s => rows = Some((e - s) as u64 + 1),
                    _ => return Err(self.error(end.at, format!("the sequence of '{name}' needs whole numbers with start <= end"))),
                }
            }
            "random" => {
                f.kind = Some(sp("random".into()));
                let timestamp = matches!(ty, DataType::Timestamp(_, _));
                if timestamp && get("min").is_none() && get("max").is_none() {
                    // Flink's random timestamp is "now minus up to max-past"; Rask's is now.
                    f.kind = Some(sp("now".into()));
                } else {
                    f.min = get("min").map(literal).transpose()?;
                    f.max = get("max").map(literal).transpose()?;
                }
                if let Some(l) = get("length") {
                    f.length = Some(l.value.trim().parse::<u32>().map_err(|_| self.error(l.at, format!("'{}' is not a length", l.value)))?);
                }
            }
            other => {
                let at = get("kind").map(|k| k.at).unwrap_or(t.at);
                return Err(self.error(at, format!("unknown datagen kind '{other}' for '{name}' (random or sequence)")));
            }
        }
        Ok((f, rows))
    }

    /// `WATERMARK FOR col AS col [- INTERVAL 'n' unit]`: the column and the delay.
    fn watermark(&self, t: &CreateTable, w: &crate::job::sql::ddl::WatermarkDef) -> Result<(String, i64), JobFileError> {
        let column = t
            .columns
            .iter()
            .find(|c| c.name == w.column)
            .ok_or_else(|| self.error(w.at, format!("the watermark names column '{}', which '{}' does not have", w.column, t.name)))?;
        if let ColumnKind::Physical(ty) = &column.kind {
            if !matches!(ty, DataType::Timestamp(_, _)) {
                return Err(self.error(w.at, format!("the watermark column '{}' must be a TIMESTAMP, not {}", w.column, type_name(ty))));
            }
        }
        let is_column = |e: &ast::Expr| matches!(e, ast::Expr::Identifier(i) if i.value == w.column);
        let delay = match &w.expr {
            e if is_column(e) => 0,
            ast::Expr::BinaryOp { left, op: ast::BinaryOperator::Minus, right } if is_column(left) => {
                super::query::interval_ms(right).map_err(|m| self.error(self.at(right.as_ref()), m))?
            }
            other => {
                return Err(self.error(
                    self.at(other),
                    format!("a watermark is `{0}` or `{0} - INTERVAL 'n' SECOND` (bounded out-of-orderness)", w.column),
                ))
            }
        };
        Ok((w.column.clone(), delay))
    }

    /// INSERT INTO `table` the rows of `stream`.
    pub(super) fn insert(&mut self, table: &str, stream: Stream) -> Result<(), JobFileError> {
        let at = self.statement.at;
        let t = match self.lookup(table, at)? {
            super::Source::Table(t) => t,
            super::Source::Query(_) => return Err(self.error(at, format!("'{table}' is a view; INSERT INTO needs a table"))),
        };
        let (connector, _) = self.connector(t)?;
        let columns: Vec<(&str, &DataType)> = t
            .columns
            .iter()
            .filter_map(|c| match &c.kind {
                ColumnKind::Physical(ty) => Some((c.name.as_str(), ty)),
                ColumnKind::Computed(_) => None,
            })
            .collect();
        let stream = self.conform(stream, &columns, table)?;
        let mut spec = SinkSpec {
            name: sp(t.name.clone()),
            connector: sp(String::new()),
            input: None,
            parallelism: None,
            uid: None,
            path: None,
            format: None,
            partition: None,
            rows_per_second: None,
        };
        let print_rows = match connector {
            "print" => {
                if t.option("standard-error").is_some_and(|o| o.value.eq_ignore_ascii_case("true")) {
                    return Err(self.error(t.option("standard-error").expect("read").at, "printing to standard error is not supported"));
                }
                spec.connector = sp("print".into());
                Some(PrintRows { identifier: t.option("print-identifier").map(|o| o.value.clone()), row_kind: stream.updating })
            }
            "blackhole" => {
                spec.connector = sp("blackhole".into());
                None
            }
            "filesystem" => {
                if stream.updating {
                    return Err(self.error(
                        at,
                        format!("table sink '{table}' (filesystem) does not support consuming update changes, which the query's GROUP BY produces (use a window aggregation, or a print or blackhole table)"),
                    ));
                }
                spec.connector = sp("file".into());
                spec.path = Some(self.path_option(t)?);
                let format = self.format_option(t, "csv or json")?;
                if !matches!(format.value.as_str(), "csv" | "json") {
                    return Err(
                        self.error(t.option("format").expect("read").at, format!("unknown format '{}' (csv or json)", format.value))
                    );
                }
                spec.format = Some(format);
                None
            }
            other => return Err(self.error(at, format!("connector '{other}' reads; it cannot be written (it is a source)"))),
        };
        let sink = connectors::sink(&spec.connector.value).map_err(|e| self.error(at, e.to_string()))?;
        let schema = self.schema(&stream);
        let cx = PlanContext { file: &self.planner.file, base: &self.planner.base, field: &t.name, line: 0 };
        let mut options = sink.plan(&spec, &schema, &cx).map_err(|e| self.error(t.at, format!("table '{}': {}", t.name, e.message)))?;
        if let Some(rows) = print_rows {
            options = serde_json::to_value(connectors::print::PrintOptions { rows: Some(rows) }).expect("plain struct");
        }
        let p = self.parallelism_option(t.option("sink.parallelism"))?.unwrap_or(self.planner.nodes[stream.node].parallelism);
        self.node(
            &format!("Sink: {}", t.name),
            vec![stream.node],
            OperatorKind::Sink { connector: sink.name().to_string(), options },
            Arc::new(Schema::empty()),
            p,
            None,
            None,
        )?;
        Ok(())
    }

    /// A query on its own: its rows printed as Flink's SQL client shows them.
    pub(super) fn collect(&mut self, stream: Stream) -> Result<(), JobFileError> {
        let stream = self.require_rows(stream)?;
        let options =
            serde_json::to_value(connectors::print::PrintOptions { rows: Some(PrintRows { identifier: None, row_kind: stream.updating }) })
                .expect("plain struct");
        let p = self.planner.nodes[stream.node].parallelism;
        self.node(
            "Sink: collect",
            vec![stream.node],
            OperatorKind::Sink { connector: "print".into(), options },
            Arc::new(Schema::empty()),
            p,
            None,
            None,
        )?;
        Ok(())
    }

    /// Casts and renames the query's columns to the sink table's (by position).
    fn conform(&mut self, stream: Stream, columns: &[(&str, &DataType)], table: &str) -> Result<Stream, JobFileError> {
        let stream = self.require_rows(stream)?;
        let schema = self.schema(&stream);
        let offset = usize::from(stream.updating);
        let got: Vec<&Field> = schema.fields().iter().skip(offset).map(|f| f.as_ref()).collect();
        let at = self.statement.at;
        if got.len() != columns.len() {
            return Err(self.error(
                at,
                format!(
                    "column types of query result and sink for '{table}' do not match: the query has {} columns ({}), the table {} ({})",
                    got.len(),
                    got.iter().map(|f| format!("{} {}", f.name(), type_name(f.data_type()))).collect::<Vec<_>>().join(", "),
                    columns.len(),
                    columns.iter().map(|(n, ty)| format!("{n} {}", type_name(ty))).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let same = got.iter().zip(columns).all(|(f, (n, ty))| f.name() == n && f.data_type() == *ty);
        if same {
            return Ok(stream);
        }
        let mut expressions = Vec::new();
        let mut fields = Vec::new();
        if stream.updating {
            expressions.push(quote(ROW_KIND_COLUMN));
            fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int32, false));
        }
        for (f, (name, ty)) in got.iter().zip(columns) {
            let compatible = f.data_type() == *ty
                || f.data_type() == &DataType::Null
                || (is_numeric(f.data_type()) && is_numeric(ty))
                || **ty == DataType::Utf8;
            if !compatible {
                return Err(self.error(
                    at,
                    format!(
                        "column types of query result and sink for '{table}' do not match: column '{}' is {}, the table's '{name}' is {}",
                        f.name(),
                        type_name(f.data_type()),
                        type_name(ty)
                    ),
                ));
            }
            expressions.push(if f.data_type() == *ty {
                quote(f.name())
            } else {
                format!("CAST({} AS {})", quote(f.name()), type_name(ty))
            });
            fields.push(Field::new(*name, (*ty).clone(), true));
        }
        let rowtime =
            self.rowtime(&stream).and_then(|rt| (rt >= offset && columns[rt - offset].1 == schema.field(rt).data_type()).then_some(rt));
        let out = Arc::new(Schema::new(fields));
        // A projection just made for this query takes the casts and names itself.
        let node = &mut self.planner.nodes[stream.node];
        if let (OperatorKind::Map { expressions: own }, 1) = (&mut node.descriptor.kind, node.inputs.len()) {
            for (i, e) in own.iter_mut().enumerate().skip(offset) {
                if out.field(i).data_type() != schema.field(i).data_type() {
                    *e = format!("CAST(({e}) AS {})", type_name(out.field(i).data_type()));
                }
            }
            node.descriptor.output = crate::job::graph::Columns::from_schema(&out);
            node.schema = out;
            node.rowtime = rowtime;
            return Ok(stream);
        }
        let p = node.parallelism;
        let node = self.node("Calc", vec![stream.node], OperatorKind::Map { expressions }, out, p, None, rowtime)?;
        Ok(Stream { node, ..stream })
    }

    /// A stream of rows (not a window table function waiting for its GROUP BY).
    pub(super) fn require_rows(&self, stream: Stream) -> Result<Stream, JobFileError> {
        if stream.window.is_some() {
            return Err(self
                .error(self.statement.at, "a window table function (TUMBLE, HOP) must be aggregated: GROUP BY window_start, window_end"));
        }
        Ok(stream)
    }
}
