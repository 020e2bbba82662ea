//! Flink's `CREATE TABLE`, which `sqlparser` does not parse: physical columns with
//! Flink SQL types, computed columns (`name AS expr`), `WATERMARK FOR col AS expr`,
//! `PRIMARY KEY (…) NOT ENFORCED`, `COMMENT`s, and the `WITH ('key' = 'value', …)`
//! options that choose and configure the connector. Each part keeps its position.

use arrow::datatypes::DataType;
use sqlparser::ast;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::script::{unquote, Position};
use crate::job::types::parse_sql_type;

/// A parsed `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    pub name: String,
    pub at: Position,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDef>,
    pub watermark: Option<WatermarkDef>,
    /// Columns of `PRIMARY KEY (…) NOT ENFORCED`.
    pub primary_key: Vec<String>,
    pub options: Vec<TableOption>,
}

#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub at: Position,
    pub kind: ColumnKind,
}

#[derive(Debug, Clone)]
pub enum ColumnKind {
    /// Stored by the connector, with its type.
    Physical(DataType),
    /// Computed from the other columns of the row.
    Computed(Box<ast::Expr>),
}

/// `WATERMARK FOR column AS expr`.
#[derive(Debug, Clone)]
pub struct WatermarkDef {
    pub column: String,
    pub expr: ast::Expr,
    pub at: Position,
}

/// One `'key' = 'value'` of `WITH (…)`.
#[derive(Debug, Clone)]
pub struct TableOption {
    pub key: String,
    pub value: String,
    pub at: Position,
}

impl CreateTable {
    /// The value of option `key`, with its position.
    pub fn option(&self, key: &str) -> Option<&TableOption> {
        self.options.iter().find(|o| o.key == key)
    }
}

/// Parses `CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name (…) [COMMENT '…']
/// [PARTITIONED BY (…)] WITH (…)`; the parser stands at `CREATE`.
pub fn create_table(p: &mut Parser) -> Result<CreateTable, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    let _temporary = p.parse_keyword(Keyword::TEMPORARY);
    p.expect_keyword(Keyword::TABLE)?;
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let at = Position::of(&p.peek_token());
    let name = p.parse_object_name(false)?;
    let name = unquote(&name.0.last().map(|n| n.to_string()).unwrap_or_default());
    p.expect_token(&Token::LParen)?;
    let mut table =
        CreateTable { name, at, if_not_exists, columns: Vec::new(), watermark: None, primary_key: Vec::new(), options: Vec::new() };
    loop {
        element(p, &mut table)?;
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen)?;
        break;
    }
    if p.parse_keyword(Keyword::COMMENT) {
        p.parse_literal_string()?;
    }
    if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
        return p.expected("WITH (PARTITIONED BY is not supported)", p.peek_token());
    }
    p.expect_keyword(Keyword::WITH)?;
    p.expect_token(&Token::LParen)?;
    loop {
        let at = Position::of(&p.peek_token());
        let key = p.parse_literal_string()?;
        p.expect_token(&Token::Eq)?;
        let value = p.parse_literal_string()?;
        if table.options.iter().any(|o| o.key == key) {
            return Err(ParserError::ParserError(format!("option '{key}' is given twice at Line: {}, Column: {}", at.line, at.column)));
        }
        table.options.push(TableOption { key, value, at });
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen)?;
        break;
    }
    if p.parse_keyword(Keyword::LIKE) {
        return p.expected("the end of CREATE TABLE (LIKE is not supported)", p.peek_token());
    }
    Ok(table)
}

/// One element of the column list.
fn element(p: &mut Parser, table: &mut CreateTable) -> Result<(), ParserError> {
    let start = p.peek_token();
    let at = Position::of(&start);
    let first = match &start.token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        _ => String::new(),
    };
    match first.as_str() {
        "WATERMARK" if matches!(&p.peek_nth_token(1).token, Token::Word(w) if w.keyword == Keyword::FOR) => {
            p.next_token();
            p.next_token();
            let column = unquote(&p.parse_identifier()?.value);
            p.expect_keyword(Keyword::AS)?;
            let expr = p.parse_expr()?;
            if table.watermark.is_some() {
                return Err(ParserError::ParserError(format!(
                    "a table has at most one WATERMARK at Line: {}, Column: {}",
                    at.line, at.column
                )));
            }
            table.watermark = Some(WatermarkDef { column, expr, at });
            return Ok(());
        }
        "PRIMARY" | "CONSTRAINT" => {
            if p.parse_keyword(Keyword::CONSTRAINT) {
                p.parse_identifier()?;
            }
            p.expect_keywords(&[Keyword::PRIMARY, Keyword::KEY])?;
            p.expect_token(&Token::LParen)?;
            table.primary_key = p.parse_comma_separated(|p| p.parse_identifier())?.into_iter().map(|i| i.value).collect();
            p.expect_token(&Token::RParen)?;
            p.expect_keywords(&[Keyword::NOT, Keyword::ENFORCED])?;
            return Ok(());
        }
        _ => {}
    }
    let name = p.parse_identifier()?.value;
    if table.columns.iter().any(|c| c.name == name) {
        return Err(ParserError::ParserError(format!("column '{name}' appears twice at Line: {}, Column: {}", at.line, at.column)));
    }
    let kind = if p.parse_keyword(Keyword::AS) {
        ColumnKind::Computed(Box::new(p.parse_expr()?))
    } else {
        let ty = data_type(p, &mut 0, 0)?;
        if p.parse_keyword(Keyword::METADATA) {
            return Err(ParserError::ParserError(format!(
                "METADATA columns are not supported at Line: {}, Column: {}",
                at.line, at.column
            )));
        }
        let _nullability = p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) || p.parse_keyword(Keyword::NULL);
        ColumnKind::Physical(ty)
    };
    if p.parse_keyword(Keyword::COMMENT) {
        p.parse_literal_string()?;
    }
    table.columns.push(ColumnDef { name, at, kind });
    Ok(())
}

/// `ROW<name TYPE [COMMENT '…'], …>`; the parser stands at `<`.
fn row_type(p: &mut Parser, owed: &mut u32, depth: usize, start: &sqlparser::tokenizer::TokenWithSpan) -> Result<DataType, ParserError> {
    if depth >= 8 {
        return Err(ParserError::ParserError(format!(
            "ROW types nest at most 8 deep at Line: {}, Column: {}",
            start.span.start.line, start.span.start.column
        )));
    }
    p.expect_token(&Token::Lt)?;
    let mut fields: Vec<arrow::datatypes::Field> = Vec::new();
    loop {
        let name = p.parse_identifier()?.value;
        let ty = data_type(p, owed, depth + 1)?;
        if p.parse_keyword(Keyword::COMMENT) {
            p.parse_literal_string()?;
        }
        fields.push(arrow::datatypes::Field::new(name, ty, true));
        if *owed > 0 {
            // A nested ROW's `>>` closed this one too.
            *owed -= 1;
            break;
        }
        if p.consume_token(&Token::Comma) {
            continue;
        }
        if p.consume_token(&Token::ShiftRight) {
            *owed += 1;
            break;
        }
        p.expect_token(&Token::Gt)?;
        break;
    }
    Ok(DataType::Struct(fields.into()))
}

/// A Flink SQL type, as [`parse_sql_type`] maps it.
/// `owed` counts `>` a nested ROW consumed for its enclosing ones (`>>` is one token).
fn data_type(p: &mut Parser, owed: &mut u32, depth: usize) -> Result<DataType, ParserError> {
    let t = p.next_token();
    let Token::Word(w) = &t.token else {
        return p.expected("a type (BIGINT, INT, DOUBLE, STRING, BOOLEAN, TIMESTAMP(3), …)", t);
    };
    let name = w.value.to_ascii_uppercase();
    if name == "ROW" && p.peek_token().token == Token::Lt {
        return row_type(p, owed, depth, &t);
    }
    // A length, precision or scale: (n) or (p, s).
    let mut numbers = Vec::new();
    if p.consume_token(&Token::LParen) {
        loop {
            let n = p.next_token();
            match n.token {
                Token::Number(text, _) => numbers.push(text),
                _ => return p.expected("a number", n),
            }
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
    }
    match name.as_str() {
        "DOUBLE" => {
            let _ = p.parse_keyword(Keyword::PRECISION);
        }
        "TIMESTAMP" => {
            if p.parse_keyword(Keyword::WITHOUT) {
                p.expect_keywords(&[Keyword::TIME, Keyword::ZONE])?;
            } else if p.parse_keyword(Keyword::WITH) {
                p.expect_keywords(&[Keyword::LOCAL, Keyword::TIME, Keyword::ZONE])?;
            }
        }
        _ => {}
    }
    let at = format!("at Line: {}, Column: {}", t.span.start.line, t.span.start.column);
    let ty = match name.as_str() {
        "ROW" | "ARRAY" | "MAP" | "MULTISET" => return Err(ParserError::ParserError(format!("{name} columns are not supported yet {at}"))),
        _ => parse_sql_type(&name).ok_or_else(|| {
            ParserError::ParserError(format!(
                "unknown type {name} (BIGINT, INT, SMALLINT, TINYINT, DOUBLE, FLOAT, DECIMAL, STRING, VARCHAR, CHAR, BOOLEAN, TIMESTAMP, TIMESTAMP_LTZ) {at}"
            ))
        })?,
    };
    Ok(ty)
}

#[cfg(test)]
mod tests {
    use super::super::script::{parse_script, StatementKind};
    use super::*;

    fn table(sql: &str) -> CreateTable {
        match parse_script(sql).unwrap().remove(0).kind {
            StatementKind::CreateTable(t) => *t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flink_ddl_parses() {
        let t = table(
            "CREATE TABLE IF NOT EXISTS `orders` (\n  id BIGINT NOT NULL COMMENT 'the id',\n  price DECIMAL(10, 2),\n  name VARCHAR(20),\n  ts TIMESTAMP(3) WITHOUT TIME ZONE,\n  total AS price * 2,\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND,\n  PRIMARY KEY (id) NOT ENFORCED\n) COMMENT 'x' WITH ('connector' = 'datagen', 'rows-per-second' = '5')",
        );
        assert_eq!(t.name, "orders");
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "price", "name", "ts", "total"]);
        assert!(matches!(t.columns[1].kind, ColumnKind::Physical(DataType::Float64)));
        assert!(matches!(t.columns[4].kind, ColumnKind::Computed(_)));
        assert_eq!(t.watermark.as_ref().unwrap().column, "ts");
        assert_eq!(t.primary_key, ["id"]);
        assert_eq!(t.option("rows-per-second").unwrap().value, "5");
        assert_eq!(t.option("connector").unwrap().at, Position { line: 9, column: 21 });
    }

    #[test]
    fn ddl_errors_point_at_the_problem() {
        let e = parse_script("CREATE TABLE t (a INT, a BIGINT) WITH ('connector' = 'print')").unwrap_err();
        assert!(e.message.contains("column 'a' appears twice"), "{e:?}");
        assert_eq!(e.at, Position { line: 1, column: 24 });
        let e = parse_script("CREATE TABLE t (a BLOB) WITH ('connector' = 'print')").unwrap_err();
        assert!(e.message.contains("unknown type BLOB"), "{e:?}");
        let e = parse_script("CREATE TABLE t (a INT)").unwrap_err();
        assert!(e.message.contains("WITH"), "{e:?}");
        let e = parse_script("CREATE TABLE t (a INT) WITH ('k' = 'v', 'k' = 'w')").unwrap_err();
        assert!(e.message.contains("option 'k' is given twice"), "{e:?}");
    }
}
