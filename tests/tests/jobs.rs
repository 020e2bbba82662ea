//! End-to-end tests of jobs: the examples on the local target and on a session
//! cluster of separate processes (data crossing the network), scheduling, cancel,
//! back-pressure, memory budgets and malformed job files. Expected results are
//! computed here, independently of Rask.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use rask_tests::*;
use serde_json::Value;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A session cluster: one JobManager and `tms` TaskManagers with `slots` slots each.
struct Session {
    spec: ClusterSpec,
    _jm: Daemon,
    tms: Vec<Daemon>,
    dir: tempfile::TempDir,
}

impl Session {
    fn start(tms: usize, slots: u32, settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = ClusterSpec::new().with("heartbeat.interval", "500").with("heartbeat.timeout", "5000");
        for (k, v) in settings {
            spec = spec.with(k, v);
        }
        let jm = spec.jobmanager("jm", dir.path());
        let slots_s = slots.to_string();
        let tms: Vec<Daemon> =
            (0..tms).map(|i| spec.taskmanager(&format!("tm{i}"), dir.path(), &[("taskmanager.numberOfTaskSlots", &slots_s)])).collect();
        spec.wait_slots(tms.len() as u64, tms.len() as u64 * u64::from(slots), SECS(30));
        Session { spec, _jm: jm, tms, dir }
    }

    fn m(&self) -> String {
        format!("127.0.0.1:{}", self.spec.rest_port)
    }

    fn job(&self, id: &str) -> Value {
        get_json(&format!("{}/jobs/{id}", self.spec.rest_url())).expect("job details")
    }

    fn wait_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        wait_for(timeout, &format!("job {id} to be {state}"), || {
            let j = self.job(id);
            (j["state"] == state).then_some(j)
        })
    }
}

fn job_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Job has been submitted with JobID "))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no JobID in: {out}"))
}

// ---------------------------------------------------------------------------------
// word count
// ---------------------------------------------------------------------------------

#[test]
fn word_count_on_the_local_target() {
    let out = rask(&["run", examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_word_counts(&stdout(&out)), expected_word_counts());
    assert!(stdout(&out).contains("has finished."));
}

#[test]
fn word_count_on_a_session_cluster_across_the_network() {
    // Two TaskManagers with one slot each: parallelism 2 puts a subtask on each, so the
    // hash exchange crosses the network.
    let s = Session::start(2, 1, &[]);
    let out = rask(&["run", "-m", &s.m(), examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_word_counts(&stdout(&out)), expected_word_counts());
    let id = job_id(&stdout(&out));
    let job = s.job(&id);
    assert_eq!(job["state"], "FINISHED");
    let managers: std::collections::HashSet<String> = job["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["subtasks"].as_array().unwrap().iter().map(|t| t["taskmanager-id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(managers.len(), 2, "subtasks ran on both TaskManagers");
    // Every slot is free again.
    wait_for(SECS(5), "slots freed", || s.spec.overview().filter(|o| o["slots-available"] == 2));
}

// ---------------------------------------------------------------------------------
// top products, on test-generated orders
// ---------------------------------------------------------------------------------

struct Order {
    product: i64,
    quantity: i64,
    price: f64,
    paid: bool,
    time_ms: i64,
}

fn product_name(id: i64) -> &'static str {
    match id {
        1 => "Espresso beans 1kg",
        2 => "Pour-over kettle",
        3 => "Burr grinder",
        4 => "Ceramic dripper",
        5 => "Paper filters x100",
        6 => "Milk frother",
        7 => "Travel mug",
        8 => "Cold brew jar",
        9 => "Digital scale",
        10 => "Tamper",
        11 => "Decaf beans 500g",
        _ => "Gift card",
    }
}

/// The example's pipeline with its datagen source replaced by a CSV file of orders
/// written by the test.
fn top_products_on_file(dir: &Path, orders: &[Order]) -> std::path::PathBuf {
    let start = 1_795_986_000_000i64; // 2026-11-26 09:00:00 UTC
    let mut csv = String::from("order_id,product_id,quantity,unit_price,status,order_time\n");
    for (i, o) in orders.iter().enumerate() {
        let t = o.time_ms - start;
        let (h, m, sec, ms) = (9 + t / 3_600_000, (t / 60_000) % 60, (t / 1000) % 60, t % 1000);
        csv.push_str(&format!(
            "{},{},{},{},{},2026-11-26T{h:02}:{m:02}:{sec:02}.{ms:03}\n",
            i + 1,
            o.product,
            o.quantity,
            o.price,
            if o.paid { "PAID" } else { "CANCELLED" }
        ));
    }
    std::fs::write(dir.join("orders.csv"), csv).unwrap();
    let example = std::fs::read_to_string(examples_dir().join("top-products.yaml")).unwrap();
    let (_, rest) = example.split_once("\nsources:\n").unwrap();
    let (_, pipeline) = rest.split_once("\npipeline:\n").unwrap();
    let job = format!(
        "name: top-products-on-file\nparallelism: 2\nsources:\n  - name: orders\n    connector: file\n    format: csv\n    path: orders.csv\n    fields:\n      \
         - {{name: order_id, type: BIGINT}}\n      - {{name: product_id, type: BIGINT}}\n      - {{name: quantity, type: INT}}\n      \
         - {{name: unit_price, type: DOUBLE}}\n      - {{name: status, type: STRING}}\n      - {{name: order_time, type: TIMESTAMP}}\n    \
         watermark:\n      column: order_time\n      max-out-of-orderness: 1 s\npipeline:\n{pipeline}"
    );
    let path = dir.join("top-products-on-file.yaml");
    std::fs::write(&path, job).unwrap();
    path
}

/// Orders from a small LCG (the test's own generator), timestamps in order.
fn orders(n: usize) -> Vec<Order> {
    let mut x: u64 = 42;
    let mut next = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 33
    };
    let start = 1_795_986_000_000i64;
    (0..n)
        .map(|i| Order {
            product: 1 + (next() % 12) as i64,
            quantity: 1 + (next() % 4) as i64,
            price: (300 + next() % 5700) as f64 / 100.0,
            paid: next() % 5 != 0,
            time_ms: start + i as i64 * 40,
        })
        .collect()
}

/// (window end ms, rank) -> (product, units, revenue), computed here.
fn expected_ranking(orders: &[Order]) -> BTreeMap<(i64, i64), (i64, i64, f64)> {
    let mut per_window: BTreeMap<i64, HashMap<i64, (i64, f64)>> = BTreeMap::new();
    for o in orders.iter().filter(|o| o.paid && o.quantity > 0) {
        let end = o.time_ms - o.time_ms.rem_euclid(300_000) + 300_000;
        let e = per_window.entry(end).or_default().entry(o.product).or_insert((0, 0.0));
        e.0 += o.quantity;
        e.1 += o.price * o.quantity as f64;
    }
    let mut out = BTreeMap::new();
    for (end, products) in per_window {
        let mut ranked: Vec<(i64, (i64, f64))> = products.into_iter().collect();
        ranked.sort_by(|a, b| b.1 .1.partial_cmp(&a.1 .1).unwrap());
        for (rank, (product, (units, revenue))) in ranked.into_iter().take(10).enumerate() {
            out.insert((end, rank as i64 + 1), (product, units, revenue));
        }
    }
    out
}

fn parse_ts(s: &str) -> i64 {
    // 2026-11-26T09:05:00
    let (_, time) = s.split_once('T').unwrap();
    let parts: Vec<i64> = time.split(':').map(|p| p.parse::<f64>().unwrap() as i64).collect();
    1_795_953_600_000 + parts[0] * 3_600_000 + parts[1] * 60_000 + parts[2] * 1000
}

fn check_ranking(out: &str, expected: &BTreeMap<(i64, i64), (i64, i64, f64)>) {
    let rows = table_rows(out, "window_end");
    assert_eq!(rows.len(), expected.len(), "{out}");
    for row in rows {
        let key = (parse_ts(&row[0]), row[1].parse::<i64>().unwrap());
        let (product, units, revenue) = expected.get(&key).unwrap_or_else(|| panic!("unexpected row {row:?}"));
        assert_eq!(row[2].parse::<i64>().unwrap(), *product, "{row:?}");
        assert_eq!(row[3], product_name(*product));
        assert_eq!(row[4].parse::<i64>().unwrap(), *units, "{row:?}");
        let got: f64 = row[5].parse().unwrap();
        assert!((got - revenue).abs() < 1e-6 * revenue.abs().max(1.0), "{row:?} vs {revenue}");
    }
}

#[test]
fn top_products_ranking_is_exact_locally_and_on_a_session_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let orders = orders(40_000);
    let expected = expected_ranking(&orders);
    assert!(expected.len() >= 50, "several windows of 10");
    let job = top_products_on_file(dir.path(), &orders);
    let out = rask(&["run", job.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    check_ranking(&stdout(&out), &expected);

    let s = Session::start(2, 1, &[]);
    let out = rask(&["run", "-m", &s.m(), job.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    check_ranking(&stdout(&out), &expected);
}

#[test]
fn top_products_example_prints_ten_ranked_products_per_window() {
    let out = rask(&["run", examples_dir().join("top-products.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let header = text.lines().find(|l| l.starts_with("| window_end")).expect("a table");
    let columns: Vec<&str> = header.trim_matches('|').split('|').map(str::trim).collect();
    assert_eq!(columns, ["window_end", "rank", "product_id", "product_name", "units_sold", "revenue"]);
    let rows = table_rows(&text, "window_end");
    // 120,000 orders 10 ms apart: four 5-minute windows.
    assert_eq!(rows.len(), 40);
    for window in rows.chunks(10) {
        let ranks: Vec<&str> = window.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(ranks, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
        let revenue: Vec<f64> = window.iter().map(|r| r[5].parse().unwrap()).collect();
        assert!(revenue.windows(2).all(|w| w[0] >= w[1]), "sorted by revenue: {revenue:?}");
    }
    // The same job file on a session cluster prints the same ranking (seeded data).
    let s = Session::start(1, 2, &[]);
    let remote = rask(&["run", "-m", &s.m(), examples_dir().join("top-products.yaml").to_str().unwrap()], &[]);
    assert_eq!(table_rows(&stdout(&remote), "window_end"), rows);
}

// ---------------------------------------------------------------------------------
// state machine, on test-generated events
// ---------------------------------------------------------------------------------

#[test]
fn state_machine_alerts_exactly_the_invalid_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let kinds = ["view", "view", "view", "add", "login", "logout", "pay"];
    let mut x: u64 = 7;
    let mut csv = String::from("user_id,event_type\n");
    let mut events = Vec::new();
    for _ in 0..5000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let user = 1 + ((x >> 33) % 50) as i64;
        let kind = kinds[((x >> 20) % kinds.len() as u64) as usize];
        csv.push_str(&format!("{user},{kind}\n"));
        events.push((user, kind));
    }
    std::fs::write(dir.path().join("events.csv"), csv).unwrap();
    // The example's state machine over the file.
    let example = std::fs::read_to_string(examples_dir().join("state-machine.yaml")).unwrap();
    let (_, pipeline) = example.split_once("\npipeline:\n").unwrap();
    let job = format!(
        "name: sm\nparallelism: 2\nsources:\n  - name: events\n    connector: file\n    path: events.csv\n    fields:\n      \
         - {{name: user_id, type: BIGINT}}\n      - {{name: event_type, type: STRING}}\npipeline:\n{pipeline}"
    );
    std::fs::write(dir.path().join("sm.yaml"), job).unwrap();
    // Expected alerts, simulated here.
    let next = |state: &str, event: &str| -> Option<&'static str> {
        match (state, event) {
            ("ANONYMOUS", "view") => Some("ANONYMOUS"),
            ("ANONYMOUS", "login") => Some("MEMBER"),
            ("MEMBER", "view") => Some("MEMBER"),
            ("MEMBER", "add") => Some("SHOPPING"),
            ("MEMBER", "logout") => Some("ANONYMOUS"),
            ("SHOPPING", "view") | ("SHOPPING", "add") => Some("SHOPPING"),
            ("SHOPPING", "pay") => Some("MEMBER"),
            ("SHOPPING", "logout") => Some("ANONYMOUS"),
            _ => None,
        }
    };
    let mut states: HashMap<i64, &str> = HashMap::new();
    let mut expected: Vec<(String, String, String)> = Vec::new();
    for (user, event) in &events {
        let state = *states.get(user).unwrap_or(&"ANONYMOUS");
        match next(state, event) {
            Some(n) => {
                states.insert(*user, n);
            }
            None => expected.push((user.to_string(), state.to_string(), event.to_string())),
        }
    }
    expected.sort();
    let out = rask(&["run", dir.path().join("sm.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut got: Vec<(String, String, String)> =
        table_rows(&stdout(&out), "user_id").into_iter().map(|r| (r[0].clone(), r[1].clone(), r[2].clone())).collect();
    got.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);

    // And the example itself runs on a session cluster.
    let s = Session::start(2, 1, &[]);
    let out = rask(&["run", "-m", &s.m(), examples_dir().join("state-machine.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!table_rows(&stdout(&out), "user_id").is_empty());
}

// ---------------------------------------------------------------------------------
// scheduling, cancel, back-pressure, budgets, errors
// ---------------------------------------------------------------------------------

const UNBOUNDED: &str = "name: endless\nsources:\n  - name: gen\n    connector: datagen\n    rows-per-second: 2000\n    fields:\n      \
                         - {name: id, type: BIGINT, kind: sequence}\n      - {name: k, type: BIGINT, min: 0, max: 99}\npipeline:\n  \
                         - key_by: k\n  - aggregate:\n      select: \"k, COUNT(*) AS n\"\nsinks:\n  - {name: out, connector: blackhole}\n";

#[test]
fn a_job_waits_for_slots_and_runs_when_a_taskmanager_joins() {
    let mut s = Session::start(1, 1, &[]);
    let out = rask(&["run", "-d", "-p", "2", "-m", &s.m(), examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = job_id(&stdout(&out));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.job(&id)["state"], "CREATED", "waits for a second slot");
    let tm = s.spec.taskmanager("late", s.dir.path(), &[("taskmanager.numberOfTaskSlots", "1")]);
    s.tms.push(tm);
    s.wait_state(&id, "FINISHED", SECS(20));
}

#[test]
fn a_job_without_enough_slots_fails_after_slot_request_timeout() {
    let s = Session::start(1, 1, &[("slot.request.timeout", "800")]);
    let out = rask(&["run", "-p", "3", "-m", &s.m(), examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("needs 3 slots, 1 are free"), "{err}");
    let list = rask(&["list", "--all", "-m", &s.m()], &[]);
    assert!(stdout(&list).contains("(FAILED)"), "{}", stdout(&list));
    assert!(stdout(&list).contains("Root cause: Could not acquire the minimum required resources"), "{}", stdout(&list));
}

#[test]
fn cancel_stops_every_task_and_frees_every_slot() {
    let s = Session::start(2, 2, &[]);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("endless.yaml");
    std::fs::write(&job, UNBOUNDED.replace("name: endless\n", "name: endless\nparallelism: 3\n")).unwrap();
    let out = rask(&["run", "--detached", "-m", &s.m(), job.to_str().unwrap()], &[]);
    let id = job_id(&stdout(&out));
    s.wait_state(&id, "RUNNING", SECS(10));
    wait_for(SECS(10), "all tasks running", || {
        let j = s.job(&id);
        (j["status-counts"]["RUNNING"] == 6).then_some(())
    });
    let list = rask(&["list", "-m", &s.m()], &[]);
    assert!(stdout(&list).contains(&format!(" : {id} : endless (RUNNING)")), "{}", stdout(&list));
    assert_eq!(s.spec.overview().unwrap()["slots-available"], 1);

    let out = rask(&["cancel", "-m", &s.m(), &id], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job = s.wait_state(&id, "CANCELED", SECS(10));
    assert_eq!(job["status-counts"]["CANCELED"], 6);
    wait_for(SECS(5), "slots freed", || s.spec.overview().filter(|o| o["slots-available"] == 4));
    assert_eq!(s.spec.overview().unwrap()["jobs-cancelled"], 1);
    let again = rask(&["cancel", "-m", &s.m(), &id], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("terminal state CANCELED"), "{}", stderr(&again));
}

#[test]
fn back_pressure_keeps_memory_bounded_when_the_sink_is_slow() {
    let s = Session::start(2, 1, &[]);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("slow.yaml");
    // An unthrottled source (millions of rows/s) against a sink taking 20,000 rows/s,
    // across the network (parallelism 2 on two TaskManagers, rebalanced).
    std::fs::write(
        &job,
        "name: slow\nparallelism: 2\nsources:\n  - name: gen\n    connector: datagen\n    fields:\n      - {name: id, type: BIGINT, kind: sequence}\n      \
         - {name: payload, type: STRING, length: 64}\nsinks:\n  - {name: out, connector: blackhole, rows-per-second: 20000, parallelism: 1}\n",
    )
    .unwrap();
    let out = rask(&["run", "-d", "-m", &s.m(), job.to_str().unwrap()], &[]);
    let id = job_id(&stdout(&out));
    s.wait_state(&id, "RUNNING", SECS(10));
    let rss = |d: &Daemon| rask_common::hardware::rss_bytes_of(&d.pid().to_string()) >> 20;
    std::thread::sleep(SECS(1));
    let first: Vec<u64> = s.tms.iter().map(rss).collect();
    let mut peak = first.clone();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        for (i, d) in s.tms.iter().enumerate() {
            peak[i] = peak[i].max(rss(d));
        }
    }
    assert_eq!(s.job(&id)["state"], "RUNNING");
    for (i, (&f, &p)) in first.iter().zip(&peak).enumerate() {
        // Without back-pressure the source would buffer hundreds of MB per second.
        assert!(p < 150 && p - f < 40, "TaskManager {i}: RSS {f} MB -> peak {p} MB");
    }
    rask(&["cancel", "-m", &s.m(), &id], &[]);
    s.wait_state(&id, "CANCELED", SECS(10));
}

#[test]
fn a_task_over_its_slot_memory_budget_fails_alone() {
    let s = Session::start(1, 2, &[("taskmanager.memory.process.size", "64m")]);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("keys.yaml");
    // 5 million distinct keys cannot fit a 32 MiB slot.
    std::fs::write(
        &job,
        "name: many-keys\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 5000000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\npipeline:\n  - key_by: id\n  - name: counts\n    aggregate:\n      select: \"id, COUNT(*) AS n\"\n\
         sinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let out = rask(&["run", "-m", &s.m(), job.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("exceeded its slot's memory budget of 32 MiB") && err.contains("KeyedAggregate"), "{err}");
    // The TaskManager and its slots are still there, and run the next job.
    assert_eq!(s.spec.overview().unwrap()["taskmanagers"], 1);
    let ok = rask(&["run", "-m", &s.m(), examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn malformed_job_files_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "sources:\n  - name: s\n    connector: datagen\n    fields:\n      - {name: id, type: BIGINT}\npipeline:\n  - filter: \"idd > 1\"\nsinks:\n  - {name: o, connector: print}\n",
            ":8: pipeline[0].filter: unknown column 'idd'",
        ),
        (
            "sources:\n  - name: s\n    connector: datagen\n    fields:\n      - {name: id, type: BIGINT}\npipeline:\n  - input: orders\n    filter: \"id > 1\"\nsinks:\n  - {name: o, connector: print}\n",
            ":8: pipeline[0].input: unknown input 'orders'",
        ),
        (
            "sources:\n  - name: s\n    connector: datagen\n    fields:\n      - {name: id, type: BIGINT}\n      - {name: tag, type: STRING}\npipeline:\n  - map: \"tag * 2 AS x\"\nsinks:\n  - {name: o, connector: print}\n",
            ":9: pipeline[0].map: type mismatch",
        ),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.yaml"));
        std::fs::write(&path, format!("name: bad\n{body}")).unwrap();
        let out = rask(&["run", path.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains(&format!("bad{i}.yaml{needle}")), "case {i}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = rask(&["info", "/no/such/job.yaml"], &[]);
    assert!(stderr(&out).contains("/no/such/job.yaml") && out.status.code() == Some(1));
}

#[test]
fn info_prints_the_plan_as_json() {
    let out = rask(&["info", examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let json: String = text.lines().filter(|l| !l.starts_with("---")).collect::<Vec<_>>().join("\n");
    let plan: Value = serde_json::from_str(&json).unwrap();
    let nodes = plan["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["pact"], "Data Source");
    assert_eq!(nodes[1]["predecessors"][0]["ship_strategy"], "HASH[word]");
    assert_eq!(nodes[1]["parallelism"], 2);
    let _ = Instant::now();
}

// ---------------------------------------------------------------------------------
// more connectors and operators: socket source, file sink, sliding and
// processing-time windows, broadcast
// ---------------------------------------------------------------------------------

fn read_dir_text(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("")
}

#[test]
fn socket_source_into_a_csv_file_sink() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = "the quick brown fox\njumps over the lazy dog\nthe end\n";
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(text.as_bytes()).unwrap();
    });
    let out_dir = dir.path().join("out");
    std::fs::write(
        dir.path().join("socket.yaml"),
        format!(
            "name: socket-count\nsources:\n  - name: lines\n    connector: socket\n    host: 127.0.0.1\n    port: {port}\npipeline:\n  \
             - flat_map: {{split: line, as: word}}\n  - key_by: word\n  - aggregate:\n      select: \"word, COUNT(*) AS n\"\n\
             sinks:\n  - {{name: out, connector: file, path: out, format: csv}}\n"
        ),
    )
    .unwrap();
    let out = rask(&["run", dir.path().join("socket.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    server.join().unwrap();
    let csv = read_dir_text(&out_dir);
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for line in csv.lines().filter(|l| *l != "word,n") {
        let (w, n) = line.split_once(',').unwrap();
        last.insert(w.to_string(), n.parse().unwrap());
    }
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for w in text.split_whitespace() {
        *expected.entry(w.to_string()).or_default() += 1;
    }
    assert_eq!(last, expected);
}

#[test]
fn sliding_event_time_windows_into_a_json_file_sink() {
    let dir = tempfile::tempdir().unwrap();
    // 1000 rows, one every 100 ms of event time; 10 s windows sliding by 5 s.
    std::fs::write(
        dir.path().join("sliding.yaml"),
        "name: sliding\nparallelism: 2\nsources:\n  - name: ticks\n    connector: datagen\n    number-of-rows: 1000\n    fields:\n      \
         - {name: ts, type: TIMESTAMP, kind: sequence, start: 0, step: 100}\n    watermark: {column: ts}\npipeline:\n  \
         - window: {type: sliding, size: 10 s, slide: 5 s, time: event, select: \"COUNT(*) AS n\"}\n  \
         - map: \"CAST(window_start AS BIGINT) AS start_ms, n\"\nsinks:\n  - {name: out, connector: file, path: out, format: json}\n",
    )
    .unwrap();
    let out = rask(&["run", dir.path().join("sliding.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut got: BTreeMap<i64, i64> = BTreeMap::new();
    for line in read_dir_text(&dir.path().join("out")).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        got.insert(v["start_ms"].as_i64().unwrap(), v["n"].as_i64().unwrap());
    }
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for i in 0..1000i64 {
        let t = i * 100;
        let mut start = t - t.rem_euclid(5000);
        while start > t - 10_000 {
            *expected.entry(start).or_default() += 1;
            start -= 5000;
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn processing_time_windows_fire_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("proc.yaml"),
        "name: proc\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 600\n    rows-per-second: 1000\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\npipeline:\n  \
         - window: {type: tumbling, size: 100 ms, time: processing, select: \"COUNT(*) AS n\"}\nsinks:\n  - {name: out, connector: print}\n",
    )
    .unwrap();
    let out = rask(&["run", dir.path().join("proc.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = table_rows(&stdout(&out), "window_start");
    let total: i64 = rows.iter().map(|r| r[2].parse::<i64>().unwrap()).sum();
    assert_eq!(total, 600);
    assert!(rows.len() >= 2, "600 rows over ~0.6 s fall into several 100 ms windows: {rows:?}");
}

#[test]
fn broadcast_sends_every_row_to_every_subtask() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bc.yaml"),
        "name: bc\nsources:\n  - name: gen\n    connector: datagen\n    number-of-rows: 10\n    fields:\n      \
         - {name: id, type: BIGINT, kind: sequence}\npipeline:\n  - map: \"id\"\n    partition: broadcast\n    parallelism: 3\n\
         sinks:\n  - {name: out, connector: file, path: out, format: csv, parallelism: 3}\n",
    )
    .unwrap();
    let out = rask(&["run", dir.path().join("bc.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    for subtask in 0..3 {
        let part = std::fs::read_to_string(dir.path().join(format!("out/part-{subtask}.csv"))).unwrap();
        let ids: Vec<i64> = part.lines().skip(1).map(|l| l.parse().unwrap()).collect();
        assert_eq!(ids, (0..10).collect::<Vec<_>>(), "subtask {subtask}");
    }
}

#[test]
fn finished_jobs_expire_after_jobstore_expiration_time() {
    let s = Session::start(1, 2, &[("jobstore.expiration-time", "300")]);
    let out = rask(&["run", "-m", &s.m(), examples_dir().join("word-count.yaml").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = job_id(&stdout(&out));
    assert_eq!(s.job(&id)["state"], "FINISHED");
    std::thread::sleep(Duration::from_millis(400));
    let (status, _) = get_status_json(&format!("{}/jobs/{id}", s.spec.rest_url()));
    assert_eq!(status, 404, "a finished job is forgotten after jobstore.expiration-time");
    let list = rask(&["list", "--all", "-m", &s.m()], &[]);
    assert!(!stdout(&list).contains(&id));
}
