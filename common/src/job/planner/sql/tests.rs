//! Planning SQL scripts: the JobGraphs they yield and the errors they get.

use std::path::Path;

use super::*;
use crate::job::graph::{OperatorKind, Partitioning};

fn plan(text: &str) -> Result<SqlScript, JobFileError> {
    plan_sql_text(text, Path::new("/tmp/job.sql"), &PlanOptions::default())
}

const ORDERS: &str = "CREATE TABLE orders (\n  id BIGINT,\n  product STRING,\n  price DOUBLE,\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND\n) WITH (\n  'connector' = 'datagen',\n  'number-of-rows' = '100',\n  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '50',\n  'fields.product.length' = '3'\n);\nCREATE TABLE out (product STRING, n BIGINT, total DOUBLE) WITH ('connector' = 'print');\n";

fn kinds(graph: &JobGraph) -> Vec<String> {
    graph.vertices.iter().flat_map(|v| v.operators.iter().map(|o| o.name.clone())).collect()
}

#[test]
fn a_group_by_plans_source_aggregate_projection_and_sink() {
    let script = plan(&format!("SET 'parallelism.default' = '2';\n{ORDERS}INSERT INTO out SELECT product, COUNT(*), SUM(price) AS total FROM orders WHERE price > 0.5 GROUP BY product;")).unwrap();
    assert_eq!(script.jobs.len(), 1);
    let g = &script.jobs[0].graph;
    assert_eq!(g.name, "insert-into_default_catalog.default_database.out");
    assert_eq!(kinds(g), ["Source: orders", "Calc", "GroupAggregate", "Calc", "Sink: out"]);
    assert!(g.vertices.iter().all(|v| v.parallelism == 2));
    assert!(matches!(g.edges[0].partitioning, Partitioning::Hash { .. }));
    let agg = &g.vertices[1].operators[0];
    assert!(matches!(&agg.kind, OperatorKind::Aggregate { changelog: true, .. }));
    // datagen's sequence bounds the rows: 50 ids, though number-of-rows says 100.
    let OperatorKind::Source { options, .. } = &g.vertices[0].operators[0].kind else { panic!() };
    assert_eq!(options["numberOfRows"], 50);
    assert_eq!(options["watermark"]["maxOutOfOrdernessMs"], 2000);
}

#[test]
fn uids_are_stable_and_follow_the_statement() {
    let text = format!("{ORDERS}INSERT INTO out SELECT product, COUNT(*), SUM(price) FROM orders GROUP BY product;");
    let uids = |t: &str| -> Vec<String> {
        plan(t).unwrap().jobs[0].graph.vertices.iter().flat_map(|v| v.operators.iter().map(|o| o.uid.clone())).collect()
    };
    let a = uids(&text);
    assert_eq!(a, uids(&text.replace("INSERT INTO out", "-- the same job\nINSERT   INTO out")));
    assert_ne!(a, uids(&text.replace("SUM(price)", "MAX(price)")));
}

#[test]
fn a_tumbling_window_plans_a_window_operator() {
    let script = plan(&format!(
        "{ORDERS}CREATE TABLE w (window_start TIMESTAMP(3), window_end TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO w SELECT window_start, window_end, COUNT(*) FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end;"
    ))
    .unwrap();
    let g = &script.jobs[0].graph;
    let window = g.vertices.iter().flat_map(|v| &v.operators).find_map(|o| match &o.kind {
        OperatorKind::Window(w) => Some(w.clone()),
        _ => None,
    });
    let w = window.expect("a window operator");
    assert_eq!((w.size_ms, w.slide_ms, w.event_time, w.keys.len()), (10_000, 10_000, true, 0));
}

#[test]
fn statement_sets_make_one_job_and_inserts_each_their_own() {
    let set = plan(&format!(
        "{ORDERS}CREATE TABLE b (id BIGINT) WITH ('connector' = 'blackhole');\nEXECUTE STATEMENT SET BEGIN\nINSERT INTO b SELECT id FROM orders;\nINSERT INTO b SELECT id + 1 FROM orders;\nEND;"
    ))
    .unwrap();
    assert_eq!(set.jobs.len(), 1);
    assert_eq!(set.jobs[0].graph.vertices.iter().filter(|v| v.name.starts_with("Source")).count(), 2);
    let two = plan(&format!(
        "{ORDERS}CREATE TABLE b (id BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO b SELECT id FROM orders;\nINSERT INTO b SELECT id FROM orders UNION ALL SELECT id FROM orders;"
    ))
    .unwrap();
    assert_eq!(two.jobs.len(), 2);
    assert!(kinds(&two.jobs[1].graph).contains(&"Union".to_string()));
}

#[test]
fn computed_columns_and_their_watermark_follow_the_source() {
    let script = plan(
        "CREATE TABLE t (a BIGINT, b AS a * 2, ts AS CAST('2024-01-01 00:00:00' AS TIMESTAMP), WATERMARK FOR ts AS ts) WITH ('connector' = 'datagen');\nCREATE TABLE o (a BIGINT, b BIGINT, ts TIMESTAMP(3)) WITH ('connector' = 'print', 'print-identifier' = 'x');\nINSERT INTO o SELECT * FROM t;",
    )
    .unwrap();
    assert_eq!(kinds(&script.jobs[0].graph), ["Source: t", "Calc", "WatermarkAssigner", "Sink: o"]);
}

#[test]
fn errors_name_statement_line_column_and_what_is_wrong() {
    let e = |text: &str| plan(text).unwrap_err().to_string();
    let m = e(&format!("{ORDERS}INSERT INTO out SELECT product, COUNT(*), SUM(prize) FROM orders GROUP BY product;"));
    assert!(m.starts_with("/tmp/job.sql:14:") && m.contains("statement 3 (INSERT INTO)") && m.contains("unknown column 'prize'"), "{m}");
    let m = e(&format!("{ORDERS}INSERT INTO out SELECT product, price, COUNT(*) FROM orders GROUP BY product;"));
    assert!(m.contains("column 'price' is neither grouped nor aggregated"), "{m}");
    let m = e(&format!("{ORDERS}INSERT INTO nowhere SELECT * FROM orders;"));
    assert!(m.contains("object 'nowhere' not found") && m.contains("known: orders, out"), "{m}");
    let m = e(&format!("{ORDERS}INSERT INTO out SELECT id FROM orders;"));
    assert!(m.contains("column types of query result and sink for 'out' do not match"), "{m}");
    let m = e("CREATE TABLE t (a INT) WITH ('connector' = 'kafka');\nINSERT INTO t SELECT * FROM t;");
    assert!(m.contains("unknown connector 'kafka'") && m.starts_with("/tmp/job.sql:1:30"), "{m}");
    let m = e("CREATE TABLE t (a INT) WITH ('connector' = 'datagen', 'rows' = '1');\nCREATE TABLE p (a INT) WITH ('connector' = 'print');\nINSERT INTO p SELECT * FROM t;");
    assert!(m.contains("unsupported option 'rows' for connector 'datagen'"), "{m}");
    let m = e(&format!("{ORDERS}CREATE TABLE f (product STRING, n BIGINT, total DOUBLE) WITH ('connector' = 'filesystem', 'path' = '/tmp/x', 'format' = 'csv');\nINSERT INTO f SELECT product, COUNT(*), SUM(price) FROM orders GROUP BY product;"));
    assert!(m.contains("does not support consuming update changes"), "{m}");
    let m = e(&format!("{ORDERS}BEGIN STATEMENT SET;\nINSERT INTO out SELECT product, COUNT(*), SUM(price) FROM orders GROUP BY product;"));
    assert!(m.contains("never closed"), "{m}");
    let m = e(ORDERS);
    assert!(m.contains("submits no job"), "{m}");
}
