//! Nexmark's Flink SQL (`benchmarks/nexmark/queries/`, as the nexmark-flink project
//! has it) made into runnable scripts: Flink's DDL with its `${…}` placeholders filled
//! in, its views, and one query, as Flink's nexmark runner assembles them.

use std::path::{Path, PathBuf};

/// The directory of the queries.
pub fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks/nexmark/queries")
}

/// The queries there, in order (q0, q1, …, q23).
pub fn query_names() -> Vec<String> {
    let mut names: Vec<(u32, String)> = std::fs::read_dir(queries_dir())
        .expect("benchmarks/nexmark/queries")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().trim_end_matches(".sql").to_string();
            Some((name.strip_prefix('q')?.parse().ok()?, name))
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// What the source generates.
#[derive(Debug, Clone, Copy)]
pub struct Generation {
    pub events: u64,
    /// Events per second of event time (`first-event.rate`, `next-event.rate`).
    pub tps: u64,
    /// Event time of the first event (`base-time`), fixed so runs compare.
    pub base_time: u64,
}

/// The script of `query`: DDL, views and the query. `source_options` are added to
/// the source's `WITH` (the only change the benchmark allows); `sink` replaces the
/// query's blackhole sink's options when given (for tests that read the output).
pub fn script(query: &str, generation: Generation, sink: Option<&str>) -> String {
    let read = |name: &str| std::fs::read_to_string(queries_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ddl = read("ddl_gen.sql")
        .replace("${TPS}", &generation.tps.to_string())
        .replace("${EVENTS_NUM}", &generation.events.to_string())
        .replace("${PERSON_PROPORTION}", "1")
        .replace("${AUCTION_PROPORTION}", "3")
        .replace("${BID_PROPORTION}", "46")
        .replace("'connector' = 'nexmark',", &format!("'connector' = 'nexmark',\n    'base-time' = '{}',", generation.base_time));
    let views = read("ddl_views.sql").replace("${NEXMARK_TABLE}", "datagen");
    let mut query_text = read(&format!("{query}.sql"));
    if let Some(sink) = sink {
        query_text = query_text.replace("'connector' = 'blackhole'", sink);
    }
    format!("{ddl}\n;\n{views}\n;\n{query_text}\n")
}
