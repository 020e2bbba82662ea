//! Flink SQL scripts (`rask run job.sql`): the front layer that splits a script into
//! statements with their positions ([`script`]), Flink's `CREATE TABLE` that
//! `sqlparser` does not parse ([`ddl`]), and the tables and views a script creates
//! ([`catalog`]). Planning the statements into JobGraphs is
//! [`planner::sql`](super::planner::sql)'s.

pub mod catalog;
pub mod ddl;
pub mod script;

pub use script::{parse_script, Position, SqlError, Statement, StatementKind};

/// Whether `path` names a SQL script (by its `.sql` extension) rather than a job file.
pub fn is_sql_file(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("sql"))
}
