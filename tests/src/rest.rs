//! Talking to the REST API in tests: GET and POST helpers, and the comparison of an
//! answer's shape (keys and JSON types) with a real Flink answer.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// GET a JSON document; `None` when unreachable or not 2xx.
pub fn get_json(url: &str) -> Option<Value> {
    let response = http().get(url).send().ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().ok()
}

/// GET returning (status, body text) whatever the status.
pub fn get_text(url: &str) -> (u16, String) {
    let response = http().get(url).send().expect("request");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

/// GET returning (status, JSON body) whatever the status.
pub fn get_status_json(url: &str) -> (u16, Value) {
    let response = http().get(url).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

pub(crate) fn http() -> &'static reqwest::blocking::Client {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(|| reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().expect("client"))
}

/// POST a JSON body; (status, JSON answer) whatever the status.
pub fn post_status_json(url: &str, body: &Value) -> (u16, Value) {
    let response = http().post(url).json(body).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// POST raw bytes; (status, JSON answer) whatever the status.
pub fn post_bytes(url: &str, body: Vec<u8>) -> (u16, Value) {
    let response = http().post(url).header("content-type", "application/json").body(body).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// Where `ours` lacks the shape of `sample` (a real Flink answer): every key of every
/// object in `sample` must be in `ours` with the same JSON type (numbers are one type;
/// `null` in the sample matches anything), recursively; arrays compare their first
/// elements when both have one. Returns the differences as `path: what`.
pub fn shape_differences(sample: &Value, ours: &Value, path: &str) -> Vec<String> {
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    let mut out = Vec::new();
    match (sample, ours) {
        (Value::Null, _) => {}
        (Value::Object(s), Value::Object(o)) => {
            for (key, value) in s {
                match o.get(key) {
                    Some(theirs) => out.extend(shape_differences(value, theirs, &format!("{path}.{key}"))),
                    None => out.push(format!("{path}.{key}: missing (Flink: {})", kind(value))),
                }
            }
        }
        (Value::Array(s), Value::Array(o)) => {
            if let (Some(s0), Some(o0)) = (s.first(), o.first()) {
                out.extend(shape_differences(s0, o0, &format!("{path}[0]")));
            }
        }
        // Flink writes a double that is not a number as the string "NaN" (Jackson):
        // the field is a number.
        (Value::String(nan), Value::Number(_)) if ["NaN", "Infinity", "-Infinity"].contains(&nan.as_str()) => {}
        (s, o) if kind(s) != kind(o) => out.push(format!("{path}: {} (Flink: {})", kind(o), kind(s))),
        _ => {}
    }
    out
}
