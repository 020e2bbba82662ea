//! Nexmark's Flink SQL queries on a session cluster of real processes, each over a
//! small number of events, checked against the same events folded in plain Rust
//! (the `nexmark` crate's generator, configured as the connector configures it).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ::nexmark::config::{NexmarkConfig, RateShape};
use ::nexmark::event::Event;
use rask_tests::nexmark::{script, Generation};
use rask_tests::*;

const EVENTS: u64 = 20_000;
const GENERATION: Generation = Generation { events: EVENTS, tps: 10_000_000, base_time: 1_700_000_000_000 };

/// The first `EVENTS` events, generated as the connector configures Flink's generator.
fn events() -> Vec<Event> {
    let words = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    let config = NexmarkConfig {
        first_rate: GENERATION.tps as usize,
        next_rate: GENERATION.tps as usize,
        rate_shape: RateShape::Square,
        base_time: GENERATION.base_time,
        us_states: words("AZ,CA,ID,OR,WA,WY"),
        us_cities: words("Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,Cheyenne"),
        first_names: words("Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter"),
        last_names: words("Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris"),
        ..NexmarkConfig::default()
    };
    ::nexmark::EventGenerator::new(config).take(EVENTS as usize).collect()
}

/// The bids: (auction, bidder, price).
fn bids(events: &[Event]) -> Vec<(i64, i64, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Bid(b) => Some((b.auction as i64, b.bidder as i64, b.price as i64)),
            _ => None,
        })
        .collect()
}

/// The committed CSV rows under `dir` (headers left out), as cells.
fn rows(dir: &Path) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let mut lines = text.lines();
        lines.next();
        out.extend(lines.map(|l| l.split(',').map(str::to_string).collect()));
    }
    out
}

fn count<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m
}

#[test]
fn nexmark_q0_to_q3_and_q8_give_what_the_events_say() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new();
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    spec.wait_slots(1, 2, Duration::from_secs(30));
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let events = events();
    let bids = bids(&events);
    assert_eq!(bids.len(), 18_400, "46 of every 50 events are bids");
    let run = |q: &str, p: &str, sink: Option<String>| -> String {
        let file = dir.path().join(format!("{q}.sql"));
        std::fs::write(&file, script(q, GENERATION, sink.as_deref())).unwrap();
        let id = submit_detached_with(&m, &file, &["-p", p]);
        let url = format!("{}/jobs/{id}", spec.rest_url());
        let job = wait_for(Duration::from_secs(60), "the query to end", || {
            get_json(&url).filter(|j| matches!(j["state"].as_str(), Some("FINISHED" | "FAILED")))
        });
        assert_eq!(job["state"], "FINISHED", "{q}");
        url
    };
    let csv = |q: &str| Some(format!("'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'", dir.path().join(q).display()));

    // q0 at parallelism 2: every bid passes through.
    run("q0", "2", csv("q0"));
    let got = count(
        rows(&dir.path().join("q0"))
            .iter()
            .map(|r| (r[0].parse::<i64>().unwrap(), r[1].parse::<i64>().unwrap(), r[2].parse::<i64>().unwrap())),
    );
    assert_eq!(got, count(bids.iter().copied()));

    // q1: prices in euro (DECIMAL is DOUBLE in Rask).
    run("q1", "1", csv("q1"));
    let got: Vec<(i64, i64, f64)> =
        rows(&dir.path().join("q1")).iter().map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap(), r[2].parse().unwrap())).collect();
    assert_eq!(got.len(), bids.len());
    for ((a, b, euro), (ea, eb, price)) in got.iter().zip(&bids) {
        assert_eq!((a, b), (ea, eb));
        assert!((euro - 0.908 * *price as f64).abs() < 1e-6, "{euro} for {price}");
    }

    // q2: the bids on every 123rd auction.
    run("q2", "1", csv("q2"));
    let got = count(rows(&dir.path().join("q2")).iter().map(|r| (r[0].parse::<i64>().unwrap(), r[1].parse::<i64>().unwrap())));
    let q2_expected = count(bids.iter().filter(|(a, _, _)| a % 123 == 0).map(|&(a, _, p)| (a, p)));
    assert!(!q2_expected.is_empty());
    assert_eq!(got, q2_expected);

    // q3, a join: sellers in OR, ID or CA of auctions in category 10.
    run("q3", "2", csv("q3"));
    let got = count(rows(&dir.path().join("q3")));
    let mut expected = Vec::new();
    for e in &events {
        let Event::Auction(a) = e else { continue };
        for p in events.iter().filter_map(|p| match p {
            Event::Person(p) if p.id == a.seller && ["OR", "ID", "CA"].contains(&p.state.as_str()) => Some(p),
            _ => None,
        }) {
            if a.category == 10 {
                expected.push(vec![p.name.clone(), p.city.clone(), p.state.clone(), a.id.to_string()]);
            }
        }
    }
    assert!(!expected.is_empty());
    assert_eq!(got, count(expected));

    // q8, a join of two window aggregates: people who opened auctions in the
    // 10-second window they joined in.
    run("q8", "2", csv("q8"));
    let got = count(rows(&dir.path().join("q8")).into_iter().map(|r| (r[0].parse::<i64>().unwrap(), r[1].clone())));
    let window = |t: u64| t / 10_000;
    let mut expected = std::collections::BTreeSet::new();
    for e in &events {
        let Event::Person(p) = e else { continue };
        let sold = events.iter().any(|a| matches!(a, Event::Auction(a) if a.seller == p.id && window(a.date_time) == window(p.date_time)));
        if sold {
            expected.insert((p.id as i64, p.name.clone()));
        }
    }
    assert!(!expected.is_empty());
    assert_eq!(got, count(expected));

    // Unmodified (into blackhole), the sink's row count is the job's accumulator.
    let url = run("q2", "1", None);
    let acc = get_json(&format!("{url}/accumulators")).unwrap();
    let value = &acc["user-task-accumulators"][0];
    assert!(value["name"].as_str().unwrap().contains("Sink: nexmark_q2.sinkRecordsIn"), "{acc}");
    assert_eq!(value["value"], q2_expected.values().sum::<usize>().to_string());
}
