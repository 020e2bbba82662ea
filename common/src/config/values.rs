//! Parsers for configuration value types, with Flink's syntax: durations (`10000`
//! meaning milliseconds, or `10 s`, `500ms`, `1min`) and memory sizes (`1g`, `512m`,
//! `1024 kb`, plain bytes).

use std::time::Duration;

/// Parses a duration: a bare integer is milliseconds (Flink's convention for
/// `heartbeat.*`), otherwise a number followed by a unit (ms, s, min, h, d).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err("must not be negative".into());
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err("expected a duration such as 10000 (ms), 500ms, 10s or 1min".into());
    }
    let n: u64 = digits.parse().map_err(|_| "number out of range".to_string())?;
    let ms_per_unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        other => return Err(format!("unknown time unit '{other}' (use ms, s, min, h or d)")),
    };
    n.checked_mul(ms_per_unit).map(Duration::from_millis).ok_or_else(|| "duration out of range".to_string())
}

/// Parses a boolean: `true` or `false` (case-insensitive), as Flink.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// Parses a memory size in bytes: a number with an optional unit b, k/kb, m/mb,
/// g/gb, t/tb (powers of 1024, case-insensitive).
pub fn parse_memory_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err("must not be negative".into());
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err("expected a memory size such as 512m, 1g or 1073741824".into());
    }
    let n: u64 = digits.parse().map_err(|_| "number out of range".to_string())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        other => return Err(format!("unknown memory unit '{other}' (use b, k, m, g or t)")),
    };
    match n.checked_mul(1u64 << shift) {
        Some(0) => Err("must be greater than 0".into()),
        Some(v) => Ok(v),
        None => Err("memory size out of range".into()),
    }
}

/// Parses a TCP port, 0 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    text.trim().parse::<u16>().map_err(|_| "expected a port number from 0 to 65535".to_string())
}

/// Parses a multiplier: a number of at least 1.0.
pub fn parse_multiplier(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err("expected a number of at least 1.0".into()),
    }
}

/// Parses a whole number of at least 1.
pub fn parse_positive_int(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) | Err(_) => Err("expected a whole number of at least 1".into()),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10000").unwrap(), Duration::from_millis(10_000));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10 s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1min").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("-5").unwrap_err().contains("negative"));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unit"));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory_size("1728 MB").unwrap(), 1728 << 20);
        assert_eq!(parse_memory_size("4096").unwrap(), 4096);
        assert!(parse_memory_size("-1g").is_err());
        assert!(parse_memory_size("lots").is_err());
    }

    #[test]
    fn ports_and_counts() {
        assert_eq!(parse_port("8081").unwrap(), 8081);
        assert!(parse_port("abc").is_err());
        assert!(parse_port("70000").is_err());
        assert_eq!(parse_positive_int("4").unwrap(), 4);
        assert!(parse_positive_int("0").is_err());
    }
}
