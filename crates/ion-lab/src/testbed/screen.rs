//! Looking at and touching the testbed's screen as a person would: a
//! screenshot of the whole layout (`grim`), its words (`tesseract`, see
//! [`crate::ocr`]), and a virtual pointer and keyboard
//! ([`crate::virtual_input`]).
//!
//! grim and tesseract are host programs on every stack: grim speaks
//! wlr-screencopy to the compositor's socket like any client, whichever
//! compositor build serves it.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{bail, Context, Result};

use super::Testbed;
use crate::ocr::{png_size, tesseract_args, ScreenText};
use crate::virtual_input::{LayoutExtent, VirtualInput};

impl Testbed {
    /// The bounding box of the active outputs in the logical layout.
    pub fn layout_extent(&self) -> Result<LayoutExtent> {
        let outputs = self.outputs()?;
        let active: Vec<_> = outputs.iter().filter(|o| o.active).collect();
        let Some(first) = active.first() else {
            bail!("no active output");
        };
        let (mut x0, mut y0) = (first.x, first.y);
        let (mut x1, mut y1) = (x0, y0);
        for o in &active {
            let w = i32::try_from(o.logical_width)?;
            let h = i32::try_from(o.logical_height)?;
            x0 = x0.min(o.x);
            y0 = y0.min(o.y);
            x1 = x1.max(o.x + w);
            y1 = y1.max(o.y + h);
        }
        Ok(LayoutExtent {
            x: x0,
            y: y0,
            width: u32::try_from(x1 - x0)?,
            height: u32::try_from(y1 - y0)?,
        })
    }

    /// Takes a screenshot of the whole layout with `grim` into the temp
    /// root's scratch dir (kept with `IONLAB_KEEP_ROOT=1`); returns its
    /// path. Fails unless the picture's pixels are the layout's logical
    /// pixels (every output at scale 1), which positions read from it rely
    /// on.
    pub fn screenshot(&self) -> Result<PathBuf> {
        let n = self.screenshots.fetch_add(1, Ordering::Relaxed);
        let path = self.paths.tmp.join(format!("screenshot-{n}.png"));
        let mut grim = self.command("grim");
        grim.arg(&path);
        self.run_tool(grim)
            .context("taking a screenshot (Debian: grim)")?;
        let png = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let size = png_size(&png)?;
        let layout = self.layout_extent()?;
        if size != (layout.width, layout.height) {
            bail!(
                "the screenshot is {}x{}, the layout {}x{}: positions in it are not layout positions (an output with scale ≠ 1?)",
                size.0,
                size.1,
                layout.width,
                layout.height
            );
        }
        Ok(path)
    }

    /// A screenshot's words (see [`Testbed::screenshot`]); a word's box
    /// plus the layout's origin is its place in the layout.
    pub fn read_screen(&self) -> Result<ScreenText> {
        let image = self.screenshot()?;
        let mut tesseract = self.command("tesseract");
        tesseract.args(tesseract_args(&image));
        let tsv = self
            .run_tool(tesseract)
            .context("reading the screenshot (Debian: tesseract-ocr, tesseract-ocr-eng)")?;
        Ok(ScreenText::parse_tsv(&tsv))
    }

    /// A virtual pointer and keyboard on the compositor's seat.
    pub fn virtual_input(&self) -> Result<VirtualInput> {
        let socket = self.paths.runtime.join(self.wayland_display());
        VirtualInput::connect(&socket, self.layout_extent()?)
    }
}
