//! Column types of job files (Flink SQL's names) and their Arrow types.

use std::borrow::Cow;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};

/// Nesting of ROW types a type name may have (a JobGraph is untrusted).
const MAX_ROW_DEPTH: usize = 16;

/// BIGINT, INT, DOUBLE, STRING, BOOLEAN, TIMESTAMP (milliseconds, no time zone), and
/// `ROW<name TYPE, …>` of those.
pub fn parse_type(name: &str) -> Option<DataType> {
    parse_type_at(name, 0)
}

fn parse_type_at(name: &str, depth: usize) -> Option<DataType> {
    let trimmed = name.trim();
    if trimmed.get(..4).is_some_and(|head| head.eq_ignore_ascii_case("ROW<")) && trimmed.len() > 4 && trimmed.ends_with('>') {
        if depth >= MAX_ROW_DEPTH {
            return None;
        }
        let fields = split_top_level(&trimmed[4..trimmed.len() - 1])
            .into_iter()
            .map(|f| {
                let f = f.trim();
                let (name, ty) = match f.strip_prefix('`') {
                    Some(rest) => rest.split_once('`').map(|(n, t)| (n.to_string(), t))?,
                    None => f.split_once(char::is_whitespace).map(|(n, t)| (n.to_string(), t))?,
                };
                Some(Field::new(name, parse_type_at(ty, depth + 1).or_else(|| parse_sql_type(ty))?, true))
            })
            .collect::<Option<Vec<Field>>>()?;
        return (!fields.is_empty()).then(|| DataType::Struct(Fields::from(fields)));
    }
    Some(match trimmed.to_ascii_uppercase().as_str() {
        "BIGINT" => DataType::Int64,
        "INT" | "INTEGER" => DataType::Int32,
        "DOUBLE" => DataType::Float64,
        "STRING" | "VARCHAR" => DataType::Utf8,
        "BOOLEAN" => DataType::Boolean,
        "TIMESTAMP" | "TIMESTAMP(3)" => DataType::Timestamp(TimeUnit::Millisecond, None),
        _ => return None,
    })
}

/// A Flink SQL type name with its parameters (`DECIMAL(10, 2)`, `VARCHAR(20)`,
/// `TIMESTAMP(3) WITHOUT TIME ZONE`) as the Arrow type Rask computes it in: integers up
/// to INT are INT, FLOAT and DECIMAL are DOUBLE, CHAR and VARCHAR are STRING, every
/// TIMESTAMP is milliseconds.
pub fn parse_sql_type(text: &str) -> Option<DataType> {
    let upper = text.trim().to_ascii_uppercase();
    let family = upper.split(|c: char| c == '(' || c.is_whitespace()).next().unwrap_or("");
    Some(match family {
        "TINYINT" | "SMALLINT" | "INT" | "INTEGER" => DataType::Int32,
        "BIGINT" => DataType::Int64,
        "FLOAT" | "REAL" | "DECIMAL" | "DEC" | "NUMERIC" | "DOUBLE" => DataType::Float64,
        "STRING" | "VARCHAR" | "CHAR" | "TEXT" => DataType::Utf8,
        "BOOLEAN" => DataType::Boolean,
        "TIMESTAMP" | "TIMESTAMP_LTZ" => timestamp_type(),
        _ => return None,
    })
}

/// `a, ROW<b INT, c INT>, d` split at its top-level commas.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The job-file name of an Arrow type (`ROW<name TYPE, …>` for a row).
pub fn type_name(t: &DataType) -> Cow<'static, str> {
    if let DataType::Struct(fields) = t {
        let inner: Vec<String> = fields.iter().map(|f| format!("`{}` {}", f.name().replace('`', ""), type_name(f.data_type()))).collect();
        return Cow::Owned(format!("ROW<{}>", inner.join(", ")));
    }
    Cow::Borrowed(match t {
        DataType::Int64 => "BIGINT",
        DataType::Int32 => "INT",
        DataType::Float64 => "DOUBLE",
        DataType::Utf8 => "STRING",
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(_, _) => "TIMESTAMP",
        DataType::Null => "NULL",
        _ => "UNSUPPORTED",
    })
}

pub const TYPE_NAMES: &str = "BIGINT, INT, DOUBLE, STRING, BOOLEAN, TIMESTAMP";

pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

pub fn is_numeric(t: &DataType) -> bool {
    matches!(t, DataType::Int64 | DataType::Int32 | DataType::Float64)
}

/// A schema's column names, as "a, b, c" (for messages).
pub fn column_names(schema: &Schema) -> String {
    schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_types_round_trip_and_odd_text_is_no_type() {
        let row = parse_type("ROW<`id` BIGINT, inner ROW<`a` STRING, b TIMESTAMP>>").expect("a ROW");
        assert_eq!(parse_type(&type_name(&row)), Some(row));
        for text in ["ROW<>", "ROW<id>", "ROé<a INT>", "é", "ROW<a ROW<b INT>", "ROW<a INT,>", ""] {
            assert_eq!(parse_type(text), None, "{text}");
        }
    }
}
