//! Errors of the program step. Each names the job file, the line and the field.

use std::fmt;
use std::path::PathBuf;

/// A problem in a job file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct JobFileError {
    pub file: PathBuf,
    /// 1-based; 0 when the position is not known.
    pub line: u32,
    /// The field, as a path: `pipeline[2].filter`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for JobFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}
