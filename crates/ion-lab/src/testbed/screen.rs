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

use anyhow::{bail, ensure, Context, Result};

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

    /// A screenshot of one output with `grim -t ppm -o NAME`, as its
    /// buffer's pixels. On the testing stack the rootfs's grim (1.5, which
    /// also speaks ext-image-copy-capture: the cosmic-comp stand-in has no
    /// wlr-screencopy) when there is one; the host's otherwise.
    pub fn output_picture(&self, output: &str) -> Result<Picture> {
        let n = self.screenshots.fetch_add(1, Ordering::Relaxed);
        let path = self.paths.tmp.join(format!("screenshot-{n}-{output}.ppm"));
        let testing = std::env::var("IONLAB_STACK").is_ok_and(|s| s == "testing");
        let mut grim = if testing && crate::testing_rootfs::has("/usr/bin/grim") {
            let mut c = self.command(crate::testing_rootfs::in_testing_script());
            c.arg("grim");
            c
        } else {
            self.command("grim")
        };
        grim.args(["-t", "ppm", "-o", output]).arg(&path);
        self.run_tool(grim)
            .with_context(|| format!("taking a screenshot of {output} (Debian: grim)"))?;
        let ppm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Picture::from_ppm(&ppm).with_context(|| format!("reading {}", path.display()))
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

/// An RGB picture (a screenshot of one output).
#[derive(Debug, Clone)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    /// Packed RGB, rows top to bottom.
    pub rgb: Vec<u8>,
}

impl Picture {
    /// Reads a binary PPM (P6, maxval 255), as `grim -t ppm` writes it.
    pub fn from_ppm(data: &[u8]) -> Result<Picture> {
        // The header: magic, width, height, maxval, each after whitespace
        // (or a comment line), then one whitespace byte before the pixels.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while data.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            if data.get(i) == Some(&b'#') {
                while data.get(i).is_some_and(|&b| b != b'\n') {
                    i += 1;
                }
                continue;
            }
            let start = i;
            while data.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                i += 1;
            }
            ensure!(i > start, "a PPM header ends early");
            fields.push(std::str::from_utf8(&data[start..i])?.to_owned());
        }
        ensure!(fields[0] == "P6", "not a binary PPM: {}", fields[0]);
        ensure!(fields[3] == "255", "PPM maxval {}", fields[3]);
        let width: u32 = fields[1].parse()?;
        let height: u32 = fields[2].parse()?;
        let rgb = data.get(i + 1..).unwrap_or_default().to_vec();
        ensure!(
            rgb.len() == width as usize * height as usize * 3,
            "a {width}x{height} PPM with {} bytes of pixels",
            rgb.len()
        );
        Ok(Picture { width, height, rgb })
    }

    /// The colour of `(x, y)` (black outside).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        if x >= self.width || y >= self.height {
            return [0; 3];
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ppm_with_a_comment() {
        let mut data = b"P6\n# grim\n2 1\n255\n".to_vec();
        data.extend([1, 2, 3, 4, 5, 6]);
        let p = Picture::from_ppm(&data).unwrap();
        assert_eq!((p.width, p.height), (2, 1));
        assert_eq!(p.pixel(1, 0), [4, 5, 6]);
        assert_eq!(p.pixel(2, 0), [0; 3]);
        assert!(Picture::from_ppm(b"P6\n2 1\n255\n\x01").is_err());
        assert!(Picture::from_ppm(b"P3\n1 1\n255\n1 2 3").is_err());
    }
}
