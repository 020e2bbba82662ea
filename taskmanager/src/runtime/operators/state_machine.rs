//! Keyed state machine (our counterpart of Flink's StateMachineExample): each key
//! holds a state; each row's event moves it along the transition table; an event
//! with no transition from the current state emits an alert row (key, state, event)
//! and leaves the state as it was.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, SortField};
use hashbrown::HashMap;
use rask_common::job::graph::Transition;

use super::{OperatorContext, StreamOperator};
use crate::runtime::memory::MemoryReservation;
use crate::runtime::{StreamElement, TaskError};

pub struct StateMachine {
    keys: Vec<usize>,
    event_column: usize,
    converter: RowConverter,
    states: Vec<String>,
    events: HashMap<String, u32>,
    /// [state][event] -> next state
    table: Vec<Vec<Option<u32>>>,
    initial: u32,
    current: HashMap<Box<[u8]>, u32>,
    output: SchemaRef,
    memory: MemoryReservation,
    key_bytes: u64,
}

impl StateMachine {
    pub fn new(
        name: &str,
        keys: &[usize],
        event_column: usize,
        initial: &str,
        transitions: &[Transition],
        (input, output): (&Schema, SchemaRef),
        ctx: &OperatorContext,
    ) -> Result<Self, TaskError> {
        let mut states: Vec<String> = vec![initial.to_string()];
        let mut events: HashMap<String, u32> = HashMap::new();
        let state_id = |s: &str, states: &mut Vec<String>| -> u32 {
            match states.iter().position(|x| x == s) {
                Some(i) => i as u32,
                None => {
                    states.push(s.to_string());
                    (states.len() - 1) as u32
                }
            }
        };
        let mut edges = Vec::new();
        for t in transitions {
            let from = state_id(&t.from, &mut states);
            let to = state_id(&t.to, &mut states);
            let n = events.len() as u32;
            let ev = *events.entry(t.event.clone()).or_insert(n);
            edges.push((from, ev, to));
        }
        let mut table = vec![vec![None; events.len()]; states.len()];
        for (from, ev, to) in edges {
            table[from as usize][ev as usize] = Some(to);
        }
        let converter = RowConverter::new(keys.iter().map(|&k| SortField::new(input.field(k).data_type().clone())).collect())?;
        Ok(Self {
            keys: keys.to_vec(),
            event_column,
            converter,
            states,
            events,
            table,
            initial: 0,
            current: HashMap::new(),
            output,
            memory: MemoryReservation::new(ctx.slot_memory.clone(), name),
            key_bytes: 0,
        })
    }
}

impl StreamOperator for StateMachine {
    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, TaskError> {
        // Key rows (Arrow row format, as binary) and each key's state name.
        let keys = arrow::array::BinaryArray::from_iter_values(self.current.keys().map(|k| k.as_ref()));
        let states = arrow::array::StringArray::from_iter_values(self.current.values().map(|s| self.states[*s as usize].as_str()));
        let schema = Arc::new(Schema::new(vec![
            arrow::datatypes::Field::new("key", arrow::datatypes::DataType::Binary, false),
            arrow::datatypes::Field::new("state", arrow::datatypes::DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(keys), Arc::new(states)])?;
        Ok(Some(super::state_codec::encode(&[], &schema, &[batch])?))
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), TaskError> {
        self.restore_state_rescaled(state, &|_| true)
    }

    fn restore_state_rescaled(&mut self, state: &[u8], keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        let (_, batches) = super::state_codec::decode(state)?;
        for b in batches {
            let keys = b.column(0).as_binary::<i32>();
            let states = b.column(1).as_string::<i32>();
            for i in 0..b.num_rows() {
                if !keep(xxhash_rust::xxh3::xxh3_64(keys.value(i))) {
                    continue;
                }
                let name = states.value(i);
                let id = match self.states.iter().position(|s| s == name) {
                    Some(id) => id as u32,
                    None => {
                        return Err(TaskError::operator(
                            "state machine",
                            format!("the checkpoint holds state '{name}', which the transitions do not name"),
                        ))
                    }
                };
                if self.current.insert(keys.value(i).into(), id).is_none() {
                    self.key_bytes += keys.value(i).len() as u64;
                }
            }
        }
        self.memory.resize(self.key_bytes * 2 + self.current.len() as u64 * 48)
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let columns: Vec<ArrayRef> = self.keys.iter().map(|&k| batch.column(k).clone()).collect();
        let rows = self.converter.convert_columns(&columns)?;
        let events = batch.column(self.event_column).as_string::<i32>();
        let mut alert_rows: Vec<u32> = Vec::new();
        let mut alert_states = StringBuilder::new();
        for (i, key) in rows.iter().enumerate() {
            let bytes = key.as_ref();
            let state = match self.current.get(bytes) {
                Some(s) => *s,
                None => {
                    self.key_bytes += bytes.len() as u64;
                    self.current.insert(bytes.into(), self.initial);
                    self.initial
                }
            };
            let next = if events.is_null(i) {
                None
            } else {
                self.events.get(events.value(i)).and_then(|&e| self.table[state as usize][e as usize])
            };
            match next {
                Some(n) => {
                    if let Some(s) = self.current.get_mut(bytes) {
                        *s = n;
                    }
                }
                None => {
                    alert_rows.push(i as u32);
                    alert_states.append_value(&self.states[state as usize]);
                }
            }
        }
        self.memory.resize(self.key_bytes * 2 + self.current.len() as u64 * 48)?;
        if alert_rows.is_empty() {
            return Ok(());
        }
        let idx = UInt32Array::from(alert_rows);
        let mut out_columns: Vec<ArrayRef> = Vec::new();
        for &k in &self.keys {
            out_columns.push(take(batch.column(k), &idx, None)?);
        }
        out_columns.push(Arc::new(alert_states.finish()));
        out_columns.push(take(batch.column(self.event_column), &idx, None)?);
        out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), out_columns)?));
        Ok(())
    }
}
