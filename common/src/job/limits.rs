//! The bounds every job is held to, checked before anything is allocated from it: a
//! job file or JobGraph beyond them gets a clear error instead of aborting a process.
//! The client, the JobManager and the TaskManager check the same bounds.

/// Flink's upper bound for parallelism and max-parallelism (`2^15`).
pub const MAX_PARALLELISM: u32 = 32_768;
/// Subtasks of one job (every vertex's parallelism, summed).
pub const MAX_SUBTASKS: u64 = 100_000;
/// Vertices (operator chains) and edges of one JobGraph.
pub const MAX_VERTICES: usize = 10_000;
/// Operators chained into one vertex.
pub const MAX_OPERATORS_PER_VERTEX: usize = 1_000;
/// Columns of a schema, expressions of a projection, aggregates, keys, choices,
/// transitions: any one list in a job.
pub const MAX_LIST_LEN: usize = 10_000;
/// A name, uid, path, literal or choice value.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// The text of one SQL expression.
pub const MAX_EXPRESSION_BYTES: usize = 64 * 1024;
/// Tokens of one SQL expression (bounds its syntax tree's size).
pub const MAX_EXPRESSION_TOKENS: usize = 10_000;
/// Nesting depth of one compiled expression.
pub const MAX_EXPRESSION_DEPTH: usize = 1_000;
/// Characters of one generated STRING value (`datagen` `length`).
pub const MAX_DATAGEN_STRING_LENGTH: u32 = 1 << 20;
/// Top-N's N.
pub const MAX_TOP_N: u32 = 1_000_000;
/// A window's size or slide, in milliseconds (about 100 years).
pub const MAX_WINDOW_MS: i64 = 100 * 365 * 86_400_000;
/// Windows one element may fall into (size / slide of a sliding window).
pub const MAX_WINDOWS_PER_ELEMENT: i64 = 10_000;
/// Bytes of a JobGraph in its JSON form (REST body, `SubmitTask` descriptor).
pub const MAX_JOB_GRAPH_BYTES: usize = 64 << 20;
/// Bytes of one SQL script (`rask run job.sql`).
pub const MAX_SQL_BYTES: usize = 4 << 20;
/// Statements of one SQL script.
pub const MAX_SQL_STATEMENTS: usize = 10_000;
