//! The web dashboard in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver), loads each page against a real cluster running a job, checks the
//! figures it shows against the REST API, triggers a savepoint and cancels the job
//! through its buttons, and saves screenshots (checked for content) in
//! `target/tmp/dashboard-screenshots/`. Needs Debian's `chromium` and
//! `chromium-driver` (`.ci/run` installs them); without them the test fails.

use std::time::Duration;

use fantoccini::{Client, Locator};
use rask_tests::browser::{loaded, open};
use rask_tests::*;

async fn text(client: &Client, css: &str) -> String {
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await.unwrap().text().await.unwrap().trim().to_string()
}

async fn number(client: &Client, css: &str) -> u64 {
    let t = text(client, css).await;
    t.parse().unwrap_or_else(|_| panic!("{css} shows '{t}', not a number"))
}

/// Waits until `css`'s text satisfies `ok`.
async fn until(client: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        if let Ok(e) = client.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if ok(t.trim()) {
                    return t.trim().to_string();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {what}");
}

/// Saves a screenshot and checks that it shows a page, not a blank or error screen:
/// a decodable PNG of the window's size with many colours, no one covering it all.
async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert!(info.width >= 800 && info.height >= 600, "{name}: {}x{}", info.width, info.height);
    let channels = info.color_type.samples();
    let mut counts = std::collections::HashMap::new();
    for px in pixels[..info.buffer_size()].chunks(channels) {
        *counts.entry(px[..3].to_vec()).or_insert(0u64) += 1;
    }
    let total = u64::from(info.width) * u64::from(info.height);
    let dominant = counts.values().max().copied().unwrap_or(0);
    assert!(counts.len() > 50, "{name}: only {} colours: a blank page?", counts.len());
    assert!(dominant < total * 95 / 100, "{name}: one colour covers {}% of it", dominant * 100 / total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_show_the_clusters_figures_and_its_buttons_work() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::new().with("metrics.fetcher.update-interval", "0");
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    let rest = spec.rest_url();
    let job = dir.path().join("views.yaml");
    std::fs::write(
        &job,
        "name: <b>views</b>\nparallelism: 2\nsources:\n  - name: views\n    connector: datagen\n    rows-per-second: 500\n    fields:\n      - {name: id, type: BIGINT, kind: sequence}\n      - {name: page, type: BIGINT, min: 1, max: 20}\npipeline:\n  - key_by: page\n  - name: per-page\n    aggregate:\n      select: \"page, COUNT(*) AS views\"\nsinks:\n  - {name: out, connector: blackhole}\n",
    )
    .unwrap();
    let savepoints = dir.path().join("savepoints");
    let (m, rest2) = (format!("127.0.0.1:{}", spec.rest_port), rest.clone());
    let checkpoints = format!("state.checkpoints.dir={}", dir.path().join("checkpoints").display());
    let savepoints_dir = format!("state.savepoints.dir={}", savepoints.display());
    let id = tokio::task::spawn_blocking(move || {
        spec.wait_slots(1, 2, Duration::from_secs(20));
        let id =
            submit_detached_with(&m, &job, &["-D", "execution.checkpointing.interval=300ms", "-D", &checkpoints, "-D", &savepoints_dir]);
        wait_for(Duration::from_secs(20), "a completed checkpoint", || {
            get_json(&format!("{rest2}/jobs/{id}/checkpoints")).filter(|c| c["counts"]["completed"].as_u64() > Some(0))
        });
        id
    })
    .await
    .unwrap();
    let rest_json = |path: String| {
        let url = format!("{rest}{path}");
        async move { tokio::task::spawn_blocking(move || get_json(&url).expect("REST answer")).await.unwrap() }
    };
    let (_driver, client) = rask_tests::browser::start(&dir.path().join("chromium-profile")).await;

    // Cluster overview: the same figures as /overview.
    open(&client, &rest, "/overview", "overview").await;
    let overview = rest_json("/overview".into()).await;
    assert_eq!(number(&client, "#taskmanagers-count").await, overview["taskmanagers"].as_u64().unwrap());
    assert_eq!(number(&client, "#slots-total").await, 2);
    assert_eq!(number(&client, "#slots-available").await, 0);
    assert_eq!(number(&client, "#jobs-running").await, 1);
    assert_eq!(text(&client, &format!("tr[data-job-id=\"{id}\"] td.job-state")).await, "RUNNING");
    screenshot(&client, "overview").await;

    // Job list; the job's name is shown as text, not markup.
    client.find(Locator::Css("a#nav-jobs")).await.unwrap().click().await.unwrap();
    loaded(&client, "jobs").await;
    let row = text(&client, &format!("tr[data-job-id=\"{id}\"]")).await;
    assert!(row.contains("<b>views</b>"), "{row}");

    // The job page: its graph and figures, which only grow, against REST's.
    open(&client, &rest, &format!("/jobs/{id}"), "job").await;
    assert_eq!(text(&client, "#job-state").await, "RUNNING");
    let detail = rest_json(format!("/jobs/{id}")).await;
    let keyed = detail["vertices"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(client.find_all(Locator::Css("g[data-vertex-id]")).await.unwrap().len(), 2);
    let shown: u64 =
        until(&client, &format!("tr[data-vertex-id=\"{keyed}\"] td.records-in"), "records", |t| t.parse::<u64>().is_ok_and(|n| n > 0))
            .await
            .parse()
            .unwrap();
    let now = rest_json(format!("/jobs/{id}")).await["vertices"][1]["metrics"]["read-records"].as_u64().unwrap();
    assert!(shown <= now, "the dashboard shows {shown} records in, REST {now} afterwards");
    // It refreshes on its own.
    until(&client, &format!("tr[data-vertex-id=\"{keyed}\"] td.records-in"), "a later count", |t| {
        t.parse::<u64>().is_ok_and(|n| n > shown)
    })
    .await;
    let graph = text(&client, &format!("g[data-vertex-id=\"{keyed}\"]")).await;
    assert!(graph.contains("per-page") || graph.contains("KeyedAggregate"), "{graph}");
    screenshot(&client, "job-graph").await;

    client.find(Locator::Css("a#tab-checkpoints")).await.unwrap().click().await.unwrap();
    loaded(&client, "job").await;
    let completed = number(&client, "#checkpoints-completed").await;
    assert!(completed > 0 && completed <= rest_json(format!("/jobs/{id}/checkpoints")).await["counts"]["completed"].as_u64().unwrap());
    assert!(!client.find_all(Locator::Css("#checkpoint-history tr[data-checkpoint-id]")).await.unwrap().is_empty());
    screenshot(&client, "job-checkpoints").await;
    for tab in ["exceptions", "config"] {
        client.find(Locator::Css(&format!("a#tab-{tab}"))).await.unwrap().click().await.unwrap();
        loaded(&client, "job").await;
    }
    screenshot(&client, "job-config").await;

    // The TaskManager page: its slots and its log.
    let tm_id = rest_json("/taskmanagers".into()).await["taskmanagers"][0]["id"].as_str().unwrap().to_string();
    client.find(Locator::Css("a#nav-taskmanagers")).await.unwrap().click().await.unwrap();
    loaded(&client, "taskmanagers").await;
    client.find(Locator::Css(&format!("tr[data-tm-id=\"{tm_id}\"] a"))).await.unwrap().click().await.unwrap();
    loaded(&client, "taskmanager").await;
    assert_eq!(text(&client, "#tm-id").await, tm_id);
    assert_eq!(number(&client, "#tm-slots-total").await, 2);
    assert_eq!(number(&client, "#tm-slots-free").await, 0);
    until(&client, "pre#tm-log", "the TaskManager's log", |t| t.contains("registered at the JobManager")).await;
    until(&client, "table#tm-metrics", "its metrics", |t| t.contains("taskSlotsTotal")).await;
    screenshot(&client, "taskmanager").await;

    // A savepoint through the button, after a confirmation.
    open(&client, &rest, &format!("/jobs/{id}"), "job").await;
    client.find(Locator::Css("button#trigger-savepoint")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("button#confirm-yes")).await.unwrap().click().await.unwrap();
    let location = until(&client, "#savepoint-result", "the savepoint's path", |t| t.contains("savepoint-")).await;
    let written: Vec<_> = std::fs::read_dir(&savepoints).unwrap().collect();
    assert_eq!(written.len(), 1, "one savepoint directory: {location}");

    // Cancel: "no" changes nothing, "yes" cancels.
    client.find(Locator::Css("button#cancel-job")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("button#confirm-no")).await.unwrap().click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rest_json(format!("/jobs/{id}")).await["state"], "RUNNING");
    client.find(Locator::Css("button#cancel-job")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("button#confirm-yes")).await.unwrap().click().await.unwrap();
    until(&client, "#job-state", "CANCELED", |t| t == "CANCELED").await;
    assert_eq!(rest_json(format!("/jobs/{id}")).await["state"], "CANCELED");
    screenshot(&client, "job-canceled").await;
    open(&client, &rest, "/overview", "overview").await;
    until(&client, "#jobs-cancelled", "1", |t| t == "1").await;
    client.close().await.unwrap();
}
