//! Headless Chromium driven over WebDriver (chromedriver, Debian's `chromium` and
//! `chromium-driver`), for the dashboard's test and benchmark. `RASK_CHROMIUM` and
//! `RASK_CHROMEDRIVER` name other binaries.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// chromedriver, stopped when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

/// Starts chromedriver and a Chromium session with its profile in `profile` (a fresh
/// directory: it names the browser's processes, see [`chromium_cpu_ms`]).
pub async fn start(profile: &Path) -> (Driver, Client) {
    let port = crate::free_port();
    let driver = Command::new(program("RASK_CHROMEDRIVER", "chromedriver"))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver) must be installed");
    let driver = Driver(driver);
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": program("RASK_CHROMIUM", "/usr/bin/chromium"),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no WebDriver session: {last:?}");
}

/// Waits until the dashboard has rendered `page` from the server's answer.
pub async fn loaded(client: &Client, page: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("body[data-page=\"{page}\"][data-loaded=\"1\"]")))
        .await
        .unwrap_or_else(|e| panic!("page {page} did not load: {e}"));
}

/// Opens the dashboard at `route` and waits until it rendered `page`.
pub async fn open(client: &Client, base: &str, route: &str, page: &str) {
    client.goto(&format!("{base}/#{route}")).await.unwrap();
    loaded(client, page).await;
}

/// CPU time used so far by the Chromium processes whose command line names `profile`.
pub fn chromium_cpu_ms(profile: &Path) -> u64 {
    let needle = profile.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())).map(str::to_string))
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle.as_str())))
        .map(|pid| rask_common::hardware::cpu_time_ms_of(&pid))
        .sum()
}
