//! A minimal W3C WebDriver client over `ureq` and `serde_json`, enough to drive Debian's
//! `chromedriver` with headless Chromium in the browser tests: sessions, navigation, elements
//! found by CSS selector, typing, clicks, text, page source and screenshots.

use std::{
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::Killed;

/// The key W3C WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian puts the driver and the browser.
pub(crate) fn chromedriver_path() -> Option<&'static str> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

fn chromium_path() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/lib/chromium/chromium"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// A chromedriver process on a loopback port, killed when dropped.
pub(crate) struct Driver {
    _process: Killed,
    url: String,
    agent: ureq::Agent,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(90)))
        .build()
        .into()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    /// Starts chromedriver; `None` when it or Chromium is not installed.
    pub(crate) fn start() -> Option<Driver> {
        let binary = chromedriver_path()?;
        chromium_path()?;
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let driver = Driver {
            _process: Killed(child),
            url: format!("http://127.0.0.1:{port}"),
            agent: agent(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, status)) = driver.call("GET", "/status", None)
                && status["value"]["ready"] == true
            {
                return Some(driver);
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.url);
        let answer = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string().as_bytes()),
        };
        let mut answer = answer.map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A new headless Chromium session with a 1366x768 window.
    pub(crate) fn session(&self) -> Browser<'_> {
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium_path().unwrap_or("/usr/bin/chromium"),
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1366,768",
                        "--no-first-run", "--disable-extensions", "--lang=en-GB",
                        "--force-device-scale-factor=1"
                    ]
                }
            } }
        });
        let (status, answer) = self.call("POST", "/session", Some(caps)).unwrap();
        assert_eq!(status, 200, "new session: {answer}");
        let id = answer["value"]["sessionId"].as_str().unwrap().to_string();
        Browser { driver: self, id }
    }
}

/// One browser session, ended when dropped.
pub(crate) struct Browser<'a> {
    driver: &'a Driver,
    id: String,
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .call("DELETE", &format!("/session/{}", self.id), None);
    }
}

/// An element of the page.
pub(crate) struct Element<'b, 'a> {
    browser: &'b Browser<'a>,
    id: String,
}

impl<'a> Browser<'a> {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self
            .driver
            .call(method, &format!("/session/{}{path}", self.id), body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer["value"].clone()
    }

    /// Opens `url` and waits for the page to load.
    pub(crate) fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current URL.
    pub(crate) fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's HTML as the browser has it.
    pub(crate) fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page title.
    pub(crate) fn title(&self) -> String {
        self.cmd("GET", "/title", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Every element matching the CSS selector.
    pub(crate) fn find_all(&self, css: &str) -> Vec<Element<'_, 'a>> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[ELEMENT].as_str())
        .map(|id| Element {
            browser: self,
            id: id.to_string(),
        })
        .collect()
    }

    /// The first element matching the CSS selector, waiting up to 30 s for it to appear (a
    /// click that submits a form may return before the next page has loaded); panics with the
    /// page if there is none by then.
    pub(crate) fn find(&self, css: &str) -> Element<'_, 'a> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(element) = self.find_all(css).into_iter().next() {
                return element;
            }
            if std::time::Instant::now() >= deadline {
                panic!("no element {css} on {}:\n{}", self.url(), self.source());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Prints the page as the browser's print preview lays it out (the print CSS, on paper of
    /// `width_cm` x `height_cm`, WebDriver's Print Page) and writes the PDF to `path`; returns
    /// its bytes.
    pub(crate) fn print_pdf(&self, path: &Path, width_cm: f64, height_cm: f64) -> Vec<u8> {
        let b64 = self.cmd(
            "POST",
            "/print",
            Some(json!({ "page": { "width": width_cm, "height": height_cm }, "background": true })),
        );
        let pdf = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .unwrap();
        assert!(pdf.starts_with(b"%PDF"), "a PDF");
        std::fs::write(path, &pdf).unwrap();
        pdf
    }

    /// Writes a PNG screenshot of the window to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Element<'_, '_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}{what}", self.id)
    }

    /// Types `text` into the element.
    pub(crate) fn type_text(&self, text: &str) {
        self.browser
            .cmd("POST", &self.path("/value"), Some(json!({ "text": text })));
    }

    /// Clicks the element (and waits for a navigation it starts).
    pub(crate) fn click(&self) {
        self.browser.cmd("POST", &self.path("/click"), None);
    }

    /// Its rendered text.
    pub(crate) fn text(&self) -> String {
        self.browser
            .cmd("GET", &self.path("/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// An attribute or property.
    pub(crate) fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .cmd("GET", &self.path(&format!("/attribute/{name}")), None)
            .as_str()
            .map(str::to_string)
    }
}
