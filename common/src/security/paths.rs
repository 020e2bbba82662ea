//! `rask.io.allowed-paths`: the directories and URL prefixes a job may read and
//! write. A path is resolved before it is compared (symlinks of its existing part
//! followed, `.` and `..` removed), so neither `..` nor a symlink leads outside.

use std::path::{Component, Path, PathBuf};

use crate::config::{options as o, Configuration};

/// A path outside every allowed prefix; the message names the path and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} '{path}' is outside rask.io.allowed-paths ({allowed})")]
pub struct PathNotAllowed {
    pub what: String,
    pub path: String,
    pub allowed: String,
}

/// The allowed prefixes; empty means every path is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedPaths {
    /// Local directories, resolved.
    dirs: Vec<PathBuf>,
    /// URL prefixes of other schemes (`s3://bucket/jobs/`), each ending in `/`.
    urls: Vec<String>,
    /// The setting as written, for messages.
    shown: String,
}

/// The scheme of a URL (`s3` of `s3://b/k`), `None` for a plain path.
fn scheme(path: &str) -> Option<&str> {
    let (scheme, rest) = path.split_once("://")?;
    (!scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) && !rest.is_empty()).then_some(scheme)
}

/// A local path from a plain path or a `file:` URL.
fn local(path: &str) -> PathBuf {
    let p = path.strip_prefix("file://").or_else(|| path.strip_prefix("file:")).unwrap_or(path);
    PathBuf::from(p)
}

/// Resolves `path` as the kernel would open it, without requiring it to exist: each
/// existing component is canonicalized in turn (so a symlink is followed before a
/// `..` after it climbs), the part that does not exist yet is taken lexically.
/// `None` when the path is relative.
pub fn resolve(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    let mut exists = true;
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if exists {
                    match out.canonicalize() {
                        Ok(real) => out = real,
                        Err(_) => exists = false,
                    }
                }
            }
        }
    }
    Some(out)
}

impl AllowedPaths {
    /// Reads `rask.io.allowed-paths`. Relative local entries are refused.
    pub fn from_configuration(conf: &Configuration) -> Result<Self, crate::config::ConfigError> {
        let entries = conf.get_list(&o::IO_ALLOWED_PATHS);
        Self::new(&entries).map_err(|reason| crate::config::ConfigError::InvalidValue {
            key: o::IO_ALLOWED_PATHS.key.into(),
            value: conf.get_string(&o::IO_ALLOWED_PATHS).unwrap_or_default(),
            origin: conf.origin(&o::IO_ALLOWED_PATHS),
            reason,
        })
    }

    /// From directory paths, `file://` URLs and URL prefixes of other schemes.
    pub fn new(entries: &[String]) -> Result<Self, String> {
        let mut allowed = Self { shown: entries.join(";"), ..Self::default() };
        for e in entries {
            match scheme(e) {
                Some(s) if !s.eq_ignore_ascii_case("file") => {
                    if e.split('/').any(crate::checkpoint::storage::is_dot_segment) {
                        return Err(format!("'{e}' contains a '.' or '..' segment"));
                    }
                    allowed.urls.push(if e.ends_with('/') { e.clone() } else { format!("{e}/") });
                }
                _ => {
                    let dir = resolve(&local(e)).ok_or_else(|| format!("'{e}' is not an absolute directory"))?;
                    allowed.dirs.push(dir);
                }
            }
        }
        Ok(allowed)
    }

    /// Whether any restriction is configured.
    pub fn is_restricted(&self) -> bool {
        !self.dirs.is_empty() || !self.urls.is_empty()
    }

    /// Ok when the local file `path`, taken literally (as a file source or sink opens
    /// it: no URL forms), lies inside an allowed directory, or when nothing is
    /// configured.
    pub fn check_file(&self, what: &str, path: &str) -> Result<(), PathNotAllowed> {
        if !self.is_restricted() {
            return Ok(());
        }
        let refuse = || PathNotAllowed { what: what.to_string(), path: path.to_string(), allowed: self.shown.clone() };
        let resolved = resolve(Path::new(path)).ok_or_else(refuse)?;
        self.dirs.iter().any(|d| resolved.starts_with(d)).then_some(()).ok_or_else(refuse)
    }

    /// Ok when `path` (a plain path or URL) lies inside an allowed prefix, or when
    /// nothing is configured. `what` names the path's role in the error ("file
    /// source path", "savepoint target").
    pub fn check(&self, what: &str, path: &str) -> Result<(), PathNotAllowed> {
        if !self.is_restricted() {
            return Ok(());
        }
        let refuse = || PathNotAllowed { what: what.to_string(), path: path.to_string(), allowed: self.shown.clone() };
        match scheme(path) {
            Some(s) if !s.eq_ignore_ascii_case("file") => {
                // A `..` (also percent-encoded) would be resolved by the store's URL
                // parser: refused, as is any URL it leads out of a prefix with.
                let inside = !path.split('/').any(crate::checkpoint::storage::is_dot_segment)
                    && self.urls.iter().any(|u| path.starts_with(u.as_str()) || format!("{path}/") == *u);
                inside.then_some(()).ok_or_else(refuse)
            }
            _ => {
                let resolved = resolve(&local(path)).ok_or_else(refuse)?;
                self.dirs.iter().any(|d| resolved.starts_with(d)).then_some(()).ok_or_else(refuse)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrestricted_allows_everything() {
        assert!(AllowedPaths::default().check("file source path", "/etc/shadow").is_ok());
    }

    #[test]
    fn paths_are_resolved_before_they_are_compared() {
        let root = std::env::temp_dir().join(format!("rask-allowed-{}", crate::ids::random_hex_id()));
        let data = root.join("data");
        let outside = root.join("outside");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();
        let allowed = AllowedPaths::new(&[data.display().to_string(), "s3://bucket/jobs".into()]).unwrap();
        let ok = |p: &str| allowed.check("path", p);
        assert!(ok(&data.join("in.csv").display().to_string()).is_ok());
        assert!(ok(&format!("file://{}", data.join("new/dir/out").display())).is_ok());
        assert!(ok(&data.join("../outside/x").display().to_string()).is_err(), "'..' leads outside");
        assert!(ok(&data.join("link/x").display().to_string()).is_err(), "a symlink leads outside");
        let secret = outside.parent().unwrap().join("secret");
        std::fs::write(&secret, "s").unwrap();
        assert!(ok(&data.join("link/../secret").display().to_string()).is_err(), "'..' after a symlink climbs from its target");
        assert!(ok(&data.join("sub/../in.csv").display().to_string()).is_ok(), "'..' inside stays inside");
        let file = |p: &str| allowed.check_file("file sink path", p);
        assert!(file(&format!("file:{}", data.join("out").display())).is_err(), "a file source or sink takes no URL");
        assert!(file(&data.join("out").display().to_string()).is_ok());
        assert!(ok("/etc/passwd").is_err());
        assert!(ok("relative/path").is_err());
        assert!(ok("s3://bucket/jobs/a/b").is_ok());
        assert!(ok("s3://bucket/jobsmore/a").is_err());
        assert!(ok("s3://bucket/jobs/../secret").is_err());
        assert!(ok("s3://bucket/jobs/%2E%2e/secret").is_err(), "an encoded '..' is a '..' to the store");
        assert!(ok("s3://bucket/jobs/./a").is_err());
        assert!(ok("gs://bucket/jobs/a").is_err());
        let err = ok("/etc/passwd").unwrap_err().to_string();
        assert!(err.contains("/etc/passwd") && err.contains("rask.io.allowed-paths"), "{err}");
        assert!(AllowedPaths::new(&["relative".into()]).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
