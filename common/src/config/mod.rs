//! Configuration: a YAML file (Flink's flat `rest.port: 8081` form or the nested
//! form), then environment overrides (`RASK_PROPERTIES`, `RASK_<KEY>`), then `-D
//! key=value` arguments. Every key is checked against the registry in [`options`]
//! and every value against its type when the configuration loads, so a daemon with a
//! bad configuration refuses to start with a message naming the key and its source.

pub mod options;
pub mod scope;
pub mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{FileFormat, Source, Value, ValueKind as RawKind};

pub use options::ConfigOption;
use options::ValueKind;

/// The name of the configuration file inside a configuration directory.
pub const CONFIG_FILE_NAME: &str = "rask.yaml";
/// Environment variable naming the configuration directory (Flink: FLINK_CONF_DIR).
pub const CONF_DIR_ENV: &str = "RASK_CONF_DIR";
/// Environment variable holding YAML properties (Flink's docker: FLINK_PROPERTIES).
pub const PROPERTIES_ENV: &str = "RASK_PROPERTIES";

/// Where a configuration value came from; named in every error about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    /// A line of a file (1-based), when the key could be found in its text.
    FileLine(PathBuf, usize),
    PropertiesEnv,
    Env(String),
    DynamicProperty,
    Programmatic,
    /// The job's own configuration (`-D` or `--config` of `rask run`), carried by its JobGraph.
    Job,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "the default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::FileLine(p, line) => write!(f, "file {} line {line}", p.display()),
            Origin::PropertiesEnv => write!(f, "environment variable {PROPERTIES_ENV}"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::DynamicProperty => write!(f, "a -D argument"),
            Origin::Programmatic => write!(f, "the program"),
            Origin::Job => write!(f, "the job's configuration (-D of rask run)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {reason} (--config and RASK_CONF_DIR name a rask.yaml or the directory holding it; deploy/conf/rask.yaml documents every key)")]
    File { path: PathBuf, reason: String },
    #[error("cannot parse {origin}: {reason}")]
    Parse { origin: Origin, reason: String },
    #[error("configuration key '{key}' is set twice in {origin}, on lines {lines}")]
    Conflict { key: String, origin: Origin, lines: String },
    #[error("unknown configuration key '{key}' in {origin}")]
    UnknownKey { key: String, origin: Origin },
    #[error("invalid value '{value}' for configuration key '{key}' in {origin}: {reason}")]
    InvalidValue { key: String, value: String, origin: Origin, reason: String },
    /// The argument as it may be shown (see [`ConfigError::malformed`]).
    #[error("malformed -D argument '{0}': expected key=value")]
    MalformedDynamicProperty(String),
    /// A TLS setting that names an unreadable or wrong file (the message names the key).
    #[error("{0}")]
    Security(String),
    /// A job's configuration names a key only a cluster process can honour.
    #[error("configuration key '{key}' cannot be set per job: only the cluster honours it (set it in the cluster's configuration; a restart applies it)")]
    NotPerJob { key: String },
}

impl ConfigError {
    /// A malformed `-D` argument, shown without a secret it may hold.
    pub fn malformed(argument: &str) -> Self {
        let shown = if is_sensitive(argument) {
            format!("{}…", argument.chars().take_while(|c| *c != ':' && *c != ' ').collect::<String>())
        } else {
            argument.to_string()
        };
        ConfigError::MalformedDynamicProperty(shown)
    }
}

impl From<crate::security::TlsError> for ConfigError {
    fn from(e: crate::security::TlsError) -> Self {
        match e {
            crate::security::TlsError::Config(c) => c,
            other => ConfigError::Security(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    origin: Origin,
}

/// A loaded, validated configuration: canonical key -> value (with origin).
#[derive(Clone, Default)]
pub struct Configuration {
    entries: BTreeMap<&'static str, Entry>,
}

/// Sensitive values show as `******` in a debug print too.
impl fmt::Debug for Configuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter().map(|(k, e)| (*k, shown_value(k, &e.value)))).finish()
    }
}

impl Configuration {
    /// An empty configuration: every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `file` (a YAML file, or a directory holding `rask.yaml`; when `None`,
    /// `$RASK_CONF_DIR/rask.yaml` if that variable is set), then the process
    /// environment, then `dynamic` (`key=value` strings from `-D`).
    pub fn load(file: Option<&Path>, dynamic: &[String]) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars(), dynamic)
    }

    /// [`Configuration::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        dynamic: &[String],
    ) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = env.into_iter().collect();
        let mut conf = Self::new();
        let path = match file {
            Some(p) => Some(resolve_file(p)),
            None => env.get(CONF_DIR_ENV).map(|dir| Path::new(dir).join(CONFIG_FILE_NAME)),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
            conf.merge_yaml(&text, Origin::File(path))?;
        }
        if let Some(text) = env.get(PROPERTIES_ENV) {
            conf.merge_yaml(text, Origin::PropertiesEnv)?;
        }
        for option in options::ALL {
            for key in std::iter::once(option.key).chain(option.aliases.iter().copied()) {
                let name = options::env_var_name(key);
                if let Some(value) = env.get(&name) {
                    conf.set_checked(option.key, value, Origin::Env(name))?;
                }
            }
        }
        for arg in dynamic {
            let (key, value) = arg.split_once('=').ok_or_else(|| ConfigError::malformed(arg))?;
            conf.set_checked(key.trim(), value.trim(), Origin::DynamicProperty)?;
        }
        Ok(conf)
    }

    /// Sets a key from program code (MiniCluster, tests), with the same checks.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> Result<(), ConfigError> {
        self.set_checked(key, &value.into(), Origin::Programmatic)
    }

    fn set_checked(&mut self, key: &str, value: &str, origin: Origin) -> Result<(), ConfigError> {
        let option = options::lookup(key).ok_or_else(|| ConfigError::UnknownKey { key: key.to_string(), origin: origin.clone() })?;
        check_value(option, value).map_err(|reason| ConfigError::InvalidValue {
            key: option.key.to_string(),
            value: shown_value(option.key, value),
            origin: origin.clone(),
            reason,
        })?;
        self.entries.insert(option.key, Entry { value: value.to_string(), origin });
        Ok(())
    }

    fn merge_yaml(&mut self, text: &str, origin: Origin) -> Result<(), ConfigError> {
        let parsed = config::Config::builder()
            .add_source(config::File::from_str(text, FileFormat::Yaml))
            .build()
            .map_err(|e| ConfigError::Parse { origin: origin.clone(), reason: e.to_string() })?;
        let table = parsed.collect().map_err(|e| ConfigError::Parse { origin: origin.clone(), reason: e.to_string() })?;
        let mut flat = Vec::new();
        for (key, value) in table {
            flatten(key, value, &mut flat);
        }
        // The config crate merges `a.b: 1` and `a: {b: 2}` silently: refuse a key
        // written in both forms, naming both lines.
        if let Origin::File(path) = &origin {
            for (key, _) in &flat {
                let flat_at = locate_flat(text, key);
                let nested_at = if key.contains('.') { locate_nested(text, key) } else { None };
                let mut at: Vec<usize> = flat_at.iter().map(|(l, _)| *l).collect();
                at.extend(nested_at.iter().map(|(l, _)| *l));
                at.sort_unstable();
                at.dedup();
                if at.len() > 1 {
                    return Err(ConfigError::Conflict {
                        key: key.clone(),
                        origin: Origin::File(path.clone()),
                        lines: at.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(" and "),
                    });
                }
            }
        }
        for (key, value) in flat {
            // The config crate folds keys to lower case: find the key as written (and
            // its line) so errors quote the user's own text.
            let (key, key_origin) = match (&origin, locate(text, &key)) {
                (Origin::File(path), Some((line, written))) => (written, Origin::FileLine(path.clone(), line)),
                _ => (key, origin.clone()),
            };
            self.set_checked(&key, &value, key_origin)?;
        }
        Ok(())
    }

    fn raw(&self, option: &ConfigOption) -> Option<(&str, Origin)> {
        match self.entries.get(option.key) {
            Some(e) => Some((e.value.as_str(), e.origin.clone())),
            None => option.default.map(|d| (d, Origin::Default)),
        }
    }

    fn parsed<T>(&self, option: &ConfigOption, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        let (value, origin) = self.raw(option).ok_or_else(|| ConfigError::InvalidValue {
            key: option.key.to_string(),
            value: String::new(),
            origin: Origin::Default,
            reason: "no value set and no default".into(),
        })?;
        parse(value).map_err(|reason| ConfigError::InvalidValue {
            key: option.key.to_string(),
            value: shown_value(option.key, value),
            origin,
            reason,
        })
    }

    /// Where the option's effective value comes from.
    pub fn origin(&self, option: &ConfigOption) -> Origin {
        self.raw(option).map(|(_, o)| o).unwrap_or(Origin::Default)
    }

    /// The value of a string option, `None` when unset and without default.
    pub fn get_string(&self, option: &ConfigOption) -> Option<String> {
        self.raw(option).map(|(v, _)| v.to_string())
    }

    pub fn get_port(&self, option: &ConfigOption) -> Result<u16, ConfigError> {
        self.parsed(option, values::parse_port)
    }

    pub fn get_duration(&self, option: &ConfigOption) -> Result<Duration, ConfigError> {
        self.parsed(option, values::parse_duration)
    }

    pub fn get_memory_size(&self, option: &ConfigOption) -> Result<u64, ConfigError> {
        self.parsed(option, values::parse_memory_size)
    }

    pub fn get_multiplier(&self, option: &ConfigOption) -> Result<f64, ConfigError> {
        self.parsed(option, values::parse_multiplier)
    }

    pub fn get_bool(&self, option: &ConfigOption) -> Result<bool, ConfigError> {
        self.parsed(option, values::parse_bool)
    }

    /// A list option (`a;b` or `a,b`), empty entries dropped; empty when unset.
    pub fn get_list(&self, option: &ConfigOption) -> Vec<String> {
        self.raw(option)
            .map(|(v, _)| v.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub fn get_positive_int(&self, option: &ConfigOption) -> Result<u32, ConfigError> {
        self.parsed(option, values::parse_positive_int)
    }

    /// Whether the key was set explicitly (not left at its default).
    pub fn contains(&self, option: &ConfigOption) -> bool {
        self.entries.contains_key(option.key)
    }

    /// The keys set with `-D` that apply per job ([`scope::Scope::Job`]): what travels
    /// with a JobGraph planned under this configuration. (Keys from a configuration
    /// file or the environment are the cluster's, which a client often shares.)
    pub fn job_configuration(&self) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.origin == Origin::DynamicProperty)
            .filter(|(k, _)| options::lookup(k).is_some_and(|o| scope::scope(o) == scope::Scope::Job))
            .map(|(k, e)| (k.to_string(), e.value.clone()))
            .collect()
    }

    /// This (a cluster's) configuration with a job's own keys over it; a key that is
    /// unknown, badly valued or not settable per job is refused, naming it.
    pub fn with_job_configuration(&self, job: &BTreeMap<String, String>) -> Result<Configuration, ConfigError> {
        let mut conf = self.clone();
        for (key, value) in job {
            let option = options::lookup(key).ok_or_else(|| ConfigError::UnknownKey { key: key.clone(), origin: Origin::Job })?;
            if scope::scope(option) != scope::Scope::Job {
                return Err(ConfigError::NotPerJob { key: option.key.to_string() });
            }
            // Spelled exactly, so that every check that looks a key up by name sees it.
            if key != option.key {
                return Err(ConfigError::InvalidValue {
                    key: key.clone(),
                    value: shown_value(option.key, value),
                    origin: Origin::Job,
                    reason: format!("a job's configuration names keys exactly as written in Flink's documentation: '{}'", option.key),
                });
            }
            conf.set_checked(option.key, value, Origin::Job)?;
        }
        Ok(conf)
    }

    /// Keys set with `-D` whose scope is `scope` (the CLI warns about cluster keys it
    /// cannot pass to a running cluster).
    pub fn dynamic_keys(&self, wanted: scope::Scope) -> Vec<&'static str> {
        self.entries
            .iter()
            .filter(|(k, e)| e.origin == Origin::DynamicProperty && options::lookup(k).is_some_and(|o| scope::scope(o) == wanted))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Every explicitly set key with its value, sorted by key (for `/jobmanager/config`).
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.entries.iter().map(|(k, e)| (*k, e.value.as_str()))
    }

    /// Every key with its effective value (explicit or default), sorted by key, with
    /// sensitive values shown as [`REDACTED`] (for REST answers and logs).
    pub fn effective_entries(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> =
            options::ALL.iter().filter_map(|o| self.raw(o).map(|(v, _)| (o.key, shown_value(o.key, v)))).collect();
        out.sort();
        out
    }
}

/// How a sensitive value is shown, as Flink's `GlobalConfiguration.HIDDEN_CONTENT`.
pub const REDACTED: &str = "******";

/// Whether a key holds a secret (or names where one is kept), as Flink's
/// `GlobalConfiguration.isSensitive`: its name contains `password`, `secret`, `token`
/// or `key` (case-insensitive). Its value never appears in an answer, error or log.
pub fn is_sensitive(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "key"].iter().any(|word| key.contains(word))
}

/// The value as it may be shown: [`REDACTED`] for a sensitive key.
pub fn shown_value(key: &str, value: &str) -> String {
    if is_sensitive(key) {
        REDACTED.to_string()
    } else {
        value.to_string()
    }
}

/// `--config` may name the file or the directory that holds `rask.yaml`.
fn resolve_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(CONFIG_FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Checks `value` against the option's type; the error is the reason.
pub(crate) fn check_value(option: &ConfigOption, value: &str) -> Result<(), String> {
    match option.kind {
        ValueKind::String if value.trim().is_empty() => Err("must not be empty".into()),
        ValueKind::String => Ok(()),
        ValueKind::Port => values::parse_port(value).map(drop),
        ValueKind::Boolean => values::parse_bool(value).map(drop),
        ValueKind::PositiveInt => values::parse_positive_int(value).map(drop),
        ValueKind::Multiplier => values::parse_multiplier(value).map(drop),
        ValueKind::Duration => values::parse_duration(value).map(drop),
        ValueKind::MemorySize => values::parse_memory_size(value).map(drop),
        ValueKind::OneOf(words) => {
            if words.iter().any(|w| w.eq_ignore_ascii_case(value.trim())) {
                Ok(())
            } else {
                Err(format!("expected one of: {}", words.join(", ")))
            }
        }
    }
}

/// Finds where a (lower-cased, dotted) key is written in YAML text: returns the
/// 1-based line and the key as written. Handles the flat form and, for the nested
/// form, follows the indentation of each segment.
fn locate(text: &str, key: &str) -> Option<(usize, String)> {
    locate_flat(text, key).into_iter().next().or_else(|| locate_nested(text, key))
}

/// Every line where the key is written in the flat form (`rest.port: 1`).
fn locate_flat(text: &str, key: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        if let Some((k, _)) = line.split_once(':') {
            let k = k.trim().trim_matches(['"', '\'']);
            if k.contains('.') && k.eq_ignore_ascii_case(key) {
                out.push((i + 1, k.to_string()));
            }
        }
    }
    out
}

/// Where the key is written in the nested form: each segment on a deeper-indented
/// line after the previous one.
fn locate_nested(text: &str, key: &str) -> Option<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut min_indent = 0;
    let mut written = Vec::new();
    let mut found_line = 0;
    for segment in key.split('.') {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let indent = line.len() - line.trim_start().len();
            if indent < min_indent && !line.trim().is_empty() && i > from {
                break;
            }
            if let Some((k, _)) = line.trim_start().split_once(':') {
                let k = k.trim().trim_matches(['"', '\'']);
                if indent >= min_indent && k.eq_ignore_ascii_case(segment) {
                    hit = Some((i, indent, k.to_string()));
                    break;
                }
            }
        }
        let (i, indent, k) = hit?;
        written.push(k);
        found_line = i + 1;
        from = i + 1;
        min_indent = indent + 1;
    }
    Some((found_line, written.join(".")))
}

/// Flattens nested YAML tables into dotted keys; lists join with `;` as in Flink.
fn flatten(prefix: String, value: Value, out: &mut Vec<(String, String)>) {
    match value.kind {
        RawKind::Table(table) => {
            for (key, v) in table {
                flatten(format!("{prefix}.{key}"), v, out);
            }
        }
        RawKind::Array(items) => {
            let joined = items.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(";");
            out.push((prefix, joined));
        }
        RawKind::Nil => out.push((prefix, String::new())),
        _ => out.push((prefix, value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::options::*;
    use super::*;

    fn write(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("rask.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!("rask-conf-{}", crate::ids::random_hex_id()));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn sensitive_values_are_redacted_in_entries_and_errors() {
        let mut conf = Configuration::new();
        conf.set("high-availability.etcd.password", "hunter2-secret").unwrap();
        conf.set("security.ssl.internal.key", "/etc/rask/tls/node.key").unwrap();
        let shown = format!("{:?}", conf.effective_entries());
        assert!(!shown.contains("hunter2") && !shown.contains("node.key"), "{shown}");
        assert!(conf.effective_entries().contains(&("high-availability.etcd.password", REDACTED.to_string())));
        assert!(is_sensitive("high-availability.etcd.password") && is_sensitive("security.ssl.rest.key"));
        assert!(!is_sensitive("rest.port") && !is_sensitive("state.checkpoints.dir"));
        let err = conf.set("security.ssl.internal.enabled", "maybe-secret-value").unwrap_err().to_string();
        assert!(err.contains("security.ssl.internal.enabled") && err.contains("maybe-secret-value"), "{err}");
        let err = Configuration::load_from(None, none(), &["high-availability.etcd.lease-ttl=0".into()]).unwrap_err().to_string();
        assert!(err.contains("'0'"), "a value that is not secret is quoted: {err}");
    }

    fn none() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn flat_and_nested_forms_agree() {
        let (_d1, flat) = write("rest.port: 9091\ntaskmanager.numberOfTaskSlots: 4\nheartbeat.interval: 500\n");
        let (_d2, nested) = write("rest:\n  port: 9091\ntaskmanager:\n  numberOfTaskSlots: 4\nheartbeat:\n  interval: 500\n");
        for path in [flat, nested] {
            let c = Configuration::load_from(Some(&path), none(), &[]).unwrap();
            assert_eq!(c.get_port(&REST_PORT).unwrap(), 9091);
            assert_eq!(c.get_positive_int(&TASKMANAGER_NUM_SLOTS).unwrap(), 4);
            assert_eq!(c.get_duration(&HEARTBEAT_INTERVAL).unwrap(), Duration::from_millis(500));
        }
    }

    #[test]
    fn directory_env_and_dynamic_layers() {
        let (dir, _) = write("rest.port: 9091\njobmanager.rpc.port: 7000\nrest.address: a\n");
        let env =
            vec![("RASK_REST_PORT".to_string(), "9092".to_string()), ("RASK_PROPERTIES".to_string(), "rest.address: b\n".to_string())];
        let c = Configuration::load_from(Some(dir.path()), env, &["jobmanager.rpc.port=7001".into()]).unwrap();
        assert_eq!(c.get_port(&REST_PORT).unwrap(), 9092);
        assert_eq!(c.get_port(&JOBMANAGER_RPC_PORT).unwrap(), 7001);
        assert_eq!(c.get_string(&REST_ADDRESS).unwrap(), "b");
        let conf_dir = vec![(CONF_DIR_ENV.to_string(), dir.path().display().to_string())];
        let c = Configuration::load_from(None, conf_dir, &[]).unwrap();
        assert_eq!(c.get_port(&REST_PORT).unwrap(), 9091);
    }

    #[test]
    fn errors_name_key_value_and_file() {
        let (_d, path) = write("rest.port: abc\n");
        let e = Configuration::load_from(Some(&path), none(), &[]).unwrap_err().to_string();
        assert!(e.contains("'rest.port'") && e.contains("'abc'") && e.contains(&path.display().to_string()), "{e}");

        let (_d, path) = write("heartbeat:\n  timeout: -5\n");
        let e = Configuration::load_from(Some(&path), none(), &[]).unwrap_err().to_string();
        assert!(e.contains("'heartbeat.timeout'") && e.contains("negative"), "{e}");

        let (_d, path) = write("rest.port: 8081\ntaskmanager.numberOfTaskSlot: 8081\n");
        let e = Configuration::load_from(Some(&path), none(), &[]).unwrap_err().to_string();
        assert!(e.contains("unknown configuration key 'taskmanager.numberOfTaskSlot'") && e.contains("rask.yaml line 2"), "{e}");

        let (_d, path) = write("rest:\n  address: x\nheartbeat:\n  interval: 100\n  Timeout: soon\n");
        let e = Configuration::load_from(Some(&path), none(), &[]).unwrap_err().to_string();
        assert!(e.contains("'heartbeat.timeout'") && e.contains("rask.yaml line 5"), "{e}");

        let e = Configuration::load_from(None, none(), &["rest.port".into()]).unwrap_err().to_string();
        assert!(e.contains("malformed -D argument"), "{e}");

        let missing = Path::new("/definitely/not/here.yaml");
        let e = Configuration::load_from(Some(missing), none(), &[]).unwrap_err().to_string();
        assert!(e.contains("/definitely/not/here.yaml"), "{e}");
    }

    #[test]
    fn same_key_twice_in_one_file_is_refused() {
        let (_d, path) = write("rest.port: 1111\nrest:\n  port: 2222\n");
        let e = Configuration::load_from(Some(&path), none(), &[]).unwrap_err().to_string();
        assert!(e.contains("'rest.port' is set twice"), "{e}");
        let e = Configuration::load_from(None, none(), &["taskmanager.memory.process.size=0".into()]).unwrap_err().to_string();
        assert!(e.contains("greater than 0"), "{e}");
        let e = Configuration::load_from(None, none(), &["rest.address=".into()]).unwrap_err().to_string();
        assert!(e.contains("must not be empty"), "{e}");
    }

    #[test]
    fn alias_and_case() {
        let c = Configuration::load_from(None, none(), &["cluster.id=prod".into(), "TaskManager.NumberOfTaskSlots=3".into()]).unwrap();
        assert_eq!(c.get_string(&CLUSTER_ID).unwrap(), "prod");
        assert_eq!(c.get_positive_int(&TASKMANAGER_NUM_SLOTS).unwrap(), 3);
    }
}
