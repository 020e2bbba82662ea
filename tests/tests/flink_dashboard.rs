//! Apache Flink 2.3's own web dashboard (the `web/` of Flink's flink-dist jar, from
//! `$RASK_FLINK_LIB`, as for the CLI test) pointed at a Rask JobManager: served by a
//! small proxy in this test (Flink's static files, every other request passed to
//! Rask's REST API unchanged) and loaded in headless Chromium. Its overview, job page
//! and TaskManager list show Rask's cluster and the running job's figures, and no
//! request of those pages fails.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fantoccini::{Client, Locator};
use rask_tests::*;

struct Proxy {
    web: PathBuf,
    rest: String,
    http: reqwest::Client,
    /// Requests the REST API refused: (status, path).
    failed: Mutex<Vec<(u16, String)>>,
}

async fn serve(State(proxy): State<Arc<Proxy>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().trim_start_matches('/');
    let file = proxy.web.join(if path.is_empty() { "index.html" } else { path });
    if !path.contains("..") && file.is_file() {
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html",
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("json") => "application/json",
            _ => "application/octet-stream",
        };
        return ([("content-type", kind)], std::fs::read(&file).unwrap()).into_response();
    }
    let url = format!("{}{}", proxy.rest, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut request = proxy.http.request(method, url).body(body);
    if let Some(kind) = headers.get("content-type") {
        request = request.header("content-type", kind.as_bytes());
    }
    let answer = request.send().await.expect("Rask's REST endpoint answers");
    let status = answer.status().as_u16();
    if status >= 400 {
        proxy.failed.lock().unwrap().push((status, uri.path().to_string()));
    }
    let kind = answer.headers().get("content-type").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let bytes = answer.bytes().await.unwrap_or_default();
    (StatusCode::from_u16(status).unwrap(), [("content-type", kind)], bytes).into_response()
}

/// Flink's dashboard files, unpacked from its flink-dist jar.
fn flink_web(into: &std::path::Path) -> PathBuf {
    let lib =
        PathBuf::from(std::env::var("RASK_FLINK_LIB").expect("RASK_FLINK_LIB must name Flink 2.3's lib/ directory (.ci/run sets it)"));
    let jar = lib.join("flink-dist-2.3.0.jar");
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith('web/')])";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&jar).arg(into).output().expect("python3");
    assert!(out.status.success(), "unpacking {}: {}", jar.display(), String::from_utf8_lossy(&out.stderr));
    into.join("web")
}

async fn page_text(client: &Client, route: &str, base: &str, until: impl Fn(&str) -> bool) -> String {
    client.goto(&format!("{base}/#{route}")).await.unwrap();
    let mut text = String::new();
    for _ in 0..150 {
        text = client.find(Locator::Css("body")).await.unwrap().text().await.unwrap_or_default();
        if until(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{route} never showed what was expected:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flinks_own_dashboard_shows_a_rask_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let web = flink_web(dir.path());
    let spec = ClusterSpec::new().with("metrics.fetcher.update-interval", "0");
    let _jm = spec.jobmanager("jm", dir.path());
    let _tm = spec.taskmanager("tm", dir.path(), &[("taskmanager.numberOfTaskSlots", "2")]);
    let (m, rest) = (format!("127.0.0.1:{}", spec.rest_port), spec.rest_url());
    let id = tokio::task::spawn_blocking(move || {
        spec.wait_slots(1, 2, Duration::from_secs(20));
        submit_detached(&m, &examples_dir().join("page-views.yaml"))
    })
    .await
    .unwrap();

    let proxy = Arc::new(Proxy { web, rest, http: reqwest::Client::new(), failed: Mutex::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(serve).with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (_driver, client) = rask_tests::browser::start(&dir.path().join("chromium-profile")).await;
    let overview = page_text(&client, "/overview", &base, |t| t.contains("page-views") && t.contains("Available Task Slots")).await;
    assert!(overview.contains("RUNNING"), "{overview}");
    // The job page: its graph's vertices and their figures (records flow).
    let job = page_text(&client, &format!("/job/running/{id}/overview"), &base, |t| {
        // Bytes show (as "… KB") only once the figures are complete.
        t.contains("KeyedAggregate") && !t.contains("loading") && t.contains(" KB")
    })
    .await;
    assert!(job.contains("Source: views"), "{job}");
    let tms = page_text(&client, "/task-manager", &base, |t| t.contains("127.0.0.1:")).await;
    assert!(tms.contains("RUNNING") || tms.contains("2"), "{tms}");
    let png = client.screenshot().await.unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("flink-dashboard-taskmanagers.png"), png).unwrap();
    client.close().await.unwrap();
    let failed = proxy.failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "requests of Flink's dashboard that Rask refused: {failed:?}");
}
