//! Stateless operators: filter, map (projection), flat_map (split a string column),
//! and the watermark assigner of SQL tables whose event time is a computed column.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder, UInt32Array};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rask_common::job::expr::{self, Expr};

use super::StreamOperator;
use crate::runtime::{StreamElement, TaskError};

fn compile(op: &str, sql: &str, input: &Schema) -> Result<Expr, TaskError> {
    expr::compile_str(sql, input).map_err(|e| TaskError::operator(op, e.0))
}

/// Emits bounded-out-of-orderness watermarks after the batches it passes on; of the
/// watermarks arriving from upstream only the final one (end of input) goes on.
pub struct WatermarkAssigner {
    generator: crate::runtime::sources::WatermarkGenerator,
}

impl WatermarkAssigner {
    pub fn new(strategy: rask_common::job::graph::WatermarkStrategy) -> Self {
        Self { generator: crate::runtime::sources::WatermarkGenerator::new(strategy) }
    }
}

impl StreamOperator for WatermarkAssigner {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let watermark = self.generator.after(&batch)?;
        out.push(StreamElement::Batch(batch));
        if let Some(w) = watermark {
            out.push(StreamElement::Watermark(w));
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        if watermark == i64::MAX {
            out.push(StreamElement::Watermark(watermark));
        }
        Ok(())
    }
}

pub struct Filter {
    predicate: Expr,
}

impl Filter {
    pub fn new(name: &str, predicate: &str, input: &Schema) -> Result<Self, TaskError> {
        Ok(Self { predicate: compile(name, predicate, input)? })
    }
}

impl StreamOperator for Filter {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let mask = self.predicate.evaluate(&batch)?;
        let filtered = filter_record_batch(&batch, mask.as_boolean())?;
        if filtered.num_rows() > 0 {
            out.push(StreamElement::Batch(filtered));
        }
        Ok(())
    }
}

pub struct Map {
    expressions: Vec<Expr>,
    output: SchemaRef,
}

impl Map {
    pub fn new(name: &str, expressions: &[String], input: &Schema, output: SchemaRef) -> Result<Self, TaskError> {
        let expressions = expressions.iter().map(|e| compile(name, e, input)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { expressions, output })
    }
}

impl StreamOperator for Map {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let columns = self.expressions.iter().map(|e| e.evaluate(&batch)).collect::<Result<Vec<ArrayRef>, _>>()?;
        out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
        Ok(())
    }
}

pub struct FlatMapSplit {
    column: usize,
    others: Vec<usize>,
    delimiter: Option<String>,
    normalize: bool,
    output: SchemaRef,
}

impl FlatMapSplit {
    pub fn new(
        name: &str,
        column: &str,
        delimiter: Option<String>,
        normalize: bool,
        input: &Schema,
        output: SchemaRef,
    ) -> Result<Self, TaskError> {
        let column = input.index_of(column).map_err(|_| TaskError::operator(name, format!("no column '{column}'")))?;
        let others = (0..input.fields().len()).filter(|i| *i != column).collect();
        Ok(Self { column, others, delimiter, normalize, output })
    }
}

impl StreamOperator for FlatMapSplit {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let text = batch.column(self.column).as_string::<i32>();
        let mut pieces = StringBuilder::with_capacity(text.len() * 4, text.value_data().len());
        let mut from_row: Vec<u32> = Vec::with_capacity(text.len() * 4);
        let mut word = String::new();
        for row in 0..text.len() {
            if text.is_null(row) {
                continue;
            }
            let value = text.value(row);
            let mut emit = |piece: &str| {
                if self.normalize {
                    word.clear();
                    let trimmed = piece.trim_matches(|c: char| !c.is_alphanumeric());
                    word.extend(trimmed.chars().flat_map(char::to_lowercase));
                    pieces.append_value(&word);
                } else {
                    pieces.append_value(piece);
                }
                from_row.push(row as u32);
            };
            match &self.delimiter {
                Some(d) => value.split(d.as_str()).for_each(&mut emit),
                None => value.split_whitespace().for_each(&mut emit),
            }
        }
        if from_row.is_empty() {
            return Ok(());
        }
        let indices = UInt32Array::from(from_row);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.others.len() + 1);
        for &c in &self.others {
            columns.push(take(batch.column(c), &indices, None)?);
        }
        columns.push(Arc::new(pieces.finish()));
        out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
        Ok(())
    }
}
