//! Reading the screen as a person would: the words `tesseract` finds in a
//! screenshot, each with its box, so a test can check what a window says
//! and click on a word.
//!
//! Tesseract runs with `--psm 6` (the page is one block of text): its
//! page layout analysis (the default, `--psm 3`) skips isolated bits like
//! a lone button label, and sparse-text mode (`--psm 11`) misreads the
//! thin, unhinted text GTK 4.20 draws ("HEADLES!" for "HEADLESS-1"). One
//! block read every word of the dialog on both GTK 4.8 and 4.20, on a
//! screenshot of the whole layout with nothing else on it.

use std::path::Path;

use anyhow::{bail, Result};

/// One word and its box, in the image's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub left: i32,
    pub top: i32,
    pub width: i32,
    pub height: i32,
    /// Tesseract's confidence, 0..=100.
    pub confidence: f64,
    /// Which line of the page the word is on (block, paragraph, line).
    pub line: (u32, u32, u32),
}

impl Word {
    /// The middle of the box: where a person would click.
    pub fn center(&self) -> (i32, i32) {
        (self.left + self.width / 2, self.top + self.height / 2)
    }
}

/// The words of one screenshot.
#[derive(Debug, Clone, Default)]
pub struct ScreenText {
    pub words: Vec<Word>,
}

impl ScreenText {
    /// Parses tesseract's TSV: a header, then one row per page, block,
    /// paragraph, line and word; only words (level 5) with text are kept.
    pub fn parse_tsv(tsv: &str) -> ScreenText {
        let words = tsv
            .lines()
            .skip(1)
            .filter_map(|row| {
                let cols: Vec<&str> = row.split('\t').collect();
                let [level, _page, block, par, line, _word, left, top, width, height, conf, text] =
                    cols.as_slice()
                else {
                    return None;
                };
                let text = text.trim();
                if *level != "5" || text.is_empty() {
                    return None;
                }
                Some(Word {
                    text: text.to_owned(),
                    left: left.parse().ok()?,
                    top: top.parse().ok()?,
                    width: width.parse().ok()?,
                    height: height.parse().ok()?,
                    confidence: conf.parse().ok()?,
                    line: (block.parse().ok()?, par.parse().ok()?, line.parse().ok()?),
                })
            })
            .collect();
        ScreenText { words }
    }

    /// The first word that reads `text`, ignoring punctuation around it
    /// ("share:" is "share").
    pub fn find(&self, text: &str) -> Option<&Word> {
        self.words.iter().find(|w| bare(&w.text) == text)
    }

    /// Whether `text` (several words) appears on one line, in order.
    pub fn contains_phrase(&self, text: &str) -> bool {
        self.find_phrase(text).is_some()
    }

    /// The words of the first occurrence of `text` (split at spaces) as
    /// consecutive words of one line.
    pub fn find_phrase(&self, text: &str) -> Option<&[Word]> {
        let wanted: Vec<&str> = text.split_whitespace().collect();
        if wanted.is_empty() {
            return None;
        }
        (0..self.words.len()).find_map(|start| {
            let run = self.words.get(start..start + wanted.len())?;
            let same_line = run.iter().all(|w| w.line == run[0].line);
            let same_words = run.iter().zip(&wanted).all(|(w, t)| bare(&w.text) == *t);
            (same_line && same_words).then_some(run)
        })
    }

    /// Every word, space-separated, lines on lines: for failure messages.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let mut line = None;
        for word in &self.words {
            if line.is_some() && line != Some(word.line) {
                out.push('\n');
            } else if line.is_some() {
                out.push(' ');
            }
            out.push_str(&format!(
                "{}@{},{}",
                word.text,
                word.center().0,
                word.center().1
            ));
            line = Some(word.line);
        }
        out
    }
}

/// The arguments after `tesseract`.
pub fn tesseract_args(image: &Path) -> Vec<std::ffi::OsString> {
    vec![
        image.as_os_str().to_owned(),
        "-".into(),
        "--psm".into(),
        "6".into(),
        "tsv".into(),
    ]
}

/// A word without the punctuation a label puts around it.
fn bare(word: &str) -> &str {
    word.trim_matches(|c: char| matches!(c, ':' | ',' | '.' | ';' | '(' | ')' | '"' | '\''))
}

/// The size of a PNG image, from its header.
pub fn png_size(png: &[u8]) -> Result<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if png.len() < 24 || !png.starts_with(SIGNATURE) || &png[12..16] != b"IHDR" {
        bail!("not a PNG image");
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Ok((be(&png[16..20]), be(&png[20..24])))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
1\t1\t0\t0\t0\t0\t0\t0\t3200\t1080\t-1\t
4\t1\t1\t1\t1\t0\t751\t413\t313\t14\t-1\t
5\t1\t1\t1\t1\t1\t751\t413\t234\t14\t89.02\tcom.rustdesk.RustDesk
5\t1\t1\t1\t1\t2\t992\t414\t58\t13\t93.2\twants
5\t1\t1\t1\t1\t3\t1056\t414\t18\t13\t84.9\tto:
5\t1\t2\t1\t1\t1\t775\t597\t79\t11\t94.4\tRemember
5\t1\t2\t1\t1\t2\t859\t597\t26\t11\t94.4\tthis
5\t1\t3\t1\t1\t1\t981\t646\t30\t11\t95.1\tDeny
5\t1\t3\t1\t1\t2\t1000\t700\t30\t11\t95.1\t 
";

    #[test]
    fn words_and_boxes_are_read() {
        let text = ScreenText::parse_tsv(TSV);
        assert_eq!(text.words.len(), 6, "{:?}", text.words);
        let deny = text.find("Deny").unwrap();
        assert_eq!(deny.center(), (996, 651));
        assert_eq!(text.find("to").unwrap().text, "to:");
        assert!(text.contains_phrase("com.rustdesk.RustDesk wants to"));
        assert!(text.contains_phrase("Remember this"));
        assert!(
            !text.contains_phrase("to Remember"),
            "words on different lines are no phrase"
        );
        assert!(text.find("Allow").is_none());
    }

    #[test]
    fn png_size_is_read_from_the_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&3200u32.to_be_bytes());
        png.extend_from_slice(&1080u32.to_be_bytes());
        assert_eq!(png_size(&png).unwrap(), (3200, 1080));
        assert!(png_size(b"GIF89a").is_err());
    }
}
