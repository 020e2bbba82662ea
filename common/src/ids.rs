//! Identifiers in Flink's formats: 32 lowercase hex characters for job, allocation and
//! leader-session ids, `host:port-xxxxxx` for TaskManager resource ids.

use uuid::Uuid;

/// A fresh random id as 32 lowercase hex characters (Flink's `AbstractID` format).
pub fn random_hex_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// A TaskManager resource id in Flink's shape: `host:port-` and six hex characters.
pub fn taskmanager_resource_id(host: &str, port: u16) -> String {
    let suffix = &random_hex_id()[..6];
    format!("{host}:{port}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_flink_shapes() {
        let id = random_hex_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let tm = taskmanager_resource_id("127.0.0.1", 4321);
        assert!(tm.starts_with("127.0.0.1:4321-"));
        assert_eq!(tm.len(), "127.0.0.1:4321-".len() + 6);
    }
}
