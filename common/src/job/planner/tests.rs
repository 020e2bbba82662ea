//! Tests of the program step: example files plan into the expected vertices and
//! edges, errors name file, line and field, and every connector plans through the
//! registry.

use std::path::{Path, PathBuf};

use super::*;
use crate::job::graph::Partitioning;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn plan(text: &str) -> Result<JobGraph, JobFileError> {
    plan_job_text(text, &examples().join("test.yaml"), &PlanOptions::default())
}

#[test]
fn word_count_plans_into_two_vertices_with_a_hash_edge() {
    let g = plan_job_file(&examples().join("word-count.yaml"), &PlanOptions::default()).unwrap();
    assert_eq!(g.vertices.len(), 2, "{:#?}", g.vertices.iter().map(|v| &v.name).collect::<Vec<_>>());
    assert_eq!(g.vertices[0].name, "Source: lines -> FlatMap -> Filter");
    assert_eq!(g.vertices[1].name, "KeyedAggregate -> Sink: word counts");
    assert_eq!(g.edges.len(), 1);
    assert_eq!(g.edges[0].partitioning, Partitioning::Hash { keys: vec![0] });
    assert_eq!(g.slots_needed(), 2);
    let again = plan_job_file(&examples().join("word-count.yaml"), &PlanOptions::default()).unwrap();
    assert_eq!(g.vertices[1].id, again.vertices[1].id, "vertex ids are stable");
}

#[test]
fn top_products_plans_window_and_top_n() {
    let g = plan_job_file(&examples().join("top-products.yaml"), &PlanOptions { parallelism: Some(3), ..Default::default() }).unwrap();
    let names: Vec<&str> = g.vertices.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names[0], "Source: orders -> Filter -> Map");
    assert!(names[1].starts_with("Window(TumblingEventTimeWindows(300000))"), "{names:?}");
    assert!(names[2].starts_with("TopN"), "{names:?}");
    assert!(g.vertices.iter().all(|v| v.parallelism == 3));
    let last = &g.vertices[2].operators;
    let out: Vec<&str> = last[last.len() - 2].output.0.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(out, ["window_end", "rank", "product_id", "product_name", "units_sold", "revenue"]);
}

const BASE: &str = "name: t\nsources:\n  - name: s\n    connector: datagen\n    number-of-rows: 10\n    fields:\n      - {name: id, type: BIGINT}\n      - {name: label, type: STRING}\n";

#[test]
fn errors_name_file_line_and_field() {
    let e = plan(&format!("{BASE}pipeline:\n  - filter: \"idd > 3\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (10, "pipeline[0].filter"), "{e}");
    assert!(e.to_string().contains("test.yaml:10: pipeline[0].filter: unknown column 'idd'"), "{e}");

    let e = plan(&format!("{BASE}pipeline:\n  - map: \"label * 2 AS x\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
    assert!(e.message.contains("type mismatch"), "{e}");
    assert_eq!(e.line, 10);

    let e = plan(&format!("{BASE}pipeline:\n  - input: nowhere\n    filter: \"id > 1\"\nsinks:\n  - {{name: out, connector: print}}\n"))
        .unwrap_err();
    assert!(e.message.contains("unknown input 'nowhere'") && e.field == "pipeline[0].input", "{e}");

    let e = plan(&format!("{BASE}pipeline:\n  - name: a\n    input: b\n    filter: \"id > 1\"\n  - name: b\n    input: a\n    filter: \"id > 2\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
    assert!(e.message.contains("unknown input 'b'") && e.message.contains("earlier steps"), "{e}");

    let e = plan(&format!("{BASE}pipeline:\n  - filtr: \"id > 1\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
    assert!(e.line == 10 && e.message.contains("filtr"), "{e}");

    let e = plan("name: t\nsources:\n  - name: s\n    connector: datagen\n    fields:\n      - {name: id, type: BIGNT}\nsinks:\n  - {name: out, connector: print}\n").unwrap_err();
    assert!(e.line == 6 && e.field == "sources[0].fields[0].type" && e.message.contains("BIGNT"), "{e}");

    let g = plan(&format!("{BASE}pipeline:\n  - filter: \"id > 1\"\n    partition: broadcast\n    parallelism: 2\nsinks:\n  - {{name: out, connector: print, partition: rebalance}}\n")).unwrap();
    let kinds: Vec<&Partitioning> = g.edges.iter().map(|e| &e.partitioning).collect();
    assert_eq!(kinds, [&Partitioning::Broadcast, &Partitioning::Rebalance]);
    let e =
        plan(&format!("{BASE}pipeline:\n  - filter: \"id > 1\"\n    partition: sideways\nsinks:\n  - {{name: out, connector: print}}\n"))
            .unwrap_err();
    assert!(e.field == "pipeline[0].partition" && e.message.contains("sideways"), "{e}");

    let e = plan(&format!("{BASE}sinks:\n  - {{name: out, connector: kafka}}\n")).unwrap_err();
    assert!(e.message.contains("unknown sink connector 'kafka'"), "{e}");
}

#[test]
fn inputs_that_used_to_panic_are_named_errors() {
    let sink = "sinks:\n  - {name: out, connector: print}\n";
    let e = plan(&format!("{BASE}pipeline:\n  - input: []\n    filter: \"id > 1\"\n{sink}")).unwrap_err();
    assert!(e.message.contains("names no input"), "{e}");
    let e = plan(&format!(
        "{BASE}  - name: t\n    connector: datagen\n    fields:\n      - {{name: x, type: BIGINT}}\npipeline:\n  - input: s\n    key_by: id\n  - input: t\n    aggregate: {{select: \"x, COUNT(*) AS n\"}}\n{sink}"
    ))
    .unwrap_err();
    assert!(e.message.contains("after key_by"), "{e}");
    let e = plan(&format!("{}{sink}", BASE.replace("number-of-rows: 10", "rows-per-second: 0"))).unwrap_err();
    assert!(e.field.ends_with("rows-per-second"), "{e}");
    let e = plan(&format!("{BASE}pipeline:\n  - filter: \"id > 1\"\n    parallelism: 500\n{sink}")).unwrap_err();
    assert!(e.field == "pipeline[0].parallelism" && e.message.contains("max-parallelism"), "{e}");
    let e = plan(&format!("{BASE}pipeline:\n  - key_by: id\n  - aggregate: {{select: \"id, COUNT(*) AS id\"}}\n{sink}")).unwrap_err();
    assert!(e.message.contains("appears twice"), "{e}");
    let e = plan(&format!(
        "name: t\nsources:\n  - name: s\n    connector: socket\n    port: 9\n    fields:\n      - {{name: a, type: BIGINT}}\n{sink}"
    ))
    .unwrap_err();
    assert!(e.message.contains("not an option of the socket connector"), "{e}");
    let e = plan(&format!("name: t\nparallelism: 500\n{}{sink}", &BASE["name: t\n".len()..])).unwrap_err();
    assert!(e.line == 2 && e.field == "parallelism" && e.message.contains("exceeds max-parallelism"), "{e}");
}

/// The connector and typed options of the operator named `name`.
fn operator<'g>(g: &'g JobGraph, name: &str) -> &'g crate::job::graph::OperatorKind {
    &g.vertices.iter().flat_map(|v| &v.operators).find(|o| o.name == name).unwrap_or_else(|| panic!("no operator {name}")).kind
}

#[test]
fn every_connector_plans_through_the_registry() {
    use crate::job::connectors::{self, blackhole, datagen, file, print, socket};
    use crate::job::graph::{FileFormat, OperatorKind};
    let text = "name: all\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 5\n    seed: 3\n    fields:\n      - {name: a, type: BIGINT, kind: sequence}\n      - {name: ts, type: TIMESTAMP, kind: now}\n    watermark: {column: ts, max-out-of-orderness: 1 s}\n  - name: words\n    connector: FILE\n    path: data/words.txt\n    format: text\n    header: false\n  - name: sock\n    connector: socket\n    port: 9999\npipeline:\n  - name: both\n    input: gen\n    filter: \"a > 0\"\nsinks:\n  - {name: p, connector: print}\n  - {name: b, input: sock, connector: blackhole, rows-per-second: 10}\n  - {name: w, input: words, connector: print}\n  - {name: f, input: both, connector: file, path: out, format: json}\n";
    let g = plan(text).unwrap();
    crate::job::validate_job_graph(&g).unwrap();
    let options = |name: &str, role: &str, want: &str| -> serde_json::Value {
        match (operator(&g, name), role) {
            (OperatorKind::Source { connector, options }, "source") | (OperatorKind::Sink { connector, options }, "sink") => {
                assert_eq!(connector, want);
                options.clone()
            }
            (other, _) => panic!("{name}: {other:?}"),
        }
    };
    let d = connectors::decode_source_options::<datagen::Datagen>(&options("Source: gen", "source", "datagen")).unwrap();
    assert_eq!((d.number_of_rows, d.seed, d.fields.len()), (Some(5), 3, 2));
    assert_eq!(d.watermark.map(|w| (w.column, w.max_out_of_orderness_ms)), Some((1, 1000)));
    let f = connectors::decode_source_options::<file::FileSource>(&options("Source: words", "source", "file")).unwrap();
    assert!(f.path.ends_with("data/words.txt") && f.path.starts_with('/') && !f.header && f.format == FileFormat::Text, "{f:?}");
    let s = connectors::decode_source_options::<socket::Socket>(&options("Source: sock", "source", "socket")).unwrap();
    assert_eq!((s.host.as_str(), s.port), ("localhost", 9999));
    let p = connectors::decode_sink_options::<print::Print>(&options("Sink: p", "sink", "print")).unwrap();
    assert_eq!(p, print::PrintOptions::default());
    let b = connectors::decode_sink_options::<blackhole::Blackhole>(&options("Sink: b", "sink", "blackhole")).unwrap();
    assert_eq!(b.rows_per_second, Some(10));
    let o = connectors::decode_sink_options::<file::FileSink>(&options("Sink: f", "sink", "file")).unwrap();
    assert_eq!((o.path, o.format), (examples().join("out").display().to_string(), FileFormat::Json));
}

#[test]
fn an_unknown_source_connector_names_the_registered_ones() {
    let e = plan("name: t\nsources:\n  - {name: s, connector: kafka, path: x}\nsinks:\n  - {name: out, connector: print}\n").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (3, "sources[0].connector"), "{e}");
    assert_eq!(e.message, "unknown source connector 'kafka' (datagen, file, socket or nexmark)");
    let e = plan(&format!("{BASE}sinks:\n  - {{name: out, connector: print, path: x}}\n")).unwrap_err();
    assert_eq!((e.field.as_str(), e.message.as_str()), ("sinks[0].path", "'path' is not an option of the print connector"));
}

#[test]
fn a_graph_with_a_tampered_connector_is_refused() {
    use crate::job::graph::OperatorKind;
    let planned = plan(&format!("{BASE}sinks:\n  - {{name: out, connector: blackhole}}\n")).unwrap();
    let tampered = |change: &dyn Fn(&mut String, &mut serde_json::Value)| {
        let mut g = planned.clone();
        let OperatorKind::Source { connector, options } = &mut g.vertices[0].operators[0].kind else { panic!("not a source") };
        change(connector, options);
        crate::job::validate_job_graph(&g).unwrap_err().0
    };
    let e = tampered(&|connector, _| *connector = "kafka".into());
    assert!(e.contains("unknown source connector 'kafka' (datagen, file, socket or nexmark)"), "{e}");
    let e = tampered(&|_, options| options["fields"][0] = serde_json::json!({"kind": "randomInt", "min": 5, "max": 1}));
    assert!(e.contains("min 5 > max 1"), "{e}");
    let e = tampered(&|_, options| options["fields"][0] = serde_json::json!({"kind": "randomString", "length": 1, "extra": true}));
    assert!(e.contains("do not decode"), "{e}");
    let e = tampered(&|_, options| options["watermark"] = serde_json::json!({"column": 7, "maxOutOfOrdernessMs": 0}));
    assert!(e.contains("watermark names column 7 of 2"), "{e}");
}
