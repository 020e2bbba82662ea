//! Column types of job files (Flink SQL's names) and their Arrow types.

use arrow::datatypes::{DataType, Schema, TimeUnit};

/// BIGINT, INT, DOUBLE, STRING, BOOLEAN, TIMESTAMP (milliseconds, no time zone).
pub fn parse_type(name: &str) -> Option<DataType> {
    Some(match name.trim().to_ascii_uppercase().as_str() {
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

/// The job-file name of an Arrow type.
pub fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int64 => "BIGINT",
        DataType::Int32 => "INT",
        DataType::Float64 => "DOUBLE",
        DataType::Utf8 => "STRING",
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(_, _) => "TIMESTAMP",
        DataType::Null => "NULL",
        _ => "UNSUPPORTED",
    }
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
