//! `--animate-tiles N`: small changes scattered over the output, one tile a
//! frame, so a capture client's stream buffers each miss changes in places
//! the current frame's damage does not name (issue 13's check of
//! `damage_buffer`: a buffer refilled with only the newest damage shows an
//! old tile).
//!
//! There are `n` tiles of [`TILE_SIZE`] buffer pixels, each centred in a
//! cell of a grid `ceil(sqrt(n))` cells wide over the buffer. Frame `f`
//! repaints tile `f mod n` (and the counter); every tile always shows the
//! colour of the last frame that repainted it, so the whole picture is a
//! pure function of the counter, checked by [`check_frame`].

use super::pattern::{counter_pixel, decode_counter, pattern_pixel, XRGB8888_BPP};

/// Tile edge in buffer pixels.
pub const TILE_SIZE: u32 = 16;

/// Grid cells across (and rows, enough for `n`).
fn grid(n: u32) -> (u32, u32) {
    let n = n.max(1);
    let mut cols = 1;
    while cols * cols < n {
        cols += 1;
    }
    (cols, n.div_ceil(cols))
}

/// Tile `j`'s rectangle `(x, y, w, h)` in a `bw`x`bh` buffer (clipped;
/// empty where the buffer is too small).
pub fn tile_rect(j: u32, n: u32, bw: u32, bh: u32) -> (u32, u32, u32, u32) {
    let (cols, rows) = grid(n);
    let (cw, ch) = (bw / cols, bh / rows);
    let x = (j % cols) * cw + (cw / 2).saturating_sub(TILE_SIZE / 2);
    let y = (j / cols) * ch + (ch / 2).saturating_sub(TILE_SIZE / 2);
    let w = TILE_SIZE.min(bw.saturating_sub(x));
    let h = TILE_SIZE.min(bh.saturating_sub(y));
    (x, y, w, h)
}

/// The frame that last repainted tile `j` when frame `frame` is drawn (may
/// be "negative": before the first frame every tile shows a colour too).
fn last_repaint(j: u32, n: u32, frame: u32) -> i64 {
    let (f, n) = (i64::from(frame), i64::from(n.max(1)));
    f - (f - i64::from(j)).rem_euclid(n)
}

/// Tile `j`'s colour in frame `frame`.
pub fn tile_rgb(j: u32, n: u32, frame: u32) -> [u8; 3] {
    let [b0, b1, ..] = last_repaint(j, n, frame).to_le_bytes();
    [b0, b1, 0xA0 | (j & 0x1F) as u8]
}

/// The tile frame `frame` repaints.
pub fn changed_tile(n: u32, frame: u32) -> u32 {
    frame % n.max(1)
}

/// Paints every tile as it is in frame `frame` into an XRGB8888 buffer.
pub fn paint_xrgb8888(buf: &mut [u8], stride: usize, bw: u32, bh: u32, n: u32, frame: u32) {
    for j in 0..n {
        let (x, y, w, h) = tile_rect(j, n, bw, bh);
        let [r, g, b] = tile_rgb(j, n, frame);
        let px = [b, g, r, 0xFF];
        for row in y..y + h {
            let start = row as usize * stride + x as usize * XRGB8888_BPP;
            let Some(line) = buf.get_mut(start..start + w as usize * XRGB8888_BPP) else {
                return;
            };
            for p in line.chunks_exact_mut(XRGB8888_BPP) {
                p.copy_from_slice(&px);
            }
        }
    }
}

/// Which tile, if any, covers buffer pixel `(x, y)`.
fn tile_at(n: u32, bw: u32, bh: u32, x: u32, y: u32) -> Option<u32> {
    let (cols, rows) = grid(n);
    let (col, row) = (x / (bw / cols).max(1), y / (bh / rows).max(1));
    let j = row * cols + col;
    let (tx, ty, tw, th) = tile_rect(j, n, bw, bh);
    (j < n && (tx..tx + tw).contains(&x) && (ty..ty + th).contains(&y)).then_some(j)
}

/// Checks a captured `bw`x`bh` frame of the probe in `--animate-tiles n`
/// mode: its counter, every pixel of every tile, and the pattern on a
/// 16-pixel grid plus a ring one pixel around each tile (where a copy that
/// spills over its rectangle shows). The pattern's output bits are not
/// checked (a consumer does not know which output it sees). Returns the
/// counter, or what is wrong.
pub fn check_frame(
    pixel: impl Fn(u32, u32) -> [u8; 3],
    bw: u32,
    bh: u32,
    n: u32,
) -> Result<u32, String> {
    let counter = decode_counter(&pixel).ok_or("no counter")?;
    let expect = |x: u32, y: u32| -> [u8; 3] {
        counter_pixel(counter, x, y)
            .or_else(|| tile_at(n, bw, bh, x, y).map(|j| tile_rgb(j, n, counter)))
            .unwrap_or_else(|| pattern_pixel(0, x, y))
    };
    let check = |x: u32, y: u32, what: &str| -> Result<(), String> {
        if x >= bw || y >= bh {
            return Ok(());
        }
        let (got, want) = (pixel(x, y), expect(x, y));
        let pattern = counter_pixel(counter, x, y).is_none() && tile_at(n, bw, bh, x, y).is_none();
        let same = if pattern {
            got[..2] == want[..2] && got[2] & 0x3F == want[2] & 0x3F
        } else {
            got == want
        };
        if same {
            Ok(())
        } else {
            Err(format!(
                "frame {counter}: {what} pixel ({x},{y}) is {got:?}, expected {want:?}"
            ))
        }
    };
    for j in 0..n {
        let (tx, ty, tw, th) = tile_rect(j, n, bw, bh);
        for y in ty..ty + th {
            for x in tx..tx + tw {
                check(x, y, &format!("tile {j}"))?;
            }
        }
        for x in tx.saturating_sub(1)..=tx + tw {
            check(x, ty.saturating_sub(1), "ring")?;
            check(x, ty + th, "ring")?;
        }
        for y in ty..ty + th {
            check(tx.saturating_sub(1), y, "ring")?;
            check(tx + tw, y, "ring")?;
        }
    }
    for y in (0..bh).step_by(16) {
        for x in (0..bw).step_by(16) {
            check(x, y, "grid")?;
        }
    }
    Ok(counter)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::pattern::{encode_counter_xrgb8888, fill_pattern_xrgb8888, rgb_of_xrgb};
    use super::*;

    fn draw(bw: u32, bh: u32, n: u32, frame: u32) -> Vec<u8> {
        let stride = bw as usize * 4;
        let mut buf = vec![0; stride * bh as usize];
        fill_pattern_xrgb8888(&mut buf, bw, bh, stride, 1);
        paint_xrgb8888(&mut buf, stride, bw, bh, n, frame);
        encode_counter_xrgb8888(&mut buf, bw, bh, stride, frame);
        buf
    }

    fn read(buf: &[u8], bw: u32) -> impl Fn(u32, u32) -> [u8; 3] + '_ {
        move |x, y| {
            let o = (y * bw + x) as usize * 4;
            rgb_of_xrgb(u32::from_le_bytes(buf[o..o + 4].try_into().unwrap()))
        }
    }

    #[test]
    fn tiles_are_apart_and_inside() {
        for n in [1, 5, 9, 12] {
            let rects: Vec<_> = (0..n).map(|j| tile_rect(j, n, 640, 480)).collect();
            for (j, r) in rects.iter().enumerate() {
                assert!(r.0 + r.2 <= 640 && r.1 + r.3 <= 480 && r.2 == TILE_SIZE);
                assert!(r.1 >= 8, "clear of the counter strip: {r:?}");
                assert_eq!(tile_at(n, 640, 480, r.0, r.1), Some(j as u32));
                assert_eq!(tile_at(n, 640, 480, r.0 + 15, r.1 + 15), Some(j as u32));
                assert_eq!(tile_at(n, 640, 480, r.0 + 16, r.1), None);
            }
        }
    }

    #[test]
    fn one_tile_changes_a_frame() {
        let n = 9;
        for frame in 0..30 {
            for j in 0..n {
                let same = tile_rgb(j, n, frame) == tile_rgb(j, n, frame + 1);
                assert_eq!(
                    same,
                    j != changed_tile(n, frame + 1),
                    "frame {frame} tile {j}"
                );
            }
        }
    }

    #[test]
    fn a_drawn_frame_checks_and_a_stale_tile_does_not() {
        let (bw, bh, n) = (320, 200, 9);
        let good = draw(bw, bh, n, 41);
        assert_eq!(check_frame(read(&good, bw), bw, bh, n), Ok(41));
        // Frame 41 with tile 3 as frame 38 left it (a buffer refilled with
        // only the newest damage).
        let mut stale = good.clone();
        let old = draw(bw, bh, n, 38);
        let (x, y, w, h) = tile_rect(3, n, bw, bh);
        for row in y..y + h {
            let s = (row * bw + x) as usize * 4;
            stale[s..s + w as usize * 4].copy_from_slice(&old[s..s + w as usize * 4]);
        }
        let err = check_frame(read(&stale, bw), bw, bh, n).unwrap_err();
        assert!(err.contains("tile 3"), "{err}");
        // A copy one pixel too wide shows in the ring.
        let mut spill = good.clone();
        let (x, y, _, _) = tile_rect(5, n, bw, bh);
        let o = ((y + 2) * bw + x - 1) as usize * 4;
        spill[o..o + 4].copy_from_slice(&[0, 0, 0, 0xFF]);
        assert!(check_frame(read(&spill, bw), bw, bh, n)
            .unwrap_err()
            .contains("ring"));
    }
}
