//! The `datagen` source connector (planning and checking), as Flink's datagen: options
//! `number-of-rows` (total rows over all subtasks; absent = unbounded),
//! `rows-per-second` (total rate; absent = as fast as possible), `seed` (default 0) and
//! `fields`, each `{name, type, kind, ...}` with kind `random` (default; `min`/`max`
//! for numbers and timestamps, `length` for strings), `sequence` (`start`, `step`),
//! `choice` (`values`) or `now`; and an optional `watermark`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::{plan_watermark, validate_watermark, PlanContext, PlannedSource, SourceConnector};
use crate::config::values::parse_duration;
use crate::job::error::JobFileError;
use crate::job::expr;
use crate::job::graph::WatermarkStrategy;
use crate::job::limits::MAX_DATAGEN_STRING_LENGTH;
use crate::job::spec::{line_of, FieldSpec, Literal, SourceSpec, Spanned};
use crate::job::types::{is_numeric, parse_type, type_name, TYPE_NAMES};
use crate::job::validate::{invalid, list, string, InvalidJobGraph};

/// The datagen source's options in the JobGraph.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatagenSource {
    /// Total rows over all subtasks; `None` = unbounded.
    pub number_of_rows: Option<u64>,
    /// Total rate over all subtasks; `None` = as fast as possible.
    pub rows_per_second: Option<u64>,
    pub seed: u64,
    pub fields: Vec<DatagenField>,
    pub watermark: Option<WatermarkStrategy>,
}

/// How one column is generated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum DatagenField {
    /// start + row number * step (for TIMESTAMP: milliseconds).
    Sequence {
        start: i64,
        step: i64,
    },
    /// Uniform in [min, max] (integers, timestamps).
    RandomInt {
        min: i64,
        max: i64,
    },
    RandomDouble {
        min: f64,
        max: f64,
    },
    RandomString {
        length: u32,
    },
    RandomBoolean,
    Choice {
        values: Vec<String>,
    },
    /// The wall clock when the row is generated (TIMESTAMP).
    Now,
}

/// The `datagen` source connector.
pub struct Datagen;

impl SourceConnector for Datagen {
    type Options = DatagenSource;
    const NAME: &'static str = "datagen";
    const OPTIONS: &'static [&'static str] = &["number-of-rows", "rows-per-second", "seed", "fields"];

    fn plan(&self, s: &SourceSpec, cx: &PlanContext<'_>) -> Result<PlannedSource<DatagenSource>, JobFileError> {
        let mut fields = Vec::new();
        let mut gens = Vec::new();
        for (j, f) in s.fields.iter().enumerate() {
            let (field_def, g) = field(&f.value, &format!("fields[{j}]"), cx)?;
            if fields.iter().any(|x: &Field| x.name() == field_def.name()) {
                return Err(cx.error(
                    line_of(&f.value.name),
                    &format!("fields[{j}].name"),
                    format!("column '{}' appears twice", field_def.name()),
                ));
            }
            fields.push(field_def);
            gens.push(g);
        }
        if s.rows_per_second == Some(0) {
            return Err(cx.error(cx.line, "rows-per-second", "must be at least 1 (leave it out for no limit)"));
        }
        if fields.is_empty() {
            return Err(cx.error(cx.line, "fields", "datagen needs at least one field"));
        }
        let schema = Arc::new(Schema::new(fields));
        let watermark = plan_watermark(s, &schema, cx)?;
        Ok(PlannedSource {
            schema,
            event_time: watermark.as_ref().map(|w| w.column),
            options: DatagenSource {
                number_of_rows: s.number_of_rows,
                rows_per_second: s.rows_per_second,
                seed: s.seed.unwrap_or(0),
                fields: gens,
                watermark,
            },
        })
    }

    fn validate(&self, d: &DatagenSource, what: &str, outputs: usize) -> Result<(), InvalidJobGraph> {
        list(&format!("{what}'s fields"), d.fields.len())?;
        if d.fields.len() != outputs {
            return invalid(format!("{what} generates {} fields for {outputs} columns", d.fields.len()));
        }
        validate_watermark(d.watermark.as_ref(), what, outputs)?;
        for f in &d.fields {
            match f {
                DatagenField::RandomInt { min, max } if min > max => {
                    return invalid(format!("{what}: a random range with min {min} > max {max}"))
                }
                DatagenField::RandomDouble { min, max } if !(min.is_finite() && max.is_finite() && min <= max) => {
                    return invalid(format!("{what}: a random range with min {min}, max {max}"))
                }
                DatagenField::Choice { values } if values.is_empty() => return invalid(format!("{what}: a choice among no values")),
                DatagenField::RandomString { length } if *length > MAX_DATAGEN_STRING_LENGTH => {
                    return invalid(format!("{what}: a generated string of length {length}; at most {MAX_DATAGEN_STRING_LENGTH}"))
                }
                DatagenField::Choice { values } => {
                    list(&format!("{what}'s choice values"), values.len())?;
                    for v in values {
                        string(&format!("a choice value of {what}"), v)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One `fields[j]` entry: its column and how it is generated. `at` is `fields[j]`.
fn field(f: &FieldSpec, at: &str, cx: &PlanContext<'_>) -> Result<(Field, DatagenField), JobFileError> {
    let ty = parse_type(&f.ty.value).ok_or_else(|| {
        cx.error(line_of(&f.ty), &format!("{at}.type"), format!("unknown type '{}' (use one of {TYPE_NAMES})", f.ty.value))
    })?;
    let kind = f.kind.as_ref().map(|k| k.value.to_ascii_lowercase()).unwrap_or_else(|| "random".into());
    let kind_line = f.kind.as_ref().map(line_of).unwrap_or(line_of(&f.name));
    let is_ts = matches!(ty, DataType::Timestamp(_, _));
    let int = |l: &Option<Spanned<Literal>>, what: &str, default: i64| -> Result<i64, JobFileError> {
        match l {
            None => Ok(default),
            Some(s) => match (&s.value, is_ts) {
                (Literal::Int(i), _) => Ok(*i),
                (Literal::Float(x), false) => Ok(*x as i64),
                (Literal::Text(t), true) => {
                    if what == "step" {
                        parse_duration(t).map(|d| d.as_millis() as i64).map_err(|e| cx.error(line_of(s), &format!("{at}.{what}"), e))
                    } else {
                        expr::parse_timestamp_millis(t).ok_or_else(|| {
                            cx.error(line_of(s), &format!("{at}.{what}"), format!("'{t}' is not a timestamp (YYYY-MM-DD HH:MM:SS)"))
                        })
                    }
                }
                (other, _) => {
                    Err(cx.error(line_of(s), &format!("{at}.{what}"), format!("type mismatch: {other:?} for a {} field", type_name(&ty))))
                }
            },
        }
    };
    let float = |l: &Option<Spanned<Literal>>, what: &str, default: f64| -> Result<f64, JobFileError> {
        match l {
            None => Ok(default),
            Some(s) => match &s.value {
                Literal::Int(i) => Ok(*i as f64),
                Literal::Float(x) => Ok(*x),
                Literal::Text(t) => Err(cx.error(line_of(s), &format!("{at}.{what}"), format!("type mismatch: '{t}' for a DOUBLE field"))),
            },
        }
    };
    let g = match kind.as_str() {
        "sequence" => {
            if !(is_numeric(&ty) && ty != DataType::Float64 || is_ts) {
                return Err(cx.error(
                    kind_line,
                    &format!("{at}.kind"),
                    format!("a sequence must be BIGINT, INT or TIMESTAMP, not {}", type_name(&ty)),
                ));
            }
            DatagenField::Sequence { start: int(&f.start, "start", 0)?, step: int(&f.step, "step", 1)? }
        }
        "random" => match &ty {
            DataType::Int64 | DataType::Int32 | DataType::Timestamp(_, _) => {
                if is_ts && (f.min.is_none() || f.max.is_none()) {
                    return Err(cx.error(
                        kind_line,
                        &format!("{at}.kind"),
                        "a random TIMESTAMP needs min and max (or use kind sequence or now)",
                    ));
                }
                let (min, max) =
                    (int(&f.min, "min", 0)?, int(&f.max, "max", if ty == DataType::Int32 { i32::MAX as i64 } else { i64::MAX })?);
                if min > max {
                    return Err(cx.error(kind_line, &format!("{at}.min"), "min is greater than max"));
                }
                if ty == DataType::Int32 && (i32::try_from(min).is_err() || i32::try_from(max).is_err()) {
                    return Err(cx.error(kind_line, &format!("{at}.min"), "min and max of an INT field must fit in 32 bits"));
                }
                DatagenField::RandomInt { min, max }
            }
            DataType::Float64 => {
                let (min, max) = (float(&f.min, "min", 0.0)?, float(&f.max, "max", 1.0)?);
                if min > max {
                    return Err(cx.error(kind_line, &format!("{at}.min"), "min is greater than max"));
                }
                DatagenField::RandomDouble { min, max }
            }
            DataType::Utf8 => {
                let length = f.length.unwrap_or(10);
                if length > MAX_DATAGEN_STRING_LENGTH {
                    return Err(cx.error(
                        kind_line,
                        &format!("{at}.length"),
                        format!("{length} is too long; at most {MAX_DATAGEN_STRING_LENGTH}"),
                    ));
                }
                DatagenField::RandomString { length }
            }
            DataType::Boolean => DatagenField::RandomBoolean,
            _ => DatagenField::Now,
        },
        "choice" => {
            let values = f
                .values
                .clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| cx.error(kind_line, &format!("{at}.values"), "choice needs a non-empty list of values"))?;
            if ty != DataType::Utf8 {
                return Err(cx.error(kind_line, &format!("{at}.kind"), "choice fields must be STRING"));
            }
            DatagenField::Choice { values }
        }
        "now" if is_ts => DatagenField::Now,
        other => {
            return Err(cx.error(
                kind_line,
                &format!("{at}.kind"),
                format!("unknown kind '{other}' (sequence, random, choice, or now for TIMESTAMP)"),
            ))
        }
    };
    Ok((Field::new(&f.name.value, ty, true), g))
}
