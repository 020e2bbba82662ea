//! Application files (application mode): an ordered list of job files (or Flink SQL
//! scripts, whose jobs each run in turn the same way), each run with
//! `execute` (the next starts after it ends) or `execute_async` (the next starts at
//! once), as a Flink program's `main()` calls `execute()` or `executeAsync()`.
//!
//! ```yaml
//! name: nightly
//! jobs:
//!   - execute: word-count.yaml
//!   - execute_async: state-machine.yaml
//!     parallelism: 1
//!   - execute: top-products.yaml
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::spec::JobSpec;
use super::JobFileError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationSpec {
    name: Spanned<String>,
    jobs: Vec<Spanned<ApplicationJobSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationJobSpec {
    #[serde(default)]
    execute: Option<Spanned<String>>,
    #[serde(default)]
    execute_async: Option<Spanned<String>>,
    #[serde(default)]
    parallelism: Option<Spanned<u32>>,
}

/// How the application's `main()` runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionMode {
    /// Blocking: the next job starts after this one ends.
    Execute,
    /// Submitted without waiting.
    ExecuteAsync,
}

impl ExecutionMode {
    pub fn name(self) -> &'static str {
        match self {
            ExecutionMode::Execute => "execute",
            ExecutionMode::ExecuteAsync => "execute_async",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApplicationJob {
    pub mode: ExecutionMode,
    /// The job file, resolved against the application file's directory.
    pub file: PathBuf,
    /// As written in the application file.
    pub reference: String,
    pub parallelism: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Application {
    pub name: String,
    pub file: PathBuf,
    pub jobs: Vec<ApplicationJob>,
}

fn error(file: &Path, line: u64, field: &str, message: impl Into<String>) -> JobFileError {
    JobFileError { file: file.to_path_buf(), line: line as u32, column: 0, field: field.to_string(), message: message.into() }
}

/// Reads and checks an application file: every entry names exactly one job file
/// with `execute` or `execute_async`, and the file exists.
pub fn load_application(path: &Path) -> Result<Application, JobFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| error(path, 0, "", format!("cannot read the application file: {e}")))?;
    let spec: ApplicationSpec = serde_saphyr::from_str(&text).map_err(|e| {
        let mut error = JobFileError::yaml(path, &e);
        if text.lines().any(|l| l.starts_with("sources:")) {
            error.message.push_str(" (this looks like a job file: run it with `rask run`)");
        }
        error
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if spec.name.value.trim().is_empty() {
        return Err(error(path, spec.name.referenced.line(), "name", "must not be empty"));
    }
    if spec.jobs.is_empty() {
        return Err(error(path, 0, "jobs", "an application needs at least one job"));
    }
    let mut jobs = Vec::new();
    for (i, entry) in spec.jobs.iter().enumerate() {
        let line = entry.referenced.line();
        let entry = &entry.value;
        let (mode, reference, field) = match (&entry.execute, &entry.execute_async) {
            (Some(r), None) => (ExecutionMode::Execute, r, format!("jobs[{i}].execute")),
            (None, Some(r)) => (ExecutionMode::ExecuteAsync, r, format!("jobs[{i}].execute_async")),
            _ => return Err(error(path, line, &format!("jobs[{i}]"), "give exactly one of execute or execute_async (a job file)")),
        };
        let file = base.join(&reference.value);
        if !file.is_file() {
            return Err(error(path, reference.referenced.line(), &field, format!("no job file {}", file.display())));
        }
        if let Some(p) = entry.parallelism.as_ref().filter(|p| p.value == 0) {
            return Err(error(path, p.referenced.line(), &format!("jobs[{i}].parallelism"), "must be at least 1"));
        }
        jobs.push(ApplicationJob {
            mode,
            file,
            reference: reference.value.clone(),
            parallelism: entry.parallelism.as_ref().map(|p| p.value),
        });
    }
    Ok(Application { name: spec.name.value, file: path.to_path_buf(), jobs })
}

impl Application {
    /// The files the application needs, given by relative paths: the job files and
    /// what their file sources read (files or directories), as paths relative to the
    /// application file's directory. Absolute paths are not shipped. A relative path
    /// that leaves that directory is an error.
    pub fn referenced_files(&self) -> Result<Vec<PathBuf>, JobFileError> {
        let base = self.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut files = Vec::new();
        let relative = |file: &Path, line: u64, field: &str, target: &Path| -> Result<PathBuf, JobFileError> {
            let inside = target.strip_prefix(&base).ok().filter(|r| !r.components().any(|c| matches!(c, std::path::Component::ParentDir)));
            inside.map(Path::to_path_buf).ok_or_else(|| {
                error(
                    file,
                    line,
                    field,
                    format!(
                        "{} is outside the application's directory {}; move it there or give an absolute path",
                        target.display(),
                        base.display()
                    ),
                )
            })
        };
        for (i, job) in self.jobs.iter().enumerate() {
            files.push(relative(&self.file, 0, &format!("jobs[{i}]"), &job.file)?);
            let text = std::fs::read_to_string(&job.file).map_err(|e| error(&job.file, 0, "", format!("cannot read the job file: {e}")))?;
            let job_dir = job.file.parent().map(Path::to_path_buf).unwrap_or_default();
            if super::sql::is_sql_file(&job.file) {
                // A script's filesystem tables are read or written: what exists now
                // is shipped (a sink's directory may not exist yet).
                let statements = super::sql::parse_script(&text).map_err(|e| error(&job.file, e.at.line.into(), "", e.message))?;
                for st in statements {
                    let super::sql::StatementKind::CreateTable(t) = st.kind else { continue };
                    let Some(path) = t.option("path").filter(|_| t.option("connector").is_some_and(|c| c.value == "filesystem")) else {
                        continue;
                    };
                    let local = path.value.strip_prefix("file://").unwrap_or(&path.value);
                    if !Path::new(local).is_absolute() && job_dir.join(local).exists() {
                        files.push(relative(&job.file, path.at.line.into(), &format!("table {} 'path'", t.name), &job_dir.join(local))?);
                    }
                }
                continue;
            }
            let spec: JobSpec = serde_saphyr::from_str(&text).map_err(|e| error(&job.file, 0, "", e.to_string()))?;
            for (s, source) in spec.sources.iter().enumerate() {
                let Some(path) = source.value.path.as_ref().filter(|p| !Path::new(&p.value).is_absolute()) else { continue };
                files.push(relative(&job.file, path.referenced.line(), &format!("sources[{s}].path"), &job_dir.join(&path.value))?);
            }
        }
        files.sort();
        files.dedup();
        Ok(files)
    }
}
