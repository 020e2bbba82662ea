//! The nexmark source: Nexmark's events from the standard generator (the `nexmark`
//! crate's port of it), configured as Flink's nexmark source is (upper-case US
//! states and capitalised names, as Flink's generator writes them, so its queries'
//! literals match). Subtask `i` of `p` generates events `i, i + p, i + 2p, …` of one
//! timeline, so the events are the same at any parallelism; each row carries its
//! kind's ROW column and nulls in the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int32Array, Int64Builder, StringBuilder, StructArray, TimestampMillisecondBuilder};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Fields, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use nexmark::config::{NexmarkConfig, RateShape};
use nexmark::event::Event;
use nexmark::EventGenerator;
use rask_common::job::connectors::nexmark::NexmarkOptions;

use super::{SourceContext, SourceFactory, SourceReader};
use crate::runtime::{StreamElement, TaskError};

const BATCH_EVENTS: u64 = 8192;

fn words(list: &str) -> Vec<String> {
    list.split(',').map(str::to_string).collect()
}

/// The generator's configuration as Flink's nexmark source sets it.
fn config(o: &NexmarkOptions) -> NexmarkConfig {
    NexmarkConfig {
        first_rate: o.first_event_rate as usize,
        next_rate: o.next_event_rate as usize,
        rate_shape: if o.sine { RateShape::Sine } else { RateShape::Square },
        rate_period: o.rate_period as usize,
        person_proportion: o.person_proportion as usize,
        auction_proportion: o.auction_proportion as usize,
        bid_proportion: o.bid_proportion as usize,
        base_time: o.base_time,
        us_states: words("AZ,CA,ID,OR,WA,WY"),
        us_cities: words("Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,Cheyenne"),
        first_names: words("Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter"),
        last_names: words("Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris"),
        ..NexmarkConfig::default()
    }
}

pub struct Nexmark {
    options: NexmarkOptions,
    schema: SchemaRef,
    subtask: u64,
    parallelism: u64,
    generator: EventGenerator,
    /// Events this subtask has produced.
    produced: u64,
    /// Events this subtask must produce (None = unbounded).
    limit: Option<u64>,
    /// Events per second of this subtask when rate-limited.
    rate: Option<f64>,
    started: Instant,
    done: bool,
}

impl Nexmark {
    pub fn new(options: NexmarkOptions, schema: SchemaRef, subtask: u32, parallelism: u32) -> Self {
        let (subtask, parallelism) = (u64::from(subtask), u64::from(parallelism.max(1)));
        let limit = options.events_num.map(|n| if n > subtask { (n - subtask).div_ceil(parallelism) } else { 0 });
        let rate = options.rate_limited.then(|| options.first_event_rate as f64 / parallelism as f64);
        let generator = EventGenerator::new(config(&options)).with_offset(subtask).with_step(parallelism);
        Self { options, schema, subtask, parallelism, generator, produced: 0, limit, rate, started: Instant::now(), done: false }
    }

    fn seek(&mut self, produced: u64) {
        self.produced = produced;
        self.generator =
            EventGenerator::new(config(&self.options)).with_offset(self.subtask + produced * self.parallelism).with_step(self.parallelism);
        let due = self.rate.map(|r| Duration::from_secs_f64(produced as f64 / r)).unwrap_or_default();
        self.started = Instant::now().checked_sub(due).unwrap_or_else(Instant::now);
    }

    async fn next(&mut self) -> Result<Vec<StreamElement>, TaskError> {
        if self.done {
            return Ok(vec![]);
        }
        let remaining = self.limit.map(|l| l.saturating_sub(self.produced)).unwrap_or(u64::MAX);
        if remaining == 0 {
            self.done = true;
            return Ok(vec![StreamElement::Watermark(i64::MAX), StreamElement::EndOfInput]);
        }
        let mut events = remaining.min(BATCH_EVENTS);
        if let Some(rate) = self.rate {
            events = events.min(((rate / 10.0).ceil() as u64).max(1));
            let due = Duration::from_secs_f64(self.produced as f64 / rate);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        } else {
            tokio::task::yield_now().await;
        }
        let batch = self.generate(events)?;
        self.produced += events;
        Ok(vec![StreamElement::Batch(batch)])
    }

    fn generate(&mut self, events: u64) -> Result<RecordBatch, TaskError> {
        let n = events as usize;
        let mut kinds = Vec::with_capacity(n);
        let mut person = RowBuilder::new(n);
        let mut auction = RowBuilder::new(n);
        let mut bid = RowBuilder::new(n);
        for _ in 0..n {
            let event = self.generator.next().expect("the generator is endless");
            kinds.push(match &event {
                Event::Person(_) => 0,
                Event::Auction(_) => 1,
                Event::Bid(_) => 2,
            });
            match event {
                Event::Person(p) => {
                    person.row(|r| {
                        r.int(p.id as i64);
                        r.text(&p.name);
                        r.text(&p.email_address);
                        r.text(&p.credit_card);
                        r.text(&p.city);
                        r.text(&p.state);
                        r.time(p.date_time);
                        r.text(&p.extra);
                    });
                    auction.null();
                    bid.null();
                }
                Event::Auction(a) => {
                    person.null();
                    auction.row(|r| {
                        r.int(a.id as i64);
                        r.text(&a.item_name);
                        r.text(&a.description);
                        r.int(a.initial_bid as i64);
                        r.int(a.reserve as i64);
                        r.time(a.date_time);
                        r.time(a.expires);
                        r.int(a.seller as i64);
                        r.int(a.category as i64);
                        r.text(&a.extra);
                    });
                    bid.null();
                }
                Event::Bid(b) => {
                    person.null();
                    auction.null();
                    bid.row(|r| {
                        r.int(b.auction as i64);
                        r.int(b.bidder as i64);
                        r.int(b.price as i64);
                        r.text(&b.channel);
                        r.text(&b.url);
                        r.time(b.date_time);
                        r.text(&b.extra);
                    });
                }
            }
        }
        let fields = |i: usize| match self.schema.field(i).data_type() {
            DataType::Struct(f) => Ok(f.clone()),
            _ => Err(TaskError::Deployment("the nexmark source's columns are not Flink's nexmark table".into())),
        };
        let columns: Vec<ArrayRef> =
            vec![Arc::new(Int32Array::from(kinds)), person.finish(fields(1)?)?, auction.finish(fields(2)?)?, bid.finish(fields(3)?)?];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// The columns of one ROW column being built, in field order.
struct RowBuilder {
    columns: Vec<Column>,
    valid: Vec<bool>,
    /// The field the next value goes to.
    at: usize,
    rows: usize,
}

enum Column {
    Int(Int64Builder),
    Text(StringBuilder),
    Time(TimestampMillisecondBuilder),
}

impl RowBuilder {
    fn new(capacity: usize) -> Self {
        Self { columns: Vec::new(), valid: Vec::with_capacity(capacity), at: 0, rows: 0 }
    }

    fn column(&mut self, make: impl FnOnce() -> Column) -> &mut Column {
        if self.at == self.columns.len() {
            let mut c = make();
            // Rows before this column existed (null rows) get nulls.
            for _ in 0..self.rows {
                match &mut c {
                    Column::Int(b) => b.append_null(),
                    Column::Text(b) => b.append_null(),
                    Column::Time(b) => b.append_null(),
                }
            }
            self.columns.push(c);
        }
        self.at += 1;
        &mut self.columns[self.at - 1]
    }

    fn int(&mut self, v: i64) {
        if let Column::Int(b) = self.column(|| Column::Int(Int64Builder::new())) {
            b.append_value(v);
        }
    }

    fn text(&mut self, v: &str) {
        if let Column::Text(b) = self.column(|| Column::Text(StringBuilder::new())) {
            b.append_value(v);
        }
    }

    fn time(&mut self, v: u64) {
        if let Column::Time(b) = self.column(|| Column::Time(TimestampMillisecondBuilder::new())) {
            b.append_value(v as i64);
        }
    }

    fn row(&mut self, fill: impl FnOnce(&mut Self)) {
        self.at = 0;
        fill(self);
        self.valid.push(true);
        self.rows += 1;
    }

    fn null(&mut self) {
        for c in &mut self.columns {
            match c {
                Column::Int(b) => b.append_null(),
                Column::Text(b) => b.append_null(),
                Column::Time(b) => b.append_null(),
            }
        }
        self.valid.push(false);
        self.rows += 1;
    }

    fn finish(mut self, fields: Fields) -> Result<ArrayRef, TaskError> {
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Column::Int(b) => Arc::new(b.finish()),
                    Column::Text(b) => Arc::new(b.finish()),
                    Column::Time(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        if arrays.is_empty() {
            // No row of this kind in the batch: every field is null.
            arrays = fields.iter().map(|f| arrow::array::new_null_array(f.data_type(), self.rows)).collect();
        }
        Ok(Arc::new(StructArray::try_new(fields, arrays, Some(NullBuffer::from(self.valid)))?))
    }
}

/// Registers the nexmark reader under `nexmark` (see [`super::SOURCES`]).
pub struct Factory;

impl SourceFactory for Factory {
    type Connector = rask_common::job::connectors::nexmark::Nexmark;

    fn build(&self, options: NexmarkOptions, cx: &SourceContext<'_>) -> Result<Box<dyn SourceReader>, TaskError> {
        Ok(Box::new(Nexmark::new(options, cx.schema.clone(), cx.subtask, cx.parallelism)))
    }
}

impl SourceReader for Nexmark {
    fn next(&mut self) -> BoxFuture<'_, Result<Vec<StreamElement>, TaskError>> {
        Box::pin(Nexmark::next(self))
    }

    /// Events produced.
    fn position(&self) -> Vec<u64> {
        vec![self.produced]
    }

    fn restore(&mut self, position: &[u64]) -> Result<(), TaskError> {
        self.seek(position.first().copied().unwrap_or(0));
        Ok(())
    }

    fn restore_rescaled(&mut self, _positions: &[Vec<u64>]) -> Result<(), TaskError> {
        Err(TaskError::Deployment("a nexmark source cannot be restored at another parallelism yet".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    fn options(events: u64) -> NexmarkOptions {
        NexmarkOptions { events_num: Some(events), base_time: 1_700_000_000_000, ..NexmarkOptions::default() }
    }

    /// The bid prices of every event at parallelism `p`, in event order.
    fn prices(p: u32) -> Vec<Option<i64>> {
        let schema = rask_common::job::connectors::nexmark::schema();
        let mut per_subtask: Vec<Vec<Option<i64>>> = Vec::new();
        for s in 0..p {
            let mut n = Nexmark::new(options(1000), schema.clone(), s, p);
            let batch = n.generate(n.limit.unwrap()).unwrap();
            let bid = batch.column(3).as_struct();
            let price = bid.column(2).as_primitive::<Int64Type>();
            per_subtask.push((0..batch.num_rows()).map(|i| (!bid.is_null(i)).then(|| price.value(i))).collect());
        }
        (0..1000).map(|g| per_subtask[g % p as usize][g / p as usize]).collect()
    }

    #[test]
    fn the_same_events_at_any_parallelism_with_flinks_proportions() {
        let one = prices(1);
        assert_eq!(one, prices(3));
        // 46 of every 50 events are bids.
        assert_eq!(one.iter().filter(|p| p.is_some()).count(), 920);
    }

    #[test]
    fn people_have_flinks_upper_case_states() {
        let schema = rask_common::job::connectors::nexmark::schema();
        let mut n = Nexmark::new(options(100), schema, 0, 1);
        let batch = n.generate(100).unwrap();
        let person = batch.column(1).as_struct();
        let states = person.column(5).as_string::<i32>();
        let seen: Vec<&str> = (0..100).filter(|&i| !person.is_null(i)).map(|i| states.value(i)).collect();
        assert!(!seen.is_empty() && seen.iter().all(|s| ["AZ", "CA", "ID", "OR", "WA", "WY"].contains(s)), "{seen:?}");
    }
}
