//! The `nexmark` source connector (planning and checking): Nexmark's person, auction
//! and bid events from the standard generator, as Flink's nexmark project exposes
//! them: one table with `event_type` (0 person, 1 auction, 2 bid) and one ROW column
//! per kind, the others null. Options (Flink's names, in SQL's `WITH`): `events.num`
//! (absent: unbounded), `first-event.rate` and `next-event.rate` (events per second
//! of event time), `rate.shape` (square or sine), `rate.period` (seconds),
//! `rate.limited` (emit at the rate in wall-clock time too; default as fast as
//! possible), `person.proportion`, `auction.proportion`, `bid.proportion`, and Rask's
//! `base-time` (ms since the epoch of the first event; default: when the job is
//! planned, fixed for its restarts).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::{PlanContext, PlannedSource, SourceConnector};
use crate::job::error::JobFileError;
use crate::job::spec::SourceSpec;
use crate::job::types::timestamp_type;
use crate::job::validate::{invalid, InvalidJobGraph};

/// The nexmark source's options in the JobGraph.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NexmarkOptions {
    /// Events over all subtasks; `None` = unbounded.
    pub events_num: Option<u64>,
    pub first_event_rate: u64,
    pub next_event_rate: u64,
    /// `true`: sine; `false`: square (Flink's default).
    pub sine: bool,
    /// Seconds per rate period.
    pub rate_period: u64,
    /// Hold emission to the rate in wall-clock time.
    pub rate_limited: bool,
    pub person_proportion: u64,
    pub auction_proportion: u64,
    pub bid_proportion: u64,
    /// Event time of the first event, ms since the epoch.
    pub base_time: u64,
}

impl Default for NexmarkOptions {
    /// Flink's nexmark defaults.
    fn default() -> Self {
        Self {
            events_num: None,
            first_event_rate: 10_000_000,
            next_event_rate: 10_000_000,
            sine: false,
            rate_period: 600,
            rate_limited: false,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            base_time: crate::clock::now_ms().max(0) as u64,
        }
    }
}

/// Bounds of the options a JobGraph may carry.
const MAX_PROPORTION: u64 = 1_000_000;
const MAX_RATE: u64 = 1_000_000_000;

/// The columns of Flink's nexmark table.
pub fn schema() -> SchemaRef {
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    let s = || DataType::Utf8;
    let person = Fields::from(vec![
        f("id", DataType::Int64),
        f("name", s()),
        f("emailAddress", s()),
        f("creditCard", s()),
        f("city", s()),
        f("state", s()),
        f("dateTime", timestamp_type()),
        f("extra", s()),
    ]);
    let auction = Fields::from(vec![
        f("id", DataType::Int64),
        f("itemName", s()),
        f("description", s()),
        f("initialBid", DataType::Int64),
        f("reserve", DataType::Int64),
        f("dateTime", timestamp_type()),
        f("expires", timestamp_type()),
        f("seller", DataType::Int64),
        f("category", DataType::Int64),
        f("extra", s()),
    ]);
    let bid = Fields::from(vec![
        f("auction", DataType::Int64),
        f("bidder", DataType::Int64),
        f("price", DataType::Int64),
        f("channel", s()),
        f("url", s()),
        f("dateTime", timestamp_type()),
        f("extra", s()),
    ]);
    Arc::new(Schema::new(vec![
        f("event_type", DataType::Int32),
        f("person", DataType::Struct(person)),
        f("auction", DataType::Struct(auction)),
        f("bid", DataType::Struct(bid)),
    ]))
}

/// The `nexmark` source connector.
pub struct Nexmark;

impl SourceConnector for Nexmark {
    type Options = NexmarkOptions;
    const NAME: &'static str = "nexmark";
    /// Job files take Flink's defaults (SQL tables set the options in `WITH`).
    const OPTIONS: &'static [&'static str] = &[];

    fn plan(&self, _spec: &SourceSpec, _cx: &PlanContext<'_>) -> Result<PlannedSource<NexmarkOptions>, JobFileError> {
        Ok(PlannedSource { schema: schema(), options: NexmarkOptions::default(), event_time: None })
    }

    fn validate(&self, o: &NexmarkOptions, what: &str, outputs: usize) -> Result<(), InvalidJobGraph> {
        if outputs != schema().fields().len() {
            return invalid(format!("{what}: a nexmark source has {} columns, not {outputs}", schema().fields().len()));
        }
        for (name, rate) in [("first-event.rate", o.first_event_rate), ("next-event.rate", o.next_event_rate)] {
            if rate == 0 || rate > MAX_RATE {
                return invalid(format!("{what}: {name} {rate} is outside 1..={MAX_RATE}"));
            }
        }
        for (name, p) in [("person", o.person_proportion), ("auction", o.auction_proportion), ("bid", o.bid_proportion)] {
            if p == 0 || p > MAX_PROPORTION {
                return invalid(format!("{what}: {name}.proportion {p} is outside 1..={MAX_PROPORTION}"));
            }
        }
        if o.rate_period == 0 || o.rate_period > 86_400 * 365 {
            return invalid(format!("{what}: rate.period {} s is outside 1 s..=1 year", o.rate_period));
        }
        if o.base_time > i64::MAX as u64 / 2 {
            return invalid(format!("{what}: base-time {} is out of range", o.base_time));
        }
        Ok(())
    }
}
