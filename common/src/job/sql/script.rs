//! A Flink SQL script split into statements: the tokens of each (with their line and
//! column in the file), what kind of statement it is, and errors that name the
//! statement, its line and column. `sqlparser` parses the standard parts; Flink's own
//! forms (`SET 'k' = 'v'`, `CREATE TABLE` with `WATERMARK` and computed columns,
//! statement sets, `TABLE t` inside window functions) are handled here and in
//! [`ddl`](super::ddl).

use sqlparser::ast;
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::ddl::{self, CreateTable};
use crate::job::limits::{MAX_SQL_BYTES, MAX_SQL_STATEMENTS};

/// Where something is in the script: 1-based line and column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    pub fn of(token: &TokenWithSpan) -> Self {
        Self { line: token.span.start.line as u32, column: token.span.start.column as u32 }
    }
}

/// A problem in a script: which statement (1-based; 0 for the script as a whole),
/// where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("statement {statement} at {}:{}: {message}", at.line, at.column)]
pub struct SqlError {
    pub statement: usize,
    /// What kind of statement, as "INSERT INTO" (empty when not known).
    pub kind: &'static str,
    pub at: Position,
    pub message: String,
}

/// One statement of the script, parsed.
#[derive(Debug, Clone)]
pub struct Statement {
    /// 1-based, in script order.
    pub index: usize,
    /// Where its first token is.
    pub at: Position,
    pub kind: StatementKind,
}

#[derive(Debug, Clone)]
pub enum StatementKind {
    /// `SET 'key' = 'value'`.
    Set {
        key: String,
        value: String,
    },
    /// `RESET 'key'` (or every key, without one).
    Reset {
        key: Option<String>,
    },
    CreateTable(Box<CreateTable>),
    /// `CREATE [TEMPORARY] VIEW name AS query`.
    CreateView {
        name: String,
        query: Box<ast::Query>,
    },
    /// `INSERT INTO table query`, possibly inside a statement set.
    Insert {
        table: String,
        query: Box<ast::Query>,
    },
    /// A query on its own (the SQL client shows its result).
    Select(Box<ast::Query>),
    /// `BEGIN STATEMENT SET` (or the head of `EXECUTE STATEMENT SET BEGIN`).
    BeginStatementSet,
    /// `END` of a statement set.
    End,
}

impl StatementKind {
    /// The statement's kind as users write it, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            StatementKind::Set { .. } => "SET",
            StatementKind::Reset { .. } => "RESET",
            StatementKind::CreateTable(_) => "CREATE TABLE",
            StatementKind::CreateView { .. } => "CREATE VIEW",
            StatementKind::Insert { .. } => "INSERT INTO",
            StatementKind::Select(_) => "SELECT",
            StatementKind::BeginStatementSet => "BEGIN STATEMENT SET",
            StatementKind::End => "END",
        }
    }
}

/// Splits and parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Statement>, SqlError> {
    let whole = |at: Position, message: String| SqlError { statement: 0, kind: "", at, message };
    if text.len() > MAX_SQL_BYTES {
        return Err(whole(Position::default(), format!("the script has {} bytes; at most {MAX_SQL_BYTES} are allowed", text.len())));
    }
    let tokens = Tokenizer::new(&GenericDialect {}, text).tokenize_with_location().map_err(|e| {
        let at = Position { line: e.location.line as u32, column: e.location.column as u32 };
        whole(at, e.message)
    })?;
    let mut statements = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    for token in tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::EOF => {}
            Token::SemiColon => {
                if !current.is_empty() {
                    statements.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(token),
        }
        if statements.len() > MAX_SQL_STATEMENTS {
            return Err(whole(Position::default(), format!("the script has more than {MAX_SQL_STATEMENTS} statements")));
        }
    }
    if !current.is_empty() {
        statements.push(current);
    }
    let mut out = Vec::new();
    for (i, tokens) in statements.into_iter().enumerate() {
        out.extend(parse_statement(i + 1, tokens)?);
    }
    Ok(out)
}

/// The first token's word, upper case ("" when not a word).
fn word(t: Option<&TokenWithSpan>) -> String {
    match t.map(|t| &t.token) {
        Some(Token::Word(w)) => w.value.to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// Parses one statement's tokens (`EXECUTE STATEMENT SET BEGIN INSERT …` yields two).
fn parse_statement(index: usize, mut tokens: Vec<TokenWithSpan>) -> Result<Vec<Statement>, SqlError> {
    let at = Position::of(&tokens[0]);
    let words: Vec<String> = tokens.iter().take(4).map(|t| word(Some(t))).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    match words.as_slice() {
        ["EXECUTE", "STATEMENT", "SET", "BEGIN", ..] => {
            out.push(Statement { index, at, kind: StatementKind::BeginStatementSet });
            tokens.drain(..4);
            if tokens.is_empty() {
                return Ok(out);
            }
        }
        ["BEGIN", "STATEMENT", "SET"] => return Ok(vec![Statement { index, at, kind: StatementKind::BeginStatementSet }]),
        ["END"] => return Ok(vec![Statement { index, at, kind: StatementKind::End }]),
        _ => {}
    }
    let at = Position::of(&tokens[0]);
    let end = tokens.last().map(|t| Position { line: t.span.end.line as u32, column: t.span.end.column as u32 }).unwrap_or(at);
    let first = word(tokens.first());
    let second = word(tokens.get(1));
    let kind_hint: &'static str = match (first.as_str(), second.as_str()) {
        ("SET", _) => "SET",
        ("RESET", _) => "RESET",
        ("CREATE", "TABLE") | ("CREATE", "TEMPORARY") if tokens.iter().take(3).any(|t| word(Some(t)) == "TABLE") => "CREATE TABLE",
        ("CREATE", _) => "CREATE VIEW",
        ("INSERT", _) => "INSERT INTO",
        ("SELECT" | "WITH", _) => "SELECT",
        _ => "",
    };
    let error = |at: Position, message: String| SqlError { statement: index, kind: kind_hint, at, message };
    let tokens = drop_table_keyword_in_arguments(tokens);
    let mut parser = Parser::new(&GenericDialect {}).with_tokens_with_locations(tokens);
    let parse_error = |e: ParserError| {
        let (message, position) = split_position(&e.to_string());
        error(position.unwrap_or(end), message)
    };
    let kind = match kind_hint {
        "SET" => set(&mut parser).map_err(parse_error)?,
        "RESET" => {
            parser.next_token();
            let key = if parser.peek_token().token == Token::EOF { None } else { Some(setting_text(&mut parser).map_err(parse_error)?) };
            StatementKind::Reset { key }
        }
        "CREATE TABLE" => StatementKind::CreateTable(Box::new(ddl::create_table(&mut parser).map_err(parse_error)?)),
        "CREATE VIEW" => match parser.parse_statement().map_err(parse_error)? {
            ast::Statement::CreateView(v) => {
                StatementKind::CreateView { name: v.name.0.last().map(|p| p.to_string()).unwrap_or_default(), query: v.query }
            }
            other => {
                return Err(error(at, format!("'{}' is not supported: CREATE TABLE and CREATE VIEW are", excerpt(&other.to_string()))))
            }
        },
        "INSERT INTO" => match parser.parse_statement().map_err(parse_error)? {
            ast::Statement::Insert(insert) => {
                let table = match &insert.table {
                    ast::TableObject::TableName(name) => name.0.last().map(|p| p.to_string()).unwrap_or_default(),
                    other => return Err(error(at, format!("INSERT INTO {other}: name a table"))),
                };
                if !insert.columns.is_empty() {
                    return Err(error(
                        at,
                        "INSERT INTO a list of columns is not supported: select every column of the table in order".into(),
                    ));
                }
                let query = insert.source.ok_or_else(|| error(at, "INSERT INTO needs a query (SELECT …)".into()))?;
                StatementKind::Insert { table: unquote(&table), query }
            }
            other => return Err(error(at, format!("'{}' is not supported", excerpt(&other.to_string())))),
        },
        "SELECT" => {
            let query = parser.parse_query().map_err(parse_error)?;
            StatementKind::Select(query)
        }
        _ => {
            return Err(error(
                at,
                format!(
                    "'{}' is not supported: a script holds SET, RESET, CREATE TABLE, CREATE VIEW, INSERT INTO, SELECT and statement sets",
                    first
                ),
            ))
        }
    };
    if parser.peek_token().token != Token::EOF {
        let t = parser.peek_token();
        return Err(error(Position::of(&t), format!("expected the end of the statement (a ';'), found: {}", t.token)));
    }
    out.push(Statement { index, at, kind });
    Ok(out)
}

/// `SET 'key' = 'value'` (Flink's form), `SET key = value`, or `SET` alone (an error
/// here: there is no session to list).
fn set(parser: &mut Parser) -> Result<StatementKind, ParserError> {
    parser.next_token();
    if parser.peek_token().token == Token::EOF {
        return parser.expected("'key' = 'value' after SET", parser.peek_token());
    }
    let key = setting_text(parser)?;
    parser.expect_token(&Token::Eq)?;
    let value = setting_text(parser)?;
    Ok(StatementKind::Set { key, value })
}

/// A key or value of SET: a quoted string, a number, or dotted words.
fn setting_text(parser: &mut Parser) -> Result<String, ParserError> {
    let t = parser.next_token();
    let mut text = match t.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => return Ok(s),
        Token::Number(n, _) => return Ok(n),
        Token::Word(w) => w.value,
        _ => return parser.expected("a quoted key or value", t),
    };
    while parser.consume_token(&Token::Period) {
        let t = parser.next_token();
        match t.token {
            Token::Word(w) => {
                text.push('.');
                text.push_str(&w.value);
            }
            _ => return parser.expected("a word after '.'", t),
        }
    }
    Ok(text)
}

/// Flink's window functions take `TABLE t` as an argument, which `sqlparser` does not
/// parse: the keyword is dropped (an identifier argument means the same here).
fn drop_table_keyword_in_arguments(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut iter = tokens.into_iter().peekable();
    while let Some(t) = iter.next() {
        let is_table = matches!(&t.token, Token::Word(w) if w.keyword == Keyword::TABLE);
        let after_open = matches!(out.last().map(|p| &p.token), Some(Token::LParen | Token::Comma));
        let before_name = matches!(iter.peek().map(|n| &n.token), Some(Token::Word(_)));
        if is_table && after_open && before_name {
            continue;
        }
        out.push(t);
    }
    out
}

/// Splits sqlparser's "… at Line: L, Column: C" into the message and the position.
fn split_position(message: &str) -> (String, Option<Position>) {
    let message = message.trim_start_matches("sql parser error: ");
    if let Some((text, pos)) = message.rsplit_once(" at Line: ") {
        if let Some((line, column)) = pos.split_once(", Column: ") {
            if let (Ok(line), Ok(column)) = (line.trim().parse::<u32>(), column.trim().parse::<u32>()) {
                if line > 0 {
                    return (text.to_string(), Some(Position { line, column }));
                }
            }
        }
    }
    (message.to_string(), None)
}

/// An identifier without its quotes.
pub fn unquote(name: &str) -> String {
    let t = name.trim();
    for (open, close) in [('`', '`'), ('"', '"')] {
        if t.len() >= 2 && t.starts_with(open) && t.ends_with(close) {
            return t[1..t.len() - 1].to_string();
        }
    }
    t.to_string()
}

/// The first 80 characters of a statement, for messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_keep_their_positions() {
        let text = "SET 'parallelism.default' = '2';\n-- a comment; with a semicolon\nCREATE TABLE t (a INT) WITH ('connector' = 'datagen');\n\n  INSERT INTO s SELECT a FROM t;";
        let s = parse_script(text).unwrap();
        assert_eq!(s.len(), 3);
        assert!(matches!(&s[0].kind, StatementKind::Set { key, value } if key == "parallelism.default" && value == "2"));
        assert_eq!(s[1].at, Position { line: 3, column: 1 });
        assert_eq!(s[2].at, Position { line: 5, column: 3 });
        assert!(matches!(&s[2].kind, StatementKind::Insert { table, .. } if table == "s"));
    }

    #[test]
    fn statement_sets_open_and_close() {
        let text = "EXECUTE STATEMENT SET BEGIN\nINSERT INTO a SELECT * FROM t;\nINSERT INTO b SELECT * FROM t;\nEND;";
        let kinds: Vec<&str> = parse_script(text).unwrap().iter().map(|s| s.kind.describe()).collect();
        assert_eq!(kinds, ["BEGIN STATEMENT SET", "INSERT INTO", "INSERT INTO", "END"]);
    }

    #[test]
    fn window_functions_parse_with_table_arguments() {
        let text = "INSERT INTO out SELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end";
        assert!(matches!(parse_script(text).unwrap()[0].kind, StatementKind::Insert { .. }));
    }

    #[test]
    fn errors_name_statement_line_and_column() {
        let text = "SET 'a' = 'b';\nINSERT INTO out\nSELECT a,, b FROM t;";
        let e = parse_script(text).unwrap_err();
        assert_eq!((e.statement, e.kind, e.at), (2, "INSERT INTO", Position { line: 3, column: 10 }), "{e:?}");
        assert!(e.message.contains("Expected"), "{e:?}");
        let e = parse_script("SELECT a FROM").unwrap_err();
        assert_eq!((e.statement, e.at.line), (1, 1), "{e:?}");
        let e = parse_script("DROP TABLE x").unwrap_err();
        assert!(e.message.contains("'DROP' is not supported"), "{e:?}");
        let e = parse_script("SELECT 'unterminated").unwrap_err();
        assert_eq!(e.at.line, 1, "{e:?}");
    }
}
