//! The real Chromium around a testbed: Debian testing's `chromium`,
//! unmodified, from the testing rootfs (`scripts/in-testing.sh`), as a
//! Wayland client of the testbed's compositor, driven through its DevTools
//! protocol ([`cdp`]) on a page of ours (`capture.html`) that calls
//! `getDisplayMedia` and reads the track's frames back through a canvas.
//!
//! How Chromium is run here (found by running it, Chromium 156):
//! - `--ozone-platform=wayland` and `XDG_SESSION_TYPE=wayland` (the
//!   testbed's environment): only then does its screen capture go through
//!   the ScreenCast portal and PipeWire.
//! - `--use-fake-ui-for-media-stream` skips Chromium's own picker and its
//!   "share this screen?" infobar. The capture still goes through the
//!   portal: `displaySurface: "monitor"` becomes SelectSources types 1,
//!   `"window"` types 2, cursor mode metadata; the portal's answer (our
//!   consent policy or chooser) decides the source.
//! - `--no-sandbox`: it runs as root inside bubblewrap, where its
//!   namespace sandbox cannot start. `--disable-gpu`: no GPU here (it
//!   draws with its software path).
//! - The network switches (`--disable-background-networking`, …) keep it
//!   from calling out at every start: this machine has no network.

mod cdp;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::testbed::{Proc, Testbed, STOP_GRACE};
use crate::testing_rootfs::{self, in_testing_script, rootfs};
use cdp::Cdp;

/// The browser in the testing rootfs.
pub const PROGRAM: &str = "/usr/bin/chromium";

/// How long start-up and each DevTools call may take (software rendering
/// on two busy cores is slow).
const TIMEOUT: Duration = Duration::from_secs(45);

/// The page's script and markup.
const PAGE: &str = include_str!("capture.html");

/// The testing rootfs's Chromium version (its package's), if installed.
pub fn version() -> Option<String> {
    testing_rootfs::package_version("chromium")
}

/// Whether the rootfs has Chromium; the reason when not.
pub fn missing() -> Option<String> {
    (!testing_rootfs::has(PROGRAM)).then(|| {
        format!(
            "the testing rootfs {} has no {PROGRAM}: rebuild it with scripts/testing-rootfs.sh",
            rootfs().display()
        )
    })
}

/// What `getDisplayMedia`'s track says about itself.
#[derive(Debug, Clone, Deserialize)]
pub struct Track {
    pub settings: TrackSettings,
    pub label: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackSettings {
    pub width: u32,
    pub height: u32,
    pub display_surface: String,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Pixels of the track's current frame, read through a canvas.
#[derive(Debug, Clone)]
pub struct Sample {
    pub width: u32,
    pub height: u32,
    /// One RGB per point asked for, in order.
    pub rgb: Vec<[u8; 3]>,
}

/// The track now (`MediaStreamTrack.readyState`, the video's size).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackState {
    pub ready_state: String,
    pub ended: bool,
    pub width: u32,
    pub height: u32,
}

/// A running Chromium with the capture page open.
pub struct Chromium {
    proc: Proc,
    cdp: Cdp,
    /// The page's DevTools session.
    page: String,
}

impl Chromium {
    /// Starts Chromium in `tb`'s session on the capture page and waits
    /// until the page's script is there. Its log is `chromium.log`.
    pub fn start(tb: &Testbed) -> Result<Chromium> {
        if let Some(why) = missing() {
            bail!(why);
        }
        let dir = tb.paths().tmp.join("chromium");
        let profile = dir.join("profile");
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("creating {}", profile.display()))?;
        let page = dir.join("capture.html");
        std::fs::write(&page, PAGE).with_context(|| format!("writing {}", page.display()))?;

        let (cdp, child_fds) = Cdp::pipes()?;
        let mut command = tb.command(in_testing_script());
        command
            .arg(PROGRAM)
            .args([
                "--ozone-platform=wayland",
                "--use-fake-ui-for-media-stream",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-features=MediaRouter",
                "--password-store=basic",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("file://{}", page.display()));
        child_fds.install(&mut command)?;
        let log = tb.log_dir().join("chromium.log");
        let proc = Proc::spawn("chromium", command, tb.marker(), &log)?;
        let mut chromium = Chromium {
            proc,
            cdp,
            page: String::new(),
        };
        chromium.page = chromium
            .attach_to_page()
            .with_context(|| format!("Chromium's page (log: {})", log.display()))?;
        chromium.wait_for_script()?;
        Ok(chromium)
    }

    /// Finds the capture page among the browser's targets and attaches.
    fn attach_to_page(&mut self) -> Result<String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let targets = self
                .cdp
                .call("Target.getTargets", json!({}), None, TIMEOUT)?;
            let page = targets["targetInfos"].as_array().and_then(|list| {
                list.iter().find(|t| {
                    t["type"] == "page"
                        && t["url"]
                            .as_str()
                            .is_some_and(|u| u.ends_with("/capture.html"))
                })
            });
            if let Some(id) = page.and_then(|p| p["targetId"].as_str()) {
                let attached = self.cdp.call(
                    "Target.attachToTarget",
                    json!({ "targetId": id, "flatten": true }),
                    None,
                    TIMEOUT,
                )?;
                return attached["sessionId"]
                    .as_str()
                    .map(str::to_owned)
                    .context("attachToTarget gave no session");
            }
            if Instant::now() >= deadline {
                bail!("no capture page among Chromium's targets: {targets}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_for_script(&mut self) -> Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        while self.eval("typeof grab === 'function' && document.readyState === 'complete'")?
            != json!(true)
        {
            if Instant::now() >= deadline {
                bail!("the capture page's script did not load");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Evaluates `expression` in the page (awaiting a promise, as a user
    /// gesture: getDisplayMedia needs one) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Result<Value> {
        let reply = self.cdp.call(
            "Runtime.evaluate",
            json!({
                "expression": expression,
                "awaitPromise": true,
                "userGesture": true,
                "returnByValue": true,
            }),
            Some(&self.page),
            TIMEOUT,
        )?;
        if let Some(exception) = reply.get("exceptionDetails") {
            bail!("{expression}: {exception}");
        }
        Ok(reply["result"]["value"].clone())
    }

    /// Calls a page function that returns JSON text and parses it.
    fn eval_json<T: serde::de::DeserializeOwned>(&mut self, expression: &str) -> Result<T> {
        let value = self.eval(expression)?;
        let text = value
            .as_str()
            .with_context(|| format!("{expression} gave {value}"))?;
        serde_json::from_str(text).with_context(|| format!("{expression} gave {text}"))
    }

    /// `getDisplayMedia({video: {displaySurface: surface}})`, resolved once
    /// the track's first frame is there.
    pub fn grab(&mut self, surface: &str) -> Result<Track> {
        self.eval_json(&format!("grab({})", json!(surface)))
    }

    /// The RGB of `points` in the track's current frame.
    pub fn sample(&mut self, points: &[(u32, u32)]) -> Result<Sample> {
        #[derive(Deserialize)]
        struct Raw {
            width: u32,
            height: u32,
            rgb: Vec<u8>,
        }
        let list: Vec<[u32; 2]> = points.iter().map(|&(x, y)| [x, y]).collect();
        let raw: Raw = self.eval_json(&format!("sample({})", json!(list)))?;
        if raw.rgb.len() != points.len() * 3 {
            bail!(
                "sample gave {} values for {} points (frame {}x{})",
                raw.rgb.len(),
                points.len(),
                raw.width,
                raw.height
            );
        }
        Ok(Sample {
            width: raw.width,
            height: raw.height,
            rgb: raw
                .rgb
                .chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]])
                .collect(),
        })
    }

    /// The track's state now.
    pub fn state(&mut self) -> Result<TrackState> {
        self.eval_json("state()")
    }

    /// Stops every track of the capture, as a page's "stop sharing" does.
    pub fn stop_sharing(&mut self) -> Result<()> {
        self.eval("stop()").map(drop)
    }

    /// Whether the browser still runs.
    pub fn is_running(&self) -> bool {
        self.proc.is_running()
    }

    /// The log file.
    pub fn log(&self) -> PathBuf {
        self.proc.log().to_owned()
    }

    /// Closes the browser (SIGTERM, then SIGKILL after the grace).
    pub fn stop(mut self) {
        self.proc.stop(STOP_GRACE);
    }
}
