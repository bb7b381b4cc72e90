//! A headless Chromium for the web UI's tests, driven over WebDriver: Debian's `chromedriver`
//! (package `chromium-driver`, which `./x test` installs) started on a free loopback port in a
//! process group of its own, and a `fantoccini` session on it. Screenshots are PNG files in a
//! directory the test names. Dropping the browser kills the driver and the browsers it started.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::PATIENCE;

/// The driver's command and the browser's path: Debian's, unless these variables name others.
const CHROMEDRIVER_ENV: &str = "BROADSIDE_CHROMEDRIVER";
const CHROMIUM_ENV: &str = "BROADSIDE_CHROMIUM";
const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser session and the driver process behind it.
pub struct Browser {
    driver: Child,
    client: Client,
    screenshots: PathBuf,
}

impl Browser {
    /// Starts the driver and a headless browser of `width`×`height` pixels; screenshots go to
    /// `screenshots` (created).
    pub async fn start(screenshots: &Path, width: u32, height: u32) -> Browser {
        std::fs::create_dir_all(screenshots).expect("the screenshot directory");
        let port = crate::free_addrs(1)[0].port();
        let chromedriver = std::env::var(CHROMEDRIVER_ENV).unwrap_or_else(|_| CHROMEDRIVER.into());
        let chromium = std::env::var(CHROMIUM_ENV).unwrap_or_else(|_| CHROMIUM.into());
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {chromedriver} ({e}): install Debian's chromium and \
                         chromium-driver (`./x test` does), or name others with \
                         {CHROMEDRIVER_ENV} and {CHROMIUM_ENV}"
                    )
                })
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-extensions",
                    "--disable-background-networking",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session on {url}: {e}"),
            }
        };
        Browser {
            driver,
            client,
            screenshots: screenshots.to_path_buf(),
        }
    }

    /// The WebDriver session.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Saves a screenshot of the window as `NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }

    /// The first element matching `css`, once there is one.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Every element matching `css` now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    /// The text of the first element matching `css`, or empty when there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Polls `probe` every 100 ms until it gives a value; panics naming `what` after
    /// [`PATIENCE`].
    pub async fn eventually<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        match crate::poll(Duration::from_millis(100), probe).await {
            Some(value) => value,
            None => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!("timed out waiting for {what} (page {url:?})");
            }
        }
    }

    /// Ends the session and stops the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.kill();
    }

    fn kill(&mut self) {
        crate::signal_group(self.driver.id(), "KILL");
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}
