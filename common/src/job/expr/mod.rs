//! SQL expressions of job files (`price * quantity`, `status = 'PAID' AND qty > 0`),
//! parsed with `sqlparser`, type-checked against a schema, and evaluated a whole Arrow
//! batch at a time with Arrow's compute kernels. Time, string and null functions are
//! [`functions`]'.

pub mod functions;

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Datum, Float64Array, Int32Array, Int64Array, Scalar, StringArray, StringBuilder,
    TimestampMillisecondArray, UInt32Array,
};
use arrow::compute::kernels::{boolean, cmp, numeric, zip};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use sqlparser::ast::{self, BinaryOperator, FunctionArg, FunctionArgExpr, FunctionArguments, SelectItem, UnaryOperator};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::types::{is_numeric, parse_type, timestamp_type, type_name};

/// A problem with an expression; the planner adds file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(msg.into()))
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScalarValue {
    Null,
    Boolean(bool),
    Int32(i32),
    Int64(i64),
    Float64(f64),
    Utf8(String),
}

impl ScalarValue {
    fn data_type(&self) -> DataType {
        match self {
            ScalarValue::Null => DataType::Null,
            ScalarValue::Boolean(_) => DataType::Boolean,
            ScalarValue::Int32(_) => DataType::Int32,
            ScalarValue::Int64(_) => DataType::Int64,
            ScalarValue::Float64(_) => DataType::Float64,
            ScalarValue::Utf8(_) => DataType::Utf8,
        }
    }

    fn to_array(&self) -> ArrayRef {
        match self {
            ScalarValue::Null => new_null_array(&DataType::Null, 1),
            ScalarValue::Boolean(v) => Arc::new(BooleanArray::from(vec![*v])),
            ScalarValue::Int32(v) => Arc::new(Int32Array::from(vec![*v])),
            ScalarValue::Int64(v) => Arc::new(Int64Array::from(vec![*v])),
            ScalarValue::Float64(v) => Arc::new(Float64Array::from(vec![*v])),
            ScalarValue::Utf8(v) => Arc::new(StringArray::from(vec![v.as_str()])),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    Concat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Func {
    Upper,
    Lower,
    Concat,
    Abs,
    CharLength,
    /// ROUND(x, digits): half away from zero, to DOUBLE.
    Round(i32),
    /// TIMESTAMPADD(unit, n, ts) and ts ± INTERVAL: args (n, ts), the unit in ms.
    TimestampAdd(i64),
    /// EXTRACT(part FROM ts), the part as [`functions::date_part_of`] numbers it.
    Extract(u8),
    /// DATE_FORMAT(ts, pattern), the pattern as a chrono format.
    DateFormat(String),
    ToTimestamp,
    /// `[NOT] LIKE`: args (text, pattern).
    Like {
        negated: bool,
    },
    /// SUBSTRING(s FROM start FOR length), start 0-based.
    Substring {
        start: i64,
        length: Option<u64>,
    },
    Coalesce,
}

/// A compiled, typed expression over the columns of one schema.
#[derive(Debug, Clone)]
pub enum Expr {
    Column {
        index: usize,
        name: String,
        ty: DataType,
    },
    Literal(ScalarValue),
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
        ty: DataType,
    },
    Not(Box<Expr>),
    Negate(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Cast {
        expr: Box<Expr>,
        ty: DataType,
    },
    Case {
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
        ty: DataType,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
        ty: DataType,
    },
    /// A field of a ROW value (`person.id`).
    Field {
        expr: Box<Expr>,
        index: usize,
        ty: DataType,
    },
}

/// A value during evaluation: a whole column, or one value standing for every row.
pub enum ColumnarValue {
    Array(ArrayRef),
    Scalar(ArrayRef),
}

impl ColumnarValue {
    fn datum(&self) -> Box<dyn Datum + '_> {
        match self {
            ColumnarValue::Array(a) => Box::new(a),
            ColumnarValue::Scalar(s) => Box::new(Scalar::new(s.clone())),
        }
    }

    /// Expands to an array of `rows` values.
    pub fn into_array(self, rows: usize) -> Result<ArrayRef, ArrowError> {
        match self {
            ColumnarValue::Array(a) => Ok(a),
            ColumnarValue::Scalar(s) => take(&s, &UInt32Array::from(vec![0u32; rows]), None),
        }
    }
}

impl Expr {
    pub fn data_type(&self) -> DataType {
        match self {
            Expr::Column { ty, .. }
            | Expr::Binary { ty, .. }
            | Expr::Cast { ty, .. }
            | Expr::Case { ty, .. }
            | Expr::Call { ty, .. }
            | Expr::Field { ty, .. } => ty.clone(),
            Expr::Literal(v) => v.data_type(),
            Expr::Not(_) | Expr::IsNull { .. } => DataType::Boolean,
            Expr::Negate(e) => e.data_type(),
        }
    }

    /// Evaluates over a batch to an array of `batch.num_rows()` values.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef, ArrowError> {
        self.eval(batch)?.into_array(batch.num_rows())
    }

    /// Levels of nesting: 1 for a column or literal.
    pub fn depth(&self) -> usize {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || {
            1 + match self {
                Expr::Column { .. } | Expr::Literal(_) => 0,
                Expr::Binary { left, right, .. } => left.depth().max(right.depth()),
                Expr::Not(e)
                | Expr::Negate(e)
                | Expr::IsNull { expr: e, .. }
                | Expr::Cast { expr: e, .. }
                | Expr::Field { expr: e, .. } => e.depth(),
                Expr::Case { whens, otherwise, .. } => {
                    whens.iter().map(|(c, r)| c.depth().max(r.depth())).chain(otherwise.iter().map(|o| o.depth())).max().unwrap_or(0)
                }
                Expr::Call { args, .. } => args.iter().map(Expr::depth).max().unwrap_or(0),
            }
        })
    }

    fn eval(&self, batch: &RecordBatch) -> Result<ColumnarValue, ArrowError> {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.eval_node(batch))
    }

    fn eval_node(&self, batch: &RecordBatch) -> Result<ColumnarValue, ArrowError> {
        Ok(match self {
            Expr::Column { index, .. } => ColumnarValue::Array(batch.column(*index).clone()),
            Expr::Field { expr, index, .. } => {
                let row = expr.evaluate(batch)?;
                let row = row
                    .as_any()
                    .downcast_ref::<arrow::array::StructArray>()
                    .ok_or_else(|| ArrowError::CastError("expected a ROW".into()))?;
                // A null row has null fields.
                let field = row.column(*index).clone();
                ColumnarValue::Array(match row.logical_nulls() {
                    Some(nulls) if nulls.null_count() > 0 => {
                        let data = field
                            .to_data()
                            .into_builder()
                            .nulls(arrow::buffer::NullBuffer::union(Some(&nulls), field.logical_nulls().as_ref()))
                            .build()?;
                        arrow::array::make_array(data)
                    }
                    _ => field,
                })
            }
            Expr::Literal(v) => ColumnarValue::Scalar(v.to_array()),
            Expr::Binary { op, left, right, .. } => {
                let l = left.eval(batch)?;
                let r = right.eval(batch)?;
                if matches!(op, BinOp::And | BinOp::Or | BinOp::Concat) {
                    let rows = batch.num_rows();
                    let (la, ra) = (l.into_array(rows)?, r.into_array(rows)?);
                    return Ok(ColumnarValue::Array(match op {
                        BinOp::And => Arc::new(boolean::and_kleene(as_bool(&la)?, as_bool(&ra)?)?),
                        BinOp::Or => Arc::new(boolean::or_kleene(as_bool(&la)?, as_bool(&ra)?)?),
                        _ => concat_strings(&[la, ra])?,
                    }));
                }
                let scalar = matches!((&l, &r), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
                let (ld, rd) = (l.datum(), r.datum());
                let (ld, rd) = (ld.as_ref(), rd.as_ref());
                let out: ArrayRef = match op {
                    BinOp::Add => numeric::add(ld, rd)?,
                    BinOp::Sub => numeric::sub(ld, rd)?,
                    BinOp::Mul => numeric::mul(ld, rd)?,
                    BinOp::Div => numeric::div(ld, rd)?,
                    BinOp::Mod => numeric::rem(ld, rd)?,
                    BinOp::Eq => Arc::new(cmp::eq(ld, rd)?),
                    BinOp::NotEq => Arc::new(cmp::neq(ld, rd)?),
                    BinOp::Lt => Arc::new(cmp::lt(ld, rd)?),
                    BinOp::LtEq => Arc::new(cmp::lt_eq(ld, rd)?),
                    BinOp::Gt => Arc::new(cmp::gt(ld, rd)?),
                    BinOp::GtEq => Arc::new(cmp::gt_eq(ld, rd)?),
                    BinOp::And | BinOp::Or | BinOp::Concat => unreachable!("handled above"),
                };
                if scalar {
                    ColumnarValue::Scalar(out)
                } else {
                    ColumnarValue::Array(out)
                }
            }
            Expr::Not(e) => {
                let a = e.evaluate(batch)?;
                ColumnarValue::Array(Arc::new(boolean::not(as_bool(&a)?)?))
            }
            Expr::Negate(e) => {
                let a = e.evaluate(batch)?;
                ColumnarValue::Array(numeric::neg(&a)?)
            }
            Expr::IsNull { expr, negated } => {
                let a = expr.evaluate(batch)?;
                ColumnarValue::Array(Arc::new(if *negated { boolean::is_not_null(&a)? } else { boolean::is_null(&a)? }))
            }
            Expr::Cast { expr, ty } => match expr.eval(batch)? {
                ColumnarValue::Array(a) => ColumnarValue::Array(cast(&a, ty)?),
                ColumnarValue::Scalar(s) => ColumnarValue::Scalar(cast(&s, ty)?),
            },
            Expr::Case { whens, otherwise, ty } => {
                let rows = batch.num_rows();
                let mut result = match otherwise {
                    Some(e) => e.evaluate(batch)?,
                    None => new_null_array(ty, rows),
                };
                for (cond, then) in whens.iter().rev() {
                    let c = cond.evaluate(batch)?;
                    let t = then.evaluate(batch)?;
                    result = zip::zip(as_bool(&c)?, &t, &result)?;
                }
                ColumnarValue::Array(result)
            }
            Expr::Call { func: Func::Like { negated }, args, .. } => {
                let (text, pattern) = (args[0].eval(batch)?, args[1].eval(batch)?);
                let (t, p) = (text.datum(), pattern.datum());
                let kernel = if *negated { arrow::compute::kernels::comparison::nlike } else { arrow::compute::kernels::comparison::like };
                ColumnarValue::Array(Arc::new(kernel(t.as_ref(), p.as_ref())?))
            }
            Expr::Call { func, args, .. } => {
                let arrays = args.iter().map(|a| a.evaluate(batch)).collect::<Result<Vec<_>, _>>()?;
                ColumnarValue::Array(match func {
                    Func::Concat => concat_strings(&arrays)?,
                    Func::Upper | Func::Lower => {
                        let s = arrays[0]
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .ok_or_else(|| ArrowError::CastError("expected STRING".into()))?;
                        let mut b = StringBuilder::with_capacity(s.len(), s.value_data().len());
                        for v in s.iter() {
                            match v {
                                Some(v) if *func == Func::Upper => b.append_value(v.to_uppercase()),
                                Some(v) => b.append_value(v.to_lowercase()),
                                None => b.append_null(),
                            }
                        }
                        Arc::new(b.finish())
                    }
                    Func::Abs => {
                        let a = &arrays[0];
                        let zero = ScalarValue::Int64(0).to_array();
                        let zero = cast(&zero, a.data_type())?;
                        let negative = cmp::lt(a, &Scalar::new(zero))?;
                        zip::zip(&negative, &numeric::neg(a)?, a)?
                    }
                    Func::CharLength => cast(&arrow::compute::kernels::length::length(&arrays[0])?, &DataType::Int32)?,
                    Func::Round(digits) => {
                        let x = cast(&arrays[0], &DataType::Float64)?;
                        let x = x.as_any().downcast_ref::<Float64Array>().expect("cast to Float64");
                        let scale = 10f64.powi(*digits);
                        Arc::new(x.unary::<_, arrow::datatypes::Float64Type>(|v| (v * scale).round() / scale))
                    }
                    other => functions::evaluate(other, &arrays)?,
                })
            }
        })
    }
}

fn as_bool(a: &ArrayRef) -> Result<&BooleanArray, ArrowError> {
    a.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| ArrowError::CastError("expected BOOLEAN".into()))
}

fn concat_strings(arrays: &[ArrayRef]) -> Result<ArrayRef, ArrowError> {
    let strings = arrays.iter().map(|a| cast(a, &DataType::Utf8)).collect::<Result<Vec<_>, _>>()?;
    let rows = strings.first().map(|a| a.len()).unwrap_or(0);
    let typed: Vec<&StringArray> = strings.iter().map(|a| a.as_any().downcast_ref::<StringArray>().expect("cast to Utf8")).collect();
    let mut b = StringBuilder::with_capacity(rows, typed.iter().map(|a| a.value_data().len()).sum());
    let mut row = String::new();
    for i in 0..rows {
        if typed.iter().any(|a| a.is_null(i)) {
            b.append_null();
            continue;
        }
        row.clear();
        for a in &typed {
            row.push_str(a.value(i));
        }
        b.append_value(&row);
    }
    Ok(Arc::new(b.finish()))
}

// ---------------------------------------------------------------------------------
// Parsing and compilation
// ---------------------------------------------------------------------------------

/// Stack left before a recursion step moves to a fresh segment, and that segment's
/// size: deep (but bounded) expressions never overflow a thread's stack.
const STACK_RED_ZONE: usize = 128 * 1024;
const STACK_SEGMENT: usize = 2 * 1024 * 1024;

/// `sql` shortened for an error message.
fn excerpt(sql: &str) -> String {
    match sql.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &sql[..i]),
        None => sql.to_string(),
    }
}

/// A parser over `sql`, once its size is within the limits: the text, then its
/// tokens (which bound the size and depth of the syntax tree).
fn parser(sql: &str) -> Result<Parser<'static>, ExprError> {
    use super::limits::{MAX_EXPRESSION_BYTES, MAX_EXPRESSION_TOKENS};
    static DIALECT: GenericDialect = GenericDialect {};
    if sql.len() > MAX_EXPRESSION_BYTES {
        return err(format!("expression '{}' is {} bytes; at most {MAX_EXPRESSION_BYTES} are allowed", excerpt(sql), sql.len()));
    }
    let tokens = sqlparser::tokenizer::Tokenizer::new(&DIALECT, sql)
        .tokenize()
        .map_err(|e| ExprError(format!("cannot parse '{}': {e}", excerpt(sql))))?;
    let count = tokens.iter().filter(|t| !matches!(t, sqlparser::tokenizer::Token::Whitespace(_))).count();
    if count > MAX_EXPRESSION_TOKENS {
        return err(format!("expression '{}' has {count} tokens; at most {MAX_EXPRESSION_TOKENS} are allowed", excerpt(sql)));
    }
    Ok(Parser::new(&DIALECT).with_tokens(tokens))
}

fn expect_end(p: &mut Parser, sql: &str) -> Result<(), ExprError> {
    let t = p.peek_token();
    if t.token != sqlparser::tokenizer::Token::EOF {
        return err(format!("unexpected '{}' in '{sql}'", t.token));
    }
    Ok(())
}

/// Parses one SQL expression.
pub fn parse_expr(sql: &str) -> Result<ast::Expr, ExprError> {
    let mut p = parser(sql)?;
    let e = p.parse_expr().map_err(|e| ExprError(format!("cannot parse '{sql}': {e}")))?;
    expect_end(&mut p, sql)?;
    Ok(e)
}

/// Parses a select list: `a, b * 2 AS c, SUM(x) AS total`. Each item is (expr, alias).
pub fn parse_select_list(sql: &str) -> Result<Vec<(ast::Expr, Option<String>)>, ExprError> {
    let mut p = parser(sql)?;
    let items = p.parse_comma_separated(Parser::parse_select_item).map_err(|e| ExprError(format!("cannot parse '{sql}': {e}")))?;
    expect_end(&mut p, sql)?;
    items
        .into_iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) => Ok((e, None)),
            SelectItem::ExprWithAlias { expr, alias } => Ok((expr, Some(alias.value))),
            other => err(format!("'{other}' is not supported in a select list")),
        })
        .collect()
}

/// Parses an order-by list: `revenue DESC, product_id`. Each item is (expr, descending).
pub fn parse_order_by(sql: &str) -> Result<Vec<(ast::Expr, bool)>, ExprError> {
    let mut p = parser(sql)?;
    let items = p.parse_comma_separated(Parser::parse_order_by_expr).map_err(|e| ExprError(format!("cannot parse '{sql}': {e}")))?;
    expect_end(&mut p, sql)?;
    Ok(items.into_iter().map(|o| (o.expr, matches!(o.options.sort, Some(ast::OrderBySort::Desc)))).collect())
}

/// The name an unaliased select item gets: a column's own name.
pub fn default_name(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Identifier(id) => Some(id.value.clone()),
        ast::Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.clone()),
        _ => None,
    }
}

/// Compiles a parsed expression against `schema`, checking column names and types
/// and that it nests at most [`MAX_EXPRESSION_DEPTH`](super::limits::MAX_EXPRESSION_DEPTH) levels.
pub fn compile(e: &ast::Expr, schema: &Schema) -> Result<Expr, ExprError> {
    let compiled = compile_at(e, schema, 0)?;
    let depth = compiled.depth();
    if depth > super::limits::MAX_EXPRESSION_DEPTH {
        return err(format!("expression nests {depth} levels deep; at most {} are allowed", super::limits::MAX_EXPRESSION_DEPTH));
    }
    Ok(compiled)
}

fn compile_at(e: &ast::Expr, schema: &Schema, depth: usize) -> Result<Expr, ExprError> {
    if depth > super::limits::MAX_EXPRESSION_DEPTH {
        return err(format!("expression nests more than {} levels deep", super::limits::MAX_EXPRESSION_DEPTH));
    }
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || compile_node(e, schema, depth + 1))
}

fn compile_node(e: &ast::Expr, schema: &Schema, depth: usize) -> Result<Expr, ExprError> {
    use ast::Expr as A;
    let compile = |e: &ast::Expr, schema: &Schema| compile_at(e, schema, depth);
    match e {
        A::Identifier(id) => column(&id.value, schema),
        A::CompoundIdentifier(ids) => compound(ids, schema),
        A::Value(v) => literal(&v.value).map(Expr::Literal),
        A::Nested(inner) => compile(inner, schema),
        A::UnaryOp { op, expr } => {
            let inner = compile(expr, schema)?;
            match op {
                UnaryOperator::Not => {
                    want_bool(&inner, "NOT")?;
                    Ok(Expr::Not(Box::new(inner)))
                }
                UnaryOperator::Minus => match inner {
                    Expr::Literal(ScalarValue::Int64(v)) => Ok(Expr::Literal(ScalarValue::Int64(-v))),
                    Expr::Literal(ScalarValue::Float64(v)) => Ok(Expr::Literal(ScalarValue::Float64(-v))),
                    other if is_numeric(&other.data_type()) => Ok(Expr::Negate(Box::new(other))),
                    other => err(format!("cannot negate a {} value", type_name(&other.data_type()))),
                },
                UnaryOperator::Plus => Ok(inner),
                other => err(format!("operator '{other}' is not supported")),
            }
        }
        A::BinaryOp { left, op: op @ (BinaryOperator::Plus | BinaryOperator::Minus), right }
            if matches!(right.as_ref(), A::Interval(_)) =>
        {
            let ts = compile(left, schema)?;
            functions::want_timestamp(&ts.data_type(), "adding an INTERVAL")?;
            let ms = functions::interval_ms(right).map_err(ExprError)?;
            let n =
                if *op == BinaryOperator::Minus { ms.checked_neg().ok_or_else(|| ExprError("interval out of range".into()))? } else { ms };
            Ok(Expr::Call { func: Func::TimestampAdd(1), args: vec![Expr::Literal(ScalarValue::Int64(n)), ts], ty: timestamp_type() })
        }
        A::Extract { field, expr, .. } => {
            let ts = compile(expr, schema)?;
            functions::want_timestamp(&ts.data_type(), "EXTRACT")?;
            Ok(Expr::Call { func: Func::Extract(functions::date_part_of(&field.to_string())?), args: vec![ts], ty: DataType::Int64 })
        }
        A::Like { negated, any: false, expr, pattern, escape_char: None } => {
            let (text, pattern) = (compile(expr, schema)?, compile(pattern, schema)?);
            want_type(&text, &DataType::Utf8, "LIKE")?;
            want_type(&pattern, &DataType::Utf8, "LIKE's pattern")?;
            Ok(Expr::Call { func: Func::Like { negated: *negated }, args: vec![text, pattern], ty: DataType::Boolean })
        }
        A::Substring { expr, substring_from, substring_for, .. } => {
            substring(compile(expr, schema)?, substring_from.as_deref(), substring_for.as_deref())
        }
        A::TypedString(ts) if ts.data_type.to_string().to_ascii_uppercase().starts_with("TIMESTAMP") => {
            let text = match &ts.value.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                other => return err(format!("TIMESTAMP {other}: give the time as 'YYYY-MM-DD HH:MM:SS'")),
            };
            parse_timestamp_millis(&text).ok_or_else(|| ExprError(format!("'{text}' is not a timestamp (YYYY-MM-DD HH:MM:SS)")))?;
            Ok(Expr::Cast { expr: Box::new(Expr::Literal(ScalarValue::Utf8(text))), ty: timestamp_type() })
        }
        A::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Plus => BinOp::Add,
                BinaryOperator::Minus => BinOp::Sub,
                BinaryOperator::Multiply => BinOp::Mul,
                BinaryOperator::Divide => BinOp::Div,
                BinaryOperator::Modulo => BinOp::Mod,
                BinaryOperator::Eq => BinOp::Eq,
                BinaryOperator::NotEq => BinOp::NotEq,
                BinaryOperator::Lt => BinOp::Lt,
                BinaryOperator::LtEq => BinOp::LtEq,
                BinaryOperator::Gt => BinOp::Gt,
                BinaryOperator::GtEq => BinOp::GtEq,
                BinaryOperator::And => BinOp::And,
                BinaryOperator::Or => BinOp::Or,
                BinaryOperator::StringConcat => BinOp::Concat,
                other => return err(format!("operator '{other}' is not supported")),
            };
            binary(op, compile(left, schema)?, compile(right, schema)?)
        }
        A::IsNull(inner) => Ok(Expr::IsNull { expr: Box::new(compile(inner, schema)?), negated: false }),
        A::IsNotNull(inner) => Ok(Expr::IsNull { expr: Box::new(compile(inner, schema)?), negated: true }),
        A::Between { expr, negated, low, high } => {
            let x = compile(expr, schema)?;
            let both = binary(
                BinOp::And,
                binary(BinOp::GtEq, x.clone(), compile(low, schema)?)?,
                binary(BinOp::LtEq, x, compile(high, schema)?)?,
            )?;
            Ok(if *negated { Expr::Not(Box::new(both)) } else { both })
        }
        A::In { expr, target: ast::InTarget::List(list), negated, .. } => {
            let x = compile(expr, schema)?;
            let mut any: Option<Expr> = None;
            for item in list {
                let eq = binary(BinOp::Eq, x.clone(), compile(item, schema)?)?;
                any = Some(match any {
                    None => eq,
                    Some(prev) => binary(BinOp::Or, prev, eq)?,
                });
            }
            let any = any.ok_or_else(|| ExprError("IN needs at least one value".into()))?;
            Ok(if *negated { Expr::Not(Box::new(any)) } else { any })
        }
        A::Cast { expr, data_type, .. } => {
            let inner = compile(expr, schema)?;
            let ty = parse_type(&data_type.to_string())
                .or_else(|| super::types::parse_sql_type(&data_type.to_string()))
                .ok_or_else(|| ExprError(format!("cannot CAST to {data_type}: use one of {}", super::types::TYPE_NAMES)))?;
            Ok(Expr::Cast { expr: Box::new(inner), ty })
        }
        A::Case { operand, conditions, else_result, .. } => {
            let operand = operand.as_ref().map(|o| compile(o, schema)).transpose()?;
            let mut whens = Vec::new();
            for w in conditions {
                let cond = compile(&w.condition, schema)?;
                let cond = match &operand {
                    Some(o) => binary(BinOp::Eq, o.clone(), cond)?,
                    None => {
                        want_bool(&cond, "WHEN")?;
                        cond
                    }
                };
                whens.push((cond, compile(&w.result, schema)?));
            }
            let otherwise = else_result.as_ref().map(|e| compile(e, schema)).transpose()?;
            let mut ty = DataType::Null;
            for t in whens.iter().map(|(_, r)| r.data_type()).chain(otherwise.iter().map(|e| e.data_type())) {
                ty = unify(&ty, &t).ok_or_else(|| ExprError(format!("CASE mixes {} and {} results", type_name(&ty), type_name(&t))))?;
            }
            let whens = whens.into_iter().map(|(c, r)| (c, coerce(r, &ty))).collect();
            let otherwise = otherwise.map(|e| Box::new(coerce(e, &ty)));
            Ok(Expr::Case { whens, otherwise, ty })
        }
        A::Function(f) if f.name.to_string().eq_ignore_ascii_case("TIMESTAMPADD") => {
            let raw = function_args(&f.args)?;
            let [Some(unit), Some(n), Some(ts)] = raw.as_slice() else {
                return err("TIMESTAMPADD takes (unit, count, timestamp)");
            };
            let (n, ts) = (compile(n, schema)?, compile(ts, schema)?);
            functions::want_timestamp(&ts.data_type(), "TIMESTAMPADD")?;
            if !is_numeric(&n.data_type()) {
                return err("TIMESTAMPADD's count must be a number");
            }
            Ok(Expr::Call { func: Func::TimestampAdd(functions::timestampadd_unit(unit)?), args: vec![n, ts], ty: timestamp_type() })
        }
        A::Function(f) => {
            let name = f.name.to_string().to_ascii_uppercase();
            let args = function_args(&f.args)?
                .iter()
                .map(|a| match a {
                    Some(e) => compile(e, schema),
                    None => err(format!("{name}(*) is only allowed for COUNT in aggregates")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let want = |n: usize| {
                if args.len() == n {
                    Ok(())
                } else {
                    err(format!("{name} takes {n} argument(s), got {}", args.len()))
                }
            };
            match name.as_str() {
                "UPPER" | "LOWER" => {
                    want(1)?;
                    want_type(&args[0], &DataType::Utf8, &name)?;
                    let func = if name == "UPPER" { Func::Upper } else { Func::Lower };
                    Ok(Expr::Call { func, args, ty: DataType::Utf8 })
                }
                "CONCAT" => {
                    if args.is_empty() {
                        return err("CONCAT needs arguments");
                    }
                    Ok(Expr::Call { func: Func::Concat, args, ty: DataType::Utf8 })
                }
                "ABS" => {
                    want(1)?;
                    let ty = args[0].data_type();
                    if !is_numeric(&ty) {
                        return err(format!("ABS needs a number, got {}", type_name(&ty)));
                    }
                    Ok(Expr::Call { func: Func::Abs, args, ty })
                }
                "CHAR_LENGTH" | "LENGTH" => {
                    want(1)?;
                    want_type(&args[0], &DataType::Utf8, &name)?;
                    Ok(Expr::Call { func: Func::CharLength, args, ty: DataType::Int32 })
                }
                "ROUND" => {
                    let digits = match (args.len(), args.get(1)) {
                        (1, _) => 0,
                        (2, Some(Expr::Literal(ScalarValue::Int64(d)))) if (-15..=15).contains(d) => *d as i32,
                        _ => return err("ROUND takes a number and an optional literal count of digits (-15 to 15)"),
                    };
                    let ty = args[0].data_type();
                    if !is_numeric(&ty) {
                        return err(format!("ROUND needs a number, got {}", type_name(&ty)));
                    }
                    Ok(Expr::Call { func: Func::Round(digits), args: vec![args[0].clone()], ty: DataType::Float64 })
                }
                "DATE_FORMAT" => {
                    want(2)?;
                    functions::want_timestamp(&args[0].data_type(), "DATE_FORMAT")?;
                    let Expr::Literal(ScalarValue::Utf8(pattern)) = &args[1] else {
                        return err("DATE_FORMAT's pattern must be a string literal such as 'yyyy-MM-dd HH:mm'");
                    };
                    let format = functions::java_pattern(pattern)?;
                    Ok(Expr::Call { func: Func::DateFormat(format), args: vec![args[0].clone()], ty: DataType::Utf8 })
                }
                "TO_TIMESTAMP" => {
                    want(1)?;
                    want_type(&args[0], &DataType::Utf8, "TO_TIMESTAMP")?;
                    Ok(Expr::Call { func: Func::ToTimestamp, args, ty: timestamp_type() })
                }
                "MOD" => {
                    want(2)?;
                    let mut args = args;
                    let right = args.pop().expect("two");
                    binary(BinOp::Mod, args.pop().expect("two"), right)
                }
                "SUBSTR" | "SUBSTRING" => {
                    let raw = function_args(&f.args)?;
                    let (from, len) = match raw.as_slice() {
                        [Some(_), Some(from)] => (Some(from), None),
                        [Some(_), Some(from), Some(len)] => (Some(from), Some(len)),
                        _ => return err(format!("{name} takes (text, start[, length])")),
                    };
                    substring(args[0].clone(), from, len)
                }
                "COALESCE" => {
                    if args.is_empty() {
                        return err("COALESCE needs arguments");
                    }
                    let mut ty = DataType::Null;
                    for a in &args {
                        let t = a.data_type();
                        ty = unify(&ty, &t).ok_or_else(|| ExprError(format!("COALESCE mixes {} and {}", type_name(&ty), type_name(&t))))?;
                    }
                    let args = args.into_iter().map(|a| coerce(a, &ty)).collect();
                    Ok(Expr::Call { func: Func::Coalesce, args, ty })
                }
                "COUNT" | "SUM" | "MIN" | "MAX" | "AVG" => {
                    err(format!("aggregate {name} is only allowed in an aggregate or window select"))
                }
                _ => err(format!(
                    "unknown function {name} (supported: UPPER, LOWER, CONCAT, ABS, CHAR_LENGTH, ROUND, MOD, SUBSTRING, COALESCE, DATE_FORMAT, TO_TIMESTAMP, TIMESTAMPADD, EXTRACT)"
                )),
            }
        }
        other => err(format!("'{other}' is not supported in expressions")),
    }
}

/// SUBSTRING(text FROM start [FOR length]) with literal start (1-based) and length.
fn substring(text: Expr, from: Option<&ast::Expr>, length: Option<&ast::Expr>) -> Result<Expr, ExprError> {
    want_type(&text, &DataType::Utf8, "SUBSTRING")?;
    let literal = |e: Option<&ast::Expr>| -> Result<Option<i64>, ExprError> {
        match e {
            None => Ok(None),
            Some(ast::Expr::Value(v)) => match literal(&v.value)? {
                ScalarValue::Int64(n) => Ok(Some(n)),
                _ => err("SUBSTRING's start and length must be whole numbers"),
            },
            Some(other) => err(format!("SUBSTRING's start and length must be literal numbers, found {other}")),
        }
    };
    let start = literal(from)?.unwrap_or(1);
    let length = match literal(length)? {
        Some(n) if n < 0 => return err("SUBSTRING's length must not be negative"),
        other => other.map(|n| n as u64),
    };
    // Flink counts from 1; 0 means 1; negative counts from the end.
    let start = if start > 0 { start - 1 } else { start };
    Ok(Expr::Call { func: Func::Substring { start, length }, args: vec![text], ty: DataType::Utf8 })
}

/// The arguments of a function call; `None` stands for `*`.
pub fn function_args(args: &FunctionArguments) -> Result<Vec<Option<ast::Expr>>, ExprError> {
    match args {
        FunctionArguments::None => Ok(vec![]),
        FunctionArguments::Subquery(_) => err("subqueries are not supported"),
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(Some(e.clone())),
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok(None),
                other => err(format!("argument '{other}' is not supported")),
            })
            .collect(),
    }
}

/// `a.b.c`: the longest prefix that names a column (`t.c` after a join names
/// columns so, or a ROW column `r`), the rest fields of ROW values; where no column
/// is qualified (one table), a qualifier that names none is the table's and skipped.
fn compound(ids: &[ast::Ident], schema: &Schema) -> Result<Expr, ExprError> {
    let resolve = |start: usize, end: usize| -> Option<Result<Expr, ExprError>> {
        let name = ids[start..end].iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join(".");
        let index = schema.index_of(&name).ok()?;
        let mut e = Expr::Column { index, name, ty: schema.field(index).data_type().clone() };
        for id in &ids[end..] {
            let DataType::Struct(fields) = e.data_type() else {
                return Some(err(format!(
                    "'{}' is not a ROW: it has no field '{}'",
                    ids[start..end].iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join("."),
                    id.value
                )));
            };
            match fields.iter().position(|f| f.name() == &id.value) {
                Some(i) => {
                    let ty = fields[i].data_type().clone();
                    e = Expr::Field { expr: Box::new(e), index: i, ty };
                }
                None => {
                    let known: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
                    return Some(err(format!("'{}' has no field '{}' (fields: {})", ids[start].value, id.value, known.join(", "))));
                }
            }
        }
        Some(Ok(e))
    };
    for end in (1..=ids.len()).rev() {
        if let Some(found) = resolve(0, end) {
            return found;
        }
    }
    let qualified = schema.fields().iter().any(|f| f.name().contains('.'));
    if !qualified {
        for start in 1..ids.len() {
            for end in (start + 1..=ids.len()).rev() {
                if let Some(found) = resolve(start, end) {
                    return found;
                }
            }
        }
    }
    let name = ids.iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join(".");
    let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    err(format!("unknown column '{name}' (columns: {})", known.join(", ")))
}

fn column(name: &str, schema: &Schema) -> Result<Expr, ExprError> {
    // After a join, columns are qualified (`A.id`): an unqualified name is the one
    // column it ends, if only one.
    let suffix = format!(".{name}");
    let found = schema.fields().iter().position(|f| f.name() == name).or_else(|| {
        let mut matching = schema.fields().iter().enumerate().filter(|(_, f)| f.name().ends_with(&suffix)).map(|(i, _)| i);
        let first = matching.next()?;
        matching.next().is_none().then_some(first)
    });
    if found.is_none() && schema.fields().iter().filter(|f| f.name().ends_with(&suffix)).count() > 1 {
        let which: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).filter(|n| n.ends_with(&suffix)).collect();
        return err(format!("column '{name}' is ambiguous ({}): qualify it", which.join(", ")));
    }
    match found {
        Some(index) => Ok(Expr::Column { index, name: name.to_string(), ty: schema.field(index).data_type().clone() }),
        None => {
            let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            err(format!("unknown column '{name}' (columns: {})", known.join(", ")))
        }
    }
}

fn literal(v: &ast::Value) -> Result<ScalarValue, ExprError> {
    Ok(match v {
        ast::Value::Number(n, _) => {
            if let Ok(i) = n.parse::<i64>() {
                ScalarValue::Int64(i)
            } else {
                ScalarValue::Float64(n.parse::<f64>().map_err(|_| ExprError(format!("bad number {n}")))?)
            }
        }
        ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => ScalarValue::Utf8(s.clone()),
        ast::Value::Boolean(b) => ScalarValue::Boolean(*b),
        ast::Value::Null => ScalarValue::Null,
        other => return err(format!("literal {other} is not supported")),
    })
}

fn want_bool(e: &Expr, what: &str) -> Result<(), ExprError> {
    want_type(e, &DataType::Boolean, what)
}

fn want_type(e: &Expr, t: &DataType, what: &str) -> Result<(), ExprError> {
    let got = e.data_type();
    if &got == t || got == DataType::Null {
        Ok(())
    } else {
        err(format!("type mismatch: {what} needs {}, got {}", type_name(t), type_name(&got)))
    }
}

/// The common type of two types, for arithmetic, comparison and CASE.
fn unify(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match (a, b) {
        (x, y) if x == y => x.clone(),
        (Null, y) => y.clone(),
        (x, Null) => x.clone(),
        (Float64, y) | (y, Float64) if is_numeric(y) => Float64,
        (Int64, Int32) | (Int32, Int64) => Int64,
        _ => return None,
    })
}

fn coerce(e: Expr, ty: &DataType) -> Expr {
    if &e.data_type() == ty {
        return e;
    }
    match (&e, ty) {
        (Expr::Literal(ScalarValue::Int64(v)), DataType::Int32) if i32::try_from(*v).is_ok() => {
            Expr::Literal(ScalarValue::Int32(*v as i32))
        }
        (Expr::Literal(ScalarValue::Int64(v)), DataType::Float64) => Expr::Literal(ScalarValue::Float64(*v as f64)),
        (Expr::Literal(ScalarValue::Null), _) => Expr::Cast { expr: Box::new(e), ty: ty.clone() },
        _ => Expr::Cast { expr: Box::new(e), ty: ty.clone() },
    }
}

fn binary(op: BinOp, left: Expr, right: Expr) -> Result<Expr, ExprError> {
    let (lt, rt) = (left.data_type(), right.data_type());
    let mismatch = || ExprError(format!("type mismatch: cannot apply '{}' to {} and {}", op_text(op), type_name(&lt), type_name(&rt)));
    match op {
        BinOp::And | BinOp::Or => {
            want_bool(&left, op_text(op))?;
            want_bool(&right, op_text(op))?;
            Ok(Expr::Binary { op, left: Box::new(left), right: Box::new(right), ty: DataType::Boolean })
        }
        BinOp::Concat => Ok(Expr::Binary { op, left: Box::new(left), right: Box::new(right), ty: DataType::Utf8 }),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
            if !(is_numeric(&lt) || lt == DataType::Null) || !(is_numeric(&rt) || rt == DataType::Null) {
                return Err(mismatch());
            }
            // An integer literal next to an INT column stays INT.
            let ty = match (&left, &right) {
                (Expr::Literal(ScalarValue::Int64(_)), _) if rt == DataType::Int32 => DataType::Int32,
                (_, Expr::Literal(ScalarValue::Int64(_))) if lt == DataType::Int32 => DataType::Int32,
                _ => unify(&lt, &rt).ok_or_else(mismatch)?,
            };
            Ok(Expr::Binary { op, left: Box::new(coerce(left, &ty)), right: Box::new(coerce(right, &ty)), ty })
        }
        _ => {
            let ty = match (&left, &right) {
                (Expr::Literal(ScalarValue::Int64(_)), _) if rt == DataType::Int32 => DataType::Int32,
                (_, Expr::Literal(ScalarValue::Int64(_))) if lt == DataType::Int32 => DataType::Int32,
                (Expr::Literal(ScalarValue::Utf8(_)), _) if matches!(rt, DataType::Timestamp(_, _)) => rt.clone(),
                (_, Expr::Literal(ScalarValue::Utf8(_))) if matches!(lt, DataType::Timestamp(_, _)) => lt.clone(),
                _ => unify(&lt, &rt).ok_or_else(mismatch)?,
            };
            Ok(Expr::Binary { op, left: Box::new(coerce(left, &ty)), right: Box::new(coerce(right, &ty)), ty: DataType::Boolean })
        }
    }
}

fn op_text(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::Eq => "=",
        BinOp::NotEq => "<>",
        BinOp::Lt => "<",
        BinOp::LtEq => "<=",
        BinOp::Gt => ">",
        BinOp::GtEq => ">=",
        BinOp::And => "AND",
        BinOp::Or => "OR",
        BinOp::Concat => "||",
    }
}

/// Parses and compiles one expression string.
pub fn compile_str(sql: &str, schema: &Schema) -> Result<Expr, ExprError> {
    compile(&parse_expr(sql)?, schema)
}

/// Milliseconds since the epoch of a `YYYY-MM-DD HH:MM:SS[.fff]` text (UTC).
pub fn parse_timestamp_millis(text: &str) -> Option<i64> {
    let a: ArrayRef = Arc::new(StringArray::from(vec![text]));
    let t = cast(&a, &timestamp_type()).ok()?;
    let t = t.as_any().downcast_ref::<TimestampMillisecondArray>()?;
    (!t.is_null(0)).then(|| t.value(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("qty", DataType::Int32, true),
            Field::new("price", DataType::Float64, true),
            Field::new("status", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![1, 0, 3])),
                Arc::new(Float64Array::from(vec![2.5, 10.0, 1.0])),
                Arc::new(StringArray::from(vec!["PAID", "PAID", "OPEN"])),
                Arc::new(Int64Array::from(vec![7, 8, 9])),
            ],
        )
        .unwrap()
    }

    fn eval(sql: &str) -> ArrayRef {
        let b = batch();
        compile_str(sql, &b.schema()).unwrap().evaluate(&b).unwrap()
    }

    /// `qty + qty + …` with `terms` terms: a left-deep tree `terms` levels deep.
    fn chain(terms: usize) -> String {
        vec!["qty"; terms].join(" + ")
    }

    /// Runs `f` on a thread with a tokio worker's 2 MiB stack.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(2 << 20).spawn(f).unwrap().join().expect("no stack overflow")
    }

    #[test]
    fn deep_and_large_expressions_are_errors_not_overflows() {
        let schema = batch().schema();
        let s = schema.clone();
        let deep = on_small_stack(move || compile_str(&chain(5_000), &s).map(drop));
        assert!(deep.unwrap_err().0.contains("levels"), "5,000 terms nest too deep");
        let s = schema.clone();
        let many = on_small_stack(move || compile_str(&chain(6_000), &s).map(drop));
        assert!(many.unwrap_err().0.contains("tokens"));
        let s = schema.clone();
        let parens = on_small_stack(move || compile_str(&format!("{}qty{}", "(".repeat(5_000), ")".repeat(5_000)), &s).map(drop));
        assert!(parens.is_err());
        let huge = compile_str(&format!("'{}'", "x".repeat(70_000)), &schema).unwrap_err();
        assert!(huge.0.contains("bytes") && huge.0.len() < 300, "{}", huge.0);
        let s = schema.clone();
        let in_list = on_small_stack(move || compile_str(&format!("qty IN ({})", vec!["1"; 1_500].join(", ")), &s).map(drop));
        assert!(in_list.unwrap_err().0.contains("levels"));
    }

    #[test]
    fn expressions_near_the_depth_limit_compile_and_evaluate() {
        let r = on_small_stack(|| {
            let b = batch();
            let e = compile_str(&chain(900), &b.schema()).unwrap();
            assert!(e.depth() > 800);
            e.evaluate(&b).unwrap()
        });
        let r = r.as_any().downcast_ref::<Int32Array>().unwrap().values().to_vec();
        assert_eq!(r, vec![900, 0, 2_700]);
    }

    #[test]
    fn arithmetic_and_predicates() {
        let r = eval("price * qty");
        assert_eq!(r.as_any().downcast_ref::<Float64Array>().unwrap().values(), &[2.5, 0.0, 3.0]);
        let r = eval("status = 'PAID' AND qty > 0");
        assert_eq!(r.as_any().downcast_ref::<BooleanArray>().unwrap(), &BooleanArray::from(vec![true, false, false]));
        let r = eval("id % 2 = 0 OR qty BETWEEN 2 AND 3");
        assert_eq!(r.as_any().downcast_ref::<BooleanArray>().unwrap(), &BooleanArray::from(vec![false, true, true]));
        let r = eval("status IN ('OPEN', 'X')");
        assert_eq!(r.as_any().downcast_ref::<BooleanArray>().unwrap(), &BooleanArray::from(vec![false, false, true]));
        let r = eval("qty + 1");
        assert_eq!(r.data_type(), &DataType::Int32);
    }

    #[test]
    fn strings_case_and_functions() {
        let r = eval("CONCAT('Product ', id)");
        assert_eq!(r.as_any().downcast_ref::<StringArray>().unwrap().value(2), "Product 9");
        let r = eval("CASE id WHEN 7 THEN 'seven' WHEN 8 THEN 'eight' ELSE LOWER(status) END");
        let s = r.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((s.value(0), s.value(1), s.value(2)), ("seven", "eight", "open"));
        let r = eval("ROUND(price / 3, 2)");
        assert_eq!(r.as_any().downcast_ref::<Float64Array>().unwrap().values(), &[0.83, 3.33, 0.33]);
        let r = eval("ABS(0 - id)");
        assert_eq!(r.as_any().downcast_ref::<Int64Array>().unwrap().values(), &[7, 8, 9]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let schema = batch().schema();
        let e = compile_str("qty + nope", &schema).unwrap_err().0;
        assert!(e.contains("unknown column 'nope'"), "{e}");
        let e = compile_str("status * 2", &schema).unwrap_err().0;
        assert!(e.contains("type mismatch") && e.contains("STRING"), "{e}");
        let e = compile_str("qty AND TRUE", &schema).unwrap_err().0;
        assert!(e.contains("type mismatch"), "{e}");
        let e = compile_str("qty +", &schema).unwrap_err().0;
        assert!(e.contains("cannot parse"), "{e}");
        assert_eq!(parse_timestamp_millis("1970-01-01 00:00:01"), Some(1000));
    }
}

#[cfg(test)]
mod function_tests {
    use super::*;
    use arrow::datatypes::Field;
    use arrow::util::display::{ArrayFormatter, FormatOptions};

    /// The values of `sql` over three rows (a timestamp `ts`, a string `s`), as text.
    fn values(sql: &str) -> Vec<String> {
        let schema = Arc::new(Schema::new(vec![Field::new("ts", timestamp_type(), true), Field::new("s", DataType::Utf8, true)]));
        let ts: TimestampMillisecondArray = vec![Some(1_700_000_000_123), None, Some(0)].into();
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(ts), Arc::new(StringArray::from(vec![Some("flink"), Some("rask"), None]))])
                .unwrap();
        let a = compile_str(sql, &schema).unwrap().evaluate(&batch).unwrap();
        let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default().with_null("null")).unwrap();
        (0..a.len()).map(|i| f.value(i).to_string()).collect()
    }

    #[test]
    fn time_functions_compute_as_flink() {
        assert_eq!(values("DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss.SSS')"), ["2023-11-14 22:13:20.123", "null", "1970-01-01 00:00:00.000"]);
        assert_eq!(values("EXTRACT(HOUR FROM ts)"), ["22", "null", "0"]);
        assert_eq!(values("TIMESTAMPADD(MINUTE, 2, ts)"), ["2023-11-14T22:15:20.123", "null", "1970-01-01T00:02:00"]);
        assert_eq!(values("ts - INTERVAL '1' SECOND"), ["2023-11-14T22:13:19.123", "null", "1969-12-31T23:59:59"]);
        assert_eq!(values("TIMESTAMP '2024-02-29 12:00:00' > ts"), ["true", "null", "true"]);
    }

    #[test]
    fn string_and_null_functions() {
        assert_eq!(values("s LIKE 'f%'"), ["true", "false", "null"]);
        assert_eq!(values("s NOT LIKE '_a%'"), ["true", "false", "null"]);
        assert_eq!(values("SUBSTRING(s FROM 2 FOR 3)"), ["lin", "ask", "null"]);
        assert_eq!(values("SUBSTR(s, 2)"), ["link", "ask", "null"]);
        assert_eq!(values("COALESCE(s, 'none')"), ["flink", "rask", "none"]);
        assert_eq!(values("MOD(CHAR_LENGTH(s), 3)"), ["2", "1", "null"]);
    }

    #[test]
    fn bad_calls_say_what_is_wrong() {
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
        let e = |sql: &str| compile_str(sql, &schema).unwrap_err().0;
        assert!(e("DATE_FORMAT(s, 'yyyy')").contains("needs a TIMESTAMP"), "{}", e("DATE_FORMAT(s, 'yyyy')"));
        assert!(e("TIMESTAMPADD(FORTNIGHT, 1, TIMESTAMP '2024-01-01 00:00:00')").contains("FORTNIGHT"));
        assert!(e("SUBSTRING(s FROM CHAR_LENGTH(s))").contains("literal"));
    }
}
