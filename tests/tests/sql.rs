//! End-to-end tests of Flink SQL scripts: `rask run job.sql` on the local cluster and
//! on a session cluster of real processes, checked by what a user sees (the printed
//! changelog and windows, the committed files after a TaskManager's kill -9, the
//! error a bad script gets).

use std::collections::BTreeMap;
use std::time::Duration;

use rask_tests::*;

/// Folds Flink's printed changelog (`id> +I[a, b]`) with identifier `id` into the
/// final rows by first column; panics on a retraction of a row that is not there.
fn fold_changelog(out: &str, id: &str) -> BTreeMap<String, Vec<String>> {
    let mut table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in out.lines().filter_map(|l| l.strip_prefix(&format!("{id}> "))) {
        let (kind, row) = line.split_at(2);
        let cells: Vec<String> = row.trim_start_matches('[').trim_end_matches(']').split(", ").map(str::to_string).collect();
        let key = cells[0].clone();
        match kind {
            "+I" => assert!(table.insert(key, cells).is_none(), "+I of a key already there: {line}"),
            "-U" | "-D" => assert_eq!(table.remove(&key).as_ref(), Some(&cells), "{kind} of a row not there: {line}"),
            "+U" => assert!(table.insert(key, cells).is_none(), "+U without -U: {line}"),
            other => panic!("unknown row kind {other} in {line}"),
        }
    }
    table
}

#[test]
fn the_sql_example_runs_on_the_local_cluster_with_a_changelog_and_windows() {
    let script = examples_dir().join("sql/revenue-per-product.sql");
    let out = rask(&["run", script.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    // order_time is order_id seconds after midnight: ids 1..9, 10..19, 20..29, 30.
    let windows: Vec<(String, u64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("window> +I["))
        .map(|r| {
            let cells: Vec<&str> = r.trim_end_matches(']').split(", ").collect();
            (cells[0].to_string(), cells[1].parse().unwrap())
        })
        .collect();
    assert_eq!(
        windows,
        [
            ("2026-01-01T00:00:10".to_string(), 9),
            ("2026-01-01T00:00:20".to_string(), 10),
            ("2026-01-01T00:00:30".to_string(), 10),
            ("2026-01-01T00:00:40".to_string(), 1)
        ]
    );
    // The revenue changelog folds into one row per product; its order counts add up
    // to the orders with a quantity over 1 (at most all 30).
    let revenue = fold_changelog(&stdout, "revenue");
    let orders: u64 = revenue.values().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert!(!revenue.is_empty() && orders <= 30, "{revenue:?}");
    // `rask info` shows the one job of the statement set, with both sinks.
    let info = rask(&["info", script.to_str().unwrap()], &[]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Sink: revenue") && info.contains("Sink: per_window") && info.contains("GroupAggregate"), "{info}");
}

#[test]
fn a_changelog_retracts_and_updates_as_rows_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("counts.sql");
    std::fs::write(
        &script,
        "CREATE TABLE clicks (id BIGINT, page AS MOD(id, 3)) WITH (\n  'connector' = 'datagen', 'rows-per-second' = '20',\n  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '12'\n);\n\
         CREATE TABLE counts (page BIGINT, views BIGINT, last_id BIGINT) WITH ('connector' = 'print', 'print-identifier' = 'counts');\n\
         INSERT INTO counts SELECT page, COUNT(*) AS views, MAX(id) FROM clicks GROUP BY page;\n",
    )
    .unwrap();
    let out = rask(&["run", script.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    // At 20 rows/s the rows arrive in several batches: later ones update earlier keys.
    assert!(stdout.contains("counts> -U[") && stdout.contains("counts> +U["), "{stdout}");
    let table = fold_changelog(&stdout, "counts");
    let expected: BTreeMap<String, Vec<String>> = [("0", "4", "12"), ("1", "4", "10"), ("2", "4", "11")]
        .iter()
        .map(|(p, n, m)| (p.to_string(), vec![p.to_string(), n.to_string(), m.to_string()]))
        .collect();
    assert_eq!(table, expected);
}

#[test]
fn bad_sql_gets_the_statement_line_column_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.sql");
    let check = |text: &str, expected: &[&str]| {
        std::fs::write(&script, text).unwrap();
        let out = rask(&["run", script.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        for e in expected {
            assert!(stderr.contains(e), "expected '{e}' in: {stderr}");
        }
    };
    let table = "CREATE TABLE t (a BIGINT, b STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '5');\nCREATE TABLE p (a BIGINT) WITH ('connector' = 'print');\n";
    check(&format!("{table}INSERT INTO p\nSELECT a,, b FROM t;"), &["bad.sql:4:10: statement 3 (INSERT INTO): Expected: an expression"]);
    check(
        &format!("{table}INSERT INTO p\nSELECT c FROM t;"),
        &["bad.sql:4:8: statement 3 (INSERT INTO): unknown column 'c' (columns: a, b)"],
    );
    check(
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'fields.a.mean' = '5');\nINSERT INTO t SELECT * FROM t;",
        &["unsupported option 'fields.a.mean'"],
    );
    check(
        &format!("{table}INSERT INTO p SELECT b FROM t;"),
        &["statement 3 (INSERT INTO)", "column 'b' is STRING, the table's 'a' is BIGINT"],
    );
    check(
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'rows' = '5');\nINSERT INTO t SELECT * FROM t;",
        &["bad.sql:1:58", "unsupported option 'rows' for connector 'datagen'"],
    );
}

#[test]
fn a_sql_insert_into_files_is_exactly_once_when_a_taskmanager_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new()
        .with("execution.checkpointing.interval", "100")
        .with("state.checkpoints.dir", &dir.path().join("checkpoints").display().to_string())
        .with("restart-strategy.type", "fixed-delay")
        .with("restart-strategy.fixed-delay.delay", "100");
    let _jm = spec.jobmanager("jm", dir.path());
    let mut tm0 = spec.taskmanager("tm0", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    let _tm1 = spec.taskmanager("tm1", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    spec.wait_slots(2, 2, Duration::from_secs(30));
    let rows = 60_000u64;
    let script = dir.path().join("copy.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';\nCREATE TABLE gen (id BIGINT) WITH (\n  'connector' = 'datagen', 'rows-per-second' = '20000',\n  \
             'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}'\n);\n\
             CREATE TABLE out (id BIGINT, bucket BIGINT) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');\n\
             INSERT INTO out SELECT id, MOD(id, 7) FROM gen WHERE id > 0;\n"
        ),
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let id = submit_detached(&m, &script);
    let url = format!("{}/jobs/{id}", spec.rest_url());
    wait_for(Duration::from_secs(20), "two completed checkpoints", || {
        get_json(&format!("{url}/checkpoints")).filter(|s| s["counts"]["completed"].as_u64() >= Some(2))
    });
    tm0.kill9();
    let _tm2 = spec.taskmanager("tm2", dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    let job = wait_for(Duration::from_secs(60), "the job to finish after the restart", || {
        get_json(&url).filter(|j| j["state"] == "FINISHED" || j["state"] == "FAILED")
    });
    assert_eq!(job["state"], "FINISHED");
    let restarts = get_json(&format!("{url}/metrics?get=numRestarts")).unwrap();
    assert!(restarts.to_string().contains("numRestarts"), "{restarts}");
    // Every id exactly once in the committed files (not the in-progress ones).
    let mut seen = vec![0u8; rows as usize + 1];
    for entry in std::fs::read_dir(dir.path().join("out")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).unwrap().lines().filter(|l| *l != "id,bucket") {
            let (i, bucket) = line.split_once(',').unwrap();
            let i: u64 = i.parse().unwrap();
            assert_eq!(bucket.parse::<u64>().unwrap(), i % 7, "{line}");
            seen[i as usize] += 1;
        }
    }
    let wrong: Vec<(usize, u8)> = seen.iter().enumerate().skip(1).filter(|(_, &n)| n != 1).map(|(i, &n)| (i, n)).take(5).collect();
    assert!(wrong.is_empty(), "ids not exactly once (id, times): {wrong:?}");
}

/// The last row printed per key (first column) with identifier `id`: what a key's
/// count reached, whatever the changelog before it.
fn last_rows(out: &str, id: &str) -> BTreeMap<String, Vec<String>> {
    let mut last = BTreeMap::new();
    // `id> ` from one subtask, `id:2> ` from subtask 2 of several.
    let rows = out.lines().filter_map(|l| l.strip_prefix(id)).filter_map(|l| l.split_once("> "));
    for (_, line) in rows {
        let (kind, row) = line.split_at(2);
        if kind == "+I" || kind == "+U" {
            let cells: Vec<String> = row.trim_start_matches('[').trim_end_matches(']').split(", ").map(str::to_string).collect();
            last.insert(cells[0].clone(), cells);
        }
    }
    last
}

#[test]
fn a_sql_group_by_stops_with_a_savepoint_and_resumes_at_another_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("state.savepoints.dir", &dir.path().join("savepoints").display().to_string());
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "4")]);
    spec.wait_slots(1, 4, Duration::from_secs(30));
    let script = dir.path().join("counts.sql");
    // 20,000 ids at 4,000 rows/s: the stop comes in the middle.
    std::fs::write(
        &script,
        "CREATE TABLE ids (id BIGINT, k AS MOD(id, 10)) WITH (\n  'connector' = 'datagen', 'rows-per-second' = '4000',\n  \
         'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '20000'\n);\n\
         CREATE TABLE counts (k BIGINT, n BIGINT, total BIGINT) WITH ('connector' = 'print', 'print-identifier' = 'counts');\n\
         INSERT INTO counts SELECT k, COUNT(*) AS n, SUM(id) AS total FROM ids GROUP BY k;\n",
    )
    .unwrap();
    let m = format!("127.0.0.1:{}", spec.rest_port);
    let id = submit_detached_with(&m, &script, &["-p", "2"]);
    let url = format!("{}/jobs/{id}", spec.rest_url());
    wait_for(Duration::from_secs(20), "the job to run a while", || {
        get_json(&url).filter(|j| j["state"] == "RUNNING" && j["duration"].as_u64() > Some(1500))
    });
    let out = rask(&["stop", "-m", &m, &id], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let savepoint = line_value(&text, "Savepoint completed. Path: ").expect("a savepoint path");
    // The same SQL, at parallelism 3, from the savepoint, attached: it finishes.
    let resumed = rask(&["run", "-m", &m, "-p", "3", "--fromSavepoint", savepoint.trim(), script.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(resumed.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&resumed.stderr));
    // Every key ends at its full count and sum: the state before the stop was restored
    // (not started over) and no id was counted twice.
    let last = last_rows(&stdout, "counts");
    assert_eq!(last.len(), 10, "{stdout}");
    for (k, row) in &last {
        let k: u64 = k.parse().unwrap();
        let ids = (1..=20_000u64).filter(|i| i % 10 == k);
        assert_eq!(row[1], "2000", "count of key {k}");
        assert_eq!(row[2], ids.sum::<u64>().to_string(), "sum of key {k}");
    }
    // The resumed run retracted rows it had not printed: its state came from the savepoint.
    assert!(stdout.contains("counts:") && stdout.contains("> -U["), "{stdout}");
}
