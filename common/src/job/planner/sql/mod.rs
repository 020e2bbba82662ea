//! Planning a Flink SQL script into JobGraphs, as Flink's SQL client runs one: `SET`
//! and `RESET` change the settings of the jobs that follow, `CREATE TABLE` and
//! `CREATE VIEW` fill the catalog, each `INSERT INTO` (or a query on its own) becomes a
//! job, and the INSERTs of a statement set become one job. Queries lower to the same
//! operators job files use ([`query`], [`group`]); tables become sources and sinks
//! through the connector registry ([`tables`]). Operator uids derive from the
//! statement's text, so a savepoint restores into the same SQL.

mod group;
mod join;
mod query;
mod tables;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;

use super::{Node, PlanOptions, Planner};
use crate::job::error::JobFileError;
use crate::job::graph::{Columns, JobGraph, OperatorDescriptor, OperatorKind};
use crate::job::sql::catalog::{Catalog, Relation, View};
use crate::job::sql::{parse_script, Position, SqlError, Statement, StatementKind};

/// What a script plans into: its jobs, in the order they are submitted.
#[derive(Debug)]
pub struct SqlScript {
    pub jobs: Vec<SqlJob>,
}

/// One job of a script, with the settings in force where it was submitted.
#[derive(Debug)]
pub struct SqlJob {
    pub graph: JobGraph,
    /// `SET` keys and values in force at the job's statement, in key order.
    pub settings: BTreeMap<String, String>,
    /// The statement (1-based) that submitted it: an INSERT, a query or a statement
    /// set's END.
    pub statement: usize,
}

/// Keys a script's SET statements give the planner itself.
const PLANNING_KEYS: &[&str] = &["parallelism.default", "pipeline.name", "pipeline.max-parallelism"];

impl SqlJob {
    /// Puts the job's SET keys that are Rask job options into its configuration (over
    /// what is there: the script's SET wins over `-D`); returns a warning for every
    /// other key, which the job cannot apply.
    pub fn apply_settings(&mut self) -> Vec<String> {
        use crate::config::{options, scope};
        let mut warnings = Vec::new();
        for (key, value) in &self.settings {
            if PLANNING_KEYS.contains(&key.as_str()) {
                continue;
            }
            match options::lookup(key) {
                Some(option) if scope::scope(option) == scope::Scope::Job => {
                    self.graph.configuration.insert(option.key.to_string(), value.clone());
                }
                Some(_) => warnings
                    .push(format!("SET '{key}' is a cluster setting: it does not apply to a job (set it in the cluster's configuration)")),
                None => warnings.push(format!("SET '{key}' is not a Rask option; it is ignored")),
            }
        }
        warnings
    }
}

/// Reads and plans a SQL script.
pub fn plan_sql_file(path: &Path, options: &PlanOptions) -> Result<SqlScript, JobFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| JobFileError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read the SQL script: {e}"),
    })?;
    plan_sql_text(&text, path, options)
}

/// Plans script text; `path` names the file in errors and anchors relative paths.
pub fn plan_sql_text(text: &str, path: &Path, options: &PlanOptions) -> Result<SqlScript, JobFileError> {
    let statements = parse_script(text).map_err(|e| sql_error(path, e))?;
    let mut session = Session { file: path.to_path_buf(), catalog: Catalog::default(), settings: BTreeMap::new(), jobs: Vec::new() };
    let mut statement_set: Option<(&Statement, Vec<&Statement>)> = None;
    for st in &statements {
        let error = |message: String| sql_error(path, SqlError { statement: st.index, kind: st.kind.describe(), at: st.at, message });
        match &st.kind {
            StatementKind::Set { key, value } => {
                session.settings.insert(key.clone(), value.clone());
            }
            StatementKind::Reset { key: Some(key) } => {
                session.settings.remove(key);
            }
            StatementKind::Reset { key: None } => session.settings.clear(),
            StatementKind::CreateTable(t) => session.catalog.create_table((**t).clone()).map_err(error)?,
            StatementKind::CreateView { name, query } => {
                session.catalog.create_view(View { name: name.clone(), query: (**query).clone(), at: st.at }).map_err(error)?
            }
            StatementKind::BeginStatementSet => {
                if let Some((begin, _)) = &statement_set {
                    return Err(error(format!("a statement set is already open (statement {}); close it with END first", begin.index)));
                }
                statement_set = Some((st, Vec::new()));
            }
            StatementKind::Insert { .. } => match &mut statement_set {
                Some((_, inserts)) => inserts.push(st),
                None => session.job(&[st], st, options)?,
            },
            StatementKind::Select(_) => match &statement_set {
                Some(_) => return Err(error("a statement set holds only INSERT INTO statements".into())),
                None => session.job(&[st], st, options)?,
            },
            StatementKind::End => match statement_set.take() {
                None => return Err(error("END without BEGIN STATEMENT SET".into())),
                Some((_, inserts)) if inserts.is_empty() => return Err(error("the statement set holds no INSERT INTO".into())),
                Some((_, inserts)) => session.job(&inserts, st, options)?,
            },
        }
    }
    if let Some((begin, _)) = statement_set {
        return Err(sql_error(
            path,
            SqlError {
                statement: begin.index,
                kind: begin.kind.describe(),
                at: begin.at,
                message: "the statement set is never closed: add END; after its INSERTs".into(),
            },
        ));
    }
    if session.jobs.is_empty() {
        return Err(JobFileError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: "the script submits no job: it needs an INSERT INTO (or a query)".into(),
        });
    }
    Ok(SqlScript { jobs: session.jobs })
}

/// A script error as the program step reports it: file, line, column, statement.
fn sql_error(file: &Path, e: SqlError) -> JobFileError {
    let field = match (e.statement, e.kind) {
        (0, _) => String::new(),
        (n, "") => format!("statement {n}"),
        (n, kind) => format!("statement {n} ({kind})"),
    };
    JobFileError { file: file.to_path_buf(), line: e.at.line, column: e.at.column, field, message: e.message }
}

/// The script run so far: its catalog, settings and jobs.
struct Session {
    file: PathBuf,
    catalog: Catalog,
    settings: BTreeMap<String, String>,
    jobs: Vec<SqlJob>,
}

impl Session {
    /// Plans the statements (INSERTs, or one query) into one job; `submit` is the
    /// statement that submits it.
    fn job(&mut self, statements: &[&Statement], submit: &Statement, options: &PlanOptions) -> Result<(), JobFileError> {
        let error = |at: Position, message: String| {
            sql_error(&self.file, SqlError { statement: submit.index, kind: submit.kind.describe(), at, message })
        };
        let setting = |key: &str| -> Result<Option<u32>, JobFileError> {
            self.settings
                .get(key)
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|&p| p >= 1)
                        .ok_or_else(|| error(submit.at, format!("SET '{key}' = '{v}' is not a positive integer")))
                })
                .transpose()
        };
        let default_p = options.parallelism.or(setting("parallelism.default")?).or(options.default_parallelism).unwrap_or(1);
        let max_p = setting("pipeline.max-parallelism")?.or(options.max_parallelism).unwrap_or(128);
        if max_p > crate::job::limits::MAX_PARALLELISM {
            return Err(error(
                submit.at,
                format!("pipeline.max-parallelism {max_p} exceeds Flink's limit {}", crate::job::limits::MAX_PARALLELISM),
            ));
        }
        if default_p > max_p {
            return Err(error(submit.at, format!("parallelism {default_p} exceeds max-parallelism ({max_p})")));
        }
        let base = self.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let planner = Planner { file: self.file.clone(), base, nodes: Vec::new(), by_name: HashMap::new(), max_p };
        let mut lowering = Lowering {
            planner,
            catalog: &self.catalog,
            default_p,
            statement: statements[0],
            uid_prefix: String::new(),
            next: 0,
            ctes: Vec::new(),
            depth: 0,
        };
        let mut sinks = Vec::new();
        for st in statements {
            lowering.statement = st;
            lowering.uid_prefix = uid_prefix(st);
            lowering.next = 0;
            match &st.kind {
                StatementKind::Insert { table, query } => {
                    let stream = lowering.query(query)?;
                    lowering.insert(table, stream)?;
                    sinks.push(table.clone());
                }
                StatementKind::Select(query) => {
                    let stream = lowering.query(query)?;
                    lowering.collect(stream)?;
                    sinks.push("collect".to_string());
                }
                _ => unreachable!("only INSERTs and queries are planned into jobs"),
            }
        }
        let name = match self.settings.get("pipeline.name") {
            Some(n) => n.clone(),
            None if sinks == ["collect"] => "collect".to_string(),
            None => format!(
                "insert-into_{}",
                sinks.iter().map(|t| format!("default_catalog.default_database.{t}")).collect::<Vec<_>>().join(",")
            ),
        };
        let file = self.file.clone();
        let graph = lowering.planner.chain(name, max_p);
        crate::job::validate::validate_job_graph(&graph).map_err(|e| JobFileError {
            file,
            line: submit.at.line,
            column: submit.at.column,
            field: String::new(),
            message: e.0,
        })?;
        self.jobs.push(SqlJob { graph, settings: self.settings.clone(), statement: submit.index });
        Ok(())
    }
}

/// A stable prefix for the uids of a statement's operators: a hash of its text as
/// `sqlparser` prints it (whitespace and comments do not change it).
fn uid_prefix(st: &Statement) -> String {
    let text = match &st.kind {
        StatementKind::Insert { table, query } => format!("INSERT INTO {table} {query}"),
        StatementKind::Select(query) => query.to_string(),
        _ => String::new(),
    };
    // FNV-1a: stable across Rust versions, unlike the std hasher.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("sql-{:016x}", hash)
}

/// One planned stream of rows: the node that produces it, and what the planner knows
/// of it beyond the schema.
#[derive(Debug, Clone)]
struct Stream {
    node: usize,
    /// A changelog: the first column is the row kind.
    updating: bool,
    /// Rows of a window table function, waiting for the GROUP BY that aggregates them.
    window: Option<query::WindowTvf>,
}

/// Lowering the statements of one job into the planner's nodes.
struct Lowering<'a> {
    planner: Planner,
    catalog: &'a Catalog,
    default_p: u32,
    /// The statement being planned (errors name it).
    statement: &'a Statement,
    uid_prefix: String,
    /// The next operator number within the statement (uids).
    next: u32,
    /// `WITH name AS (…)` queries in scope, innermost last.
    ctes: Vec<(String, sqlparser::ast::Query)>,
    /// Views being expanded (a view reading itself is refused).
    depth: usize,
}

impl<'a> Lowering<'a> {
    fn error(&self, at: Position, message: impl Into<String>) -> JobFileError {
        let st = self.statement;
        sql_error(&self.planner.file, SqlError { statement: st.index, kind: st.kind.describe(), at, message: message.into() })
    }

    /// Where an AST node starts (the statement's start when sqlparser has no span).
    fn at(&self, node: &impl sqlparser::ast::Spanned) -> Position {
        let start = node.span().start;
        if start.line == 0 {
            self.statement.at
        } else {
            Position { line: start.line as u32, column: start.column as u32 }
        }
    }

    fn schema(&self, stream: &Stream) -> SchemaRef {
        self.planner.nodes[stream.node].schema.clone()
    }

    fn rowtime(&self, stream: &Stream) -> Option<usize> {
        self.planner.nodes[stream.node].rowtime
    }

    /// Adds an operator reading `inputs` (the first one's schema is its input).
    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        name: &str,
        inputs: Vec<usize>,
        kind: OperatorKind,
        schema: SchemaRef,
        parallelism: u32,
        hash_keys: Option<Vec<usize>>,
        rowtime: Option<usize>,
    ) -> Result<usize, JobFileError> {
        let input = inputs.first().map(|&i| Columns::from_schema(&self.planner.nodes[i].schema)).unwrap_or(Columns(vec![]));
        let uid = format!("{}-{}", self.uid_prefix, self.next);
        self.next += 1;
        let node = Node {
            name: uid.clone(),
            uid,
            parallelism,
            inputs,
            hash_keys: hash_keys.filter(|k| !k.is_empty()),
            exchange: None,
            input_keys: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name: name.to_string(),
                input,
                output: Columns::from_schema(&schema),
                kind,
            },
            schema,
            rowtime,
        };
        self.planner.push(node)
    }

    /// The table or view `name`, as the catalog (or a `WITH` in scope) has it.
    fn lookup(&self, name: &str, at: Position) -> Result<Source<'a>, JobFileError> {
        if let Some((_, q)) = self.ctes.iter().rev().find(|(n, _)| n == name) {
            return Ok(Source::Query(Box::new(q.clone())));
        }
        match self.catalog.lookup(name) {
            Some(Relation::Table(t)) => Ok(Source::Table(t)),
            Some(Relation::View(v)) => Ok(Source::Query(Box::new(v.query.clone()))),
            None => Err(self.error(at, self.catalog.not_found(name))),
        }
    }
}

/// What a name in FROM resolves to.
enum Source<'a> {
    Table(&'a crate::job::sql::ddl::CreateTable),
    Query(Box<sqlparser::ast::Query>),
}

/// `name` as a quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
