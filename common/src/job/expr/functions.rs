//! Flink SQL's scalar functions beyond arithmetic and comparison, compiled from their
//! `sqlparser` forms and evaluated with Arrow's kernels: time (`TIMESTAMPADD`,
//! `ts ± INTERVAL`, `EXTRACT`, `DATE_FORMAT` with Java's patterns, `TO_TIMESTAMP`),
//! strings (`LIKE`, `SUBSTRING`/`SUBSTR`), `MOD` and `COALESCE`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringBuilder, TimestampMillisecondArray};
use arrow::compute::kernels::temporal::{date_part, DatePart};
use arrow::compute::{cast, kernels::zip};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqlparser::ast;

use super::{err, ExprError, Func};
use crate::job::types::{timestamp_type, type_name};

/// Milliseconds of `INTERVAL 'n' unit` (SECOND, MINUTE, HOUR, DAY, MILLISECOND).
pub fn interval_ms(e: &ast::Expr) -> Result<i64, String> {
    let ast::Expr::Interval(i) = e else {
        return Err(format!("expected an interval such as INTERVAL '5' SECOND, found {e}"));
    };
    let text = match i.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            ast::Value::Number(n, _) => n.clone(),
            other => return Err(format!("an interval's value is a number, found {other}")),
        },
        other => return Err(format!("an interval's value is a number, found {other}")),
    };
    let n: i64 = text.trim().parse().map_err(|_| format!("'{text}' is not a whole number of the interval's unit"))?;
    let unit = i.leading_field.as_ref().map(|f| f.to_string()).ok_or("an interval needs a unit: INTERVAL '5' SECOND")?;
    let ms = unit_ms(&unit)?;
    n.checked_mul(ms).ok_or_else(|| format!("interval {n} {unit} is out of range"))
}

/// Milliseconds in one `unit`.
fn unit_ms(unit: &str) -> Result<i64, String> {
    Ok(match unit.to_ascii_uppercase().trim_end_matches('S') {
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        "WEEK" => 7 * 86_400_000,
        other => return Err(format!("time unit {other} is not supported (MILLISECOND, SECOND, MINUTE, HOUR, DAY, WEEK)")),
    })
}

/// The date part `EXTRACT(part FROM ts)` reads.
pub fn date_part_of(field: &str) -> Result<u8, ExprError> {
    Ok(match field.to_ascii_uppercase().as_str() {
        "YEAR" => 0,
        "QUARTER" => 1,
        "MONTH" => 2,
        "WEEK" => 3,
        "DAY" => 4,
        "DOW" => 5,
        "DOY" => 6,
        "HOUR" => 7,
        "MINUTE" => 8,
        "SECOND" => 9,
        "MILLISECOND" => 10,
        other => {
            return err(format!(
                "EXTRACT({other} …) is not supported (YEAR, QUARTER, MONTH, WEEK, DAY, DOW, DOY, HOUR, MINUTE, SECOND, MILLISECOND)"
            ))
        }
    })
}

fn date_part_kind(code: u8) -> DatePart {
    match code {
        0 => DatePart::Year,
        1 => DatePart::Quarter,
        2 => DatePart::Month,
        3 => DatePart::Week,
        4 => DatePart::Day,
        // Flink's DOW is 1 (Sunday) to 7.
        5 => DatePart::DayOfWeekSunday0,
        6 => DatePart::DayOfYear,
        7 => DatePart::Hour,
        8 => DatePart::Minute,
        9 => DatePart::Second,
        _ => DatePart::Millisecond,
    }
}

/// A Java date pattern (`yyyy-MM-dd HH:mm:ss.SSS`) as a chrono format.
pub fn java_pattern(pattern: &str) -> Result<String, ExprError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if c == '\'' {
            // 'literal text' ('' is a quote).
            let end = chars[i + 1..].iter().position(|&x| x == '\'').map(|p| i + 1 + p).unwrap_or(chars.len());
            if end == i + 1 {
                out.push('\'');
            }
            for &x in &chars[i + 1..end] {
                if x == '%' {
                    out.push_str("%%");
                } else {
                    out.push(x);
                }
            }
            i = end + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let spec = match (c, run) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', _) => "%3f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('D', _) => "%j",
            _ => return err(format!("pattern letter '{c}' in '{pattern}' is not supported")),
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

/// Evaluates one of this module's functions over evaluated argument arrays.
pub fn evaluate(func: &Func, arrays: &[ArrayRef]) -> Result<ArrayRef, ArrowError> {
    Ok(match func {
        Func::TimestampAdd(unit_ms) => {
            let n = cast(&arrays[0], &DataType::Int64)?;
            let n = n.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
            let ts = cast(&arrays[1], &timestamp_type())?;
            let ts = ts.as_any().downcast_ref::<TimestampMillisecondArray>().expect("cast to timestamp");
            let out: TimestampMillisecondArray =
                ts.iter().zip(n.iter()).map(|(t, n)| Some(t?.saturating_add(n?.saturating_mul(*unit_ms)))).collect();
            Arc::new(out)
        }
        Func::Extract(code) => cast(&date_part(arrays[0].as_ref(), date_part_kind(*code))?, &DataType::Int64)?,
        Func::DateFormat(format) => {
            let ts = cast(&arrays[0], &timestamp_type())?;
            let options = FormatOptions::default().with_timestamp_format(Some(format.as_str()));
            let formatter = ArrayFormatter::try_new(ts.as_ref(), &options)?;
            let mut b = StringBuilder::with_capacity(ts.len(), ts.len() * format.len());
            for i in 0..ts.len() {
                if ts.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(formatter.value(i).to_string());
                }
            }
            Arc::new(b.finish())
        }
        Func::ToTimestamp => cast(&arrays[0], &timestamp_type())?,
        Func::Substring { start, length } => {
            let s = arrays[0]
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| ArrowError::CastError("expected STRING".into()))?;
            Arc::new(arrow::compute::kernels::substring::substring_by_char(s, *start, *length)?)
        }
        Func::Coalesce => {
            let mut result = arrays[arrays.len() - 1].clone();
            for a in arrays[..arrays.len() - 1].iter().rev() {
                let present = arrow::compute::is_not_null(a)?;
                result = zip::zip(&present, a, &result)?;
            }
            result
        }
        other => return Err(ArrowError::InvalidArgumentError(format!("{other:?} is not evaluated here"))),
    })
}

/// Checks an argument is a TIMESTAMP.
pub fn want_timestamp(t: &DataType, what: &str) -> Result<(), ExprError> {
    match t {
        DataType::Timestamp(_, _) | DataType::Null => Ok(()),
        other => err(format!("type mismatch: {what} needs a TIMESTAMP, got {}", type_name(other))),
    }
}

/// TIMESTAMPADD's unit (its first argument, a bare word) in milliseconds.
pub fn timestampadd_unit(e: &ast::Expr) -> Result<i64, ExprError> {
    let word = match e {
        ast::Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    };
    unit_ms(&word).map_err(ExprError)
}
