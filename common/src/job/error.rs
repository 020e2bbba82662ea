//! Errors of the program step. Each names the job file, the line and the field.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a job file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct JobFileError {
    pub file: PathBuf,
    /// 1-based; 0 when the position is not known.
    pub line: u32,
    /// 1-based column on that line (SQL files); 0 when not known or not meaningful.
    pub column: u32,
    /// The field, as a path: `pipeline[2].filter`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for JobFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        // A message quotes the user's text; a hostile one is cut, not echoed whole.
        const MAX_MESSAGE_CHARS: usize = 1_000;
        match self.message.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((cut, _)) => write!(f, ": {}… ({} bytes in all)", &self.message[..cut], self.message.len()),
            None => write!(f, ": {}", self.message),
        }
    }
}

impl JobFileError {
    /// A YAML file that does not parse: the line, and the parser's first message line
    /// without its own position prefix.
    pub fn yaml(file: &Path, e: &serde_saphyr::Error) -> Self {
        let line = e.location().map(|l| l.line() as u32).unwrap_or(0);
        let rendered = e.to_string();
        let first = rendered
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("-->") && !l.starts_with('|'))
            .unwrap_or("invalid YAML")
            .trim_start_matches("error: ");
        // "line 5 column 1: unknown field ..." repeats the line already shown.
        let message = match first.split_once(": ") {
            Some((position, rest)) if position.starts_with("line ") && position.contains(" column ") => rest,
            _ => first,
        };
        Self { file: file.to_path_buf(), line, column: 0, field: String::new(), message: message.to_string() }
    }
}
