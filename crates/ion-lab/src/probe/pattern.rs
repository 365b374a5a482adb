//! The probe's known picture and the frame counter drawn over it.
//!
//! Everything here is a pure function of its arguments so that tests (and
//! screen-capture checks) can compute the expected colour of any pixel.
//!
//! # The pattern
//!
//! For the output with index `i` (see [`crate::probe`] for how indices are
//! assigned) and the **buffer** pixel `(x, y)` (physical pixels, i.e. logical
//! coordinates times the output's integer scale):
//!
//! ```text
//! R = x & 0xFF
//! G = y & 0xFF
//! B = ((i & 0x3) << 6) | (((x >> 8) & 0x7) << 3) | ((y >> 8) & 0x7)
//! ```
//!
//! R and G give the position inside a 256x256 tile, B names the tile (up to
//! 2048x2048 pixels) and the output (modulo 4).
//!
//! # The frame counter (`--animate`)
//!
//! In animate mode the top-left [`COUNTER_WIDTH`]x[`COUNTER_HEIGHT`] buffer
//! pixels hold a `u32` frame counter: 32 cells of [`COUNTER_CELL_WIDTH`]x8
//! pixels, cell `k` (pixels `x` in `2k..2k+2`, `y` in `0..8`) is white
//! (`#FFFFFF`) when bit `31 - k` of the counter is set and black otherwise
//! (most significant bit first). The rest of the buffer keeps the pattern.
//! [`decode_counter`] reads it back from any image through a pixel accessor.

/// Width of the counter strip in buffer pixels.
pub const COUNTER_WIDTH: u32 = 64;
/// Height of the counter strip in buffer pixels.
pub const COUNTER_HEIGHT: u32 = 8;
/// Width of one counter cell (one bit) in buffer pixels.
pub const COUNTER_CELL_WIDTH: u32 = 2;
/// Number of bits (cells) in the counter strip.
pub const COUNTER_BITS: u32 = 32;

/// Bytes per pixel of an XRGB8888 buffer.
pub const XRGB8888_BPP: usize = 4;

/// The expected RGB colour of buffer pixel `(x, y)` on the output with index
/// `output_index` (see the module documentation for the formula).
pub fn pattern_pixel(output_index: u32, x: u32, y: u32) -> [u8; 3] {
    let r = (x & 0xFF) as u8;
    let g = (y & 0xFF) as u8;
    let b = (((output_index & 0x3) << 6) | (((x >> 8) & 0x7) << 3) | ((y >> 8) & 0x7)) as u8;
    [r, g, b]
}

/// Packs an RGB triple as a little-endian XRGB8888 pixel (`0x00RRGGBB`).
pub fn xrgb(rgb: [u8; 3]) -> u32 {
    (u32::from(rgb[0]) << 16) | (u32::from(rgb[1]) << 8) | u32::from(rgb[2])
}

/// Unpacks an XRGB8888 pixel value into RGB.
pub fn rgb_of_xrgb(px: u32) -> [u8; 3] {
    [(px >> 16) as u8, (px >> 8) as u8, px as u8]
}

/// Writes one XRGB8888 pixel at byte offset `off` (little-endian, as
/// `wl_shm` expects).
fn put_xrgb(buf: &mut [u8], off: usize, rgb: [u8; 3]) {
    if let Some(px) = buf.get_mut(off..off + XRGB8888_BPP) {
        px.copy_from_slice(&xrgb(rgb).to_le_bytes());
    }
}

/// Fills a `width`x`height` XRGB8888 buffer (little-endian, `stride` bytes
/// per row) with the pattern of output `output_index`. Rows or pixels that
/// would fall outside `buf` are skipped.
pub fn fill_pattern_xrgb8888(
    buf: &mut [u8],
    width: u32,
    height: u32,
    stride: usize,
    output_index: u32,
) {
    for y in 0..height {
        let row_start = y as usize * stride;
        let Some(row) = buf.get_mut(row_start..row_start + width as usize * XRGB8888_BPP) else {
            return;
        };
        for (x, px) in row.chunks_exact_mut(XRGB8888_BPP).enumerate() {
            px.copy_from_slice(&xrgb(pattern_pixel(output_index, x as u32, y)).to_le_bytes());
        }
    }
}

/// The colour of counter-strip pixel `(x, y)` (inside the strip) for
/// `counter`: white for a set bit, black otherwise. `None` outside the strip.
pub fn counter_pixel(counter: u32, x: u32, y: u32) -> Option<[u8; 3]> {
    if x >= COUNTER_WIDTH || y >= COUNTER_HEIGHT {
        return None;
    }
    let bit = COUNTER_BITS - 1 - x / COUNTER_CELL_WIDTH;
    Some(if (counter >> bit) & 1 == 1 {
        [0xFF; 3]
    } else {
        [0; 3]
    })
}

/// The expected colour of buffer pixel `(x, y)` in animate mode when the
/// frame showing `counter` is on screen.
pub fn animated_pixel(output_index: u32, counter: u32, x: u32, y: u32) -> [u8; 3] {
    counter_pixel(counter, x, y).unwrap_or_else(|| pattern_pixel(output_index, x, y))
}

/// Fills the top-left `width`x`height` of an XRGB8888 buffer with one
/// colour that changes with `frame` (`--animate-area`); the caller clips
/// the area to the buffer.
pub fn fill_area_xrgb8888(buf: &mut [u8], stride: usize, width: u32, height: u32, frame: u32) {
    let [b0, b1, ..] = frame.to_le_bytes();
    let pixel = [0x40, b1, b0, 0xFF]; // B, G, R, X in memory
    let row_bytes = width as usize * XRGB8888_BPP;
    for y in 0..height as usize {
        let Some(row) = buf.get_mut(y * stride..y * stride + row_bytes) else {
            return;
        };
        for px in row.chunks_exact_mut(XRGB8888_BPP) {
            px.copy_from_slice(&pixel);
        }
    }
}

/// Draws `counter` into the top-left strip of a `width`x`height` XRGB8888
/// buffer (clipped to the buffer).
pub fn encode_counter_xrgb8888(
    buf: &mut [u8],
    width: u32,
    height: u32,
    stride: usize,
    counter: u32,
) {
    for y in 0..COUNTER_HEIGHT.min(height) {
        for x in 0..COUNTER_WIDTH.min(width) {
            if let Some(rgb) = counter_pixel(counter, x, y) {
                put_xrgb(buf, y as usize * stride + x as usize * XRGB8888_BPP, rgb);
            }
        }
    }
}

/// Classifies a pixel as a counter bit: `Some(true)` for near-white (every
/// channel >= 0xE0), `Some(false)` for near-black (every channel <= 0x20),
/// `None` for anything else. The tolerance is tight enough that the plain
/// pattern (red rises to 63 across the strip) never decodes.
fn classify(rgb: [u8; 3]) -> Option<bool> {
    let lo = rgb.iter().copied().min().unwrap_or(0);
    let hi = rgb.iter().copied().max().unwrap_or(0);
    if lo >= 0xE0 {
        Some(true)
    } else if hi <= 0x20 {
        Some(false)
    } else {
        None
    }
}

/// Reads the frame counter back from an image.
///
/// `pixel(x, y)` returns the RGB colour of the pixel at `(x, y)` relative to
/// the top-left corner of the probe's surface in buffer pixels (apply the
/// output's offset inside a whole-desktop capture in the closure). For every
/// cell the pixels of rows 2..6 are sampled (tolerating a little blur at the
/// strip's edges); each must be near-white or near-black and all samples of a
/// cell must agree, else `None` is returned (e.g. when the strip is not there
/// or is mid-tear).
pub fn decode_counter(pixel: impl Fn(u32, u32) -> [u8; 3]) -> Option<u32> {
    let mut value = 0u32;
    for cell in 0..COUNTER_BITS {
        let mut bit: Option<bool> = None;
        for y in 2..COUNTER_HEIGHT - 2 {
            for dx in 0..COUNTER_CELL_WIDTH {
                let b = classify(pixel(cell * COUNTER_CELL_WIDTH + dx, y))?;
                match bit {
                    None => bit = Some(b),
                    Some(prev) if prev != b => return None,
                    Some(_) => {}
                }
            }
        }
        value = (value << 1) | u32::from(bit == Some(true));
    }
    Some(value)
}

/// [`decode_counter`] over a packed image of `bytes_per_pixel` (3 or 4) bytes
/// per pixel whose red, green and blue bytes are at offsets `rgb_offsets`
/// (e.g. `[0, 1, 2]` for RGB/RGBA/RGBx, `[2, 1, 0]` for BGRA/BGRx, i.e. a
/// little-endian XRGB8888 buffer). `origin` is the top-left corner of the
/// probe's surface inside the image. Pixels outside `data` read as grey, so
/// decoding fails instead of panicking.
pub fn decode_counter_packed(
    data: &[u8],
    stride: usize,
    bytes_per_pixel: usize,
    rgb_offsets: [usize; 3],
    origin: (u32, u32),
) -> Option<u32> {
    decode_counter(|x, y| {
        let off = (origin.1 + y) as usize * stride + (origin.0 + x) as usize * bytes_per_pixel;
        let get = |i: usize| data.get(off + i).copied().unwrap_or(0x80);
        [
            get(rgb_offsets[0]),
            get(rgb_offsets[1]),
            get(rgb_offsets[2]),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_formula() {
        assert_eq!(pattern_pixel(0, 0, 0), [0, 0, 0]);
        assert_eq!(pattern_pixel(1, 0, 0), [0, 0, 0x40]);
        assert_eq!(pattern_pixel(3, 0, 0), [0, 0, 0xC0]);
        assert_eq!(pattern_pixel(4, 0, 0), [0, 0, 0]);
        assert_eq!(pattern_pixel(0, 255, 17), [255, 17, 0]);
        assert_eq!(pattern_pixel(0, 256, 0), [0, 0, 1 << 3]);
        assert_eq!(pattern_pixel(0, 0, 256), [0, 0, 1]);
        assert_eq!(
            pattern_pixel(2, 1279, 719),
            [0xFF, 0xCF, 0x80 | (4 << 3) | 2]
        );
        assert_eq!(
            pattern_pixel(1, 2047, 2047),
            [0xFF, 0xFF, 0x40 | 0x38 | 0x7]
        );
    }

    #[test]
    fn fill_matches_pattern_pixel() {
        let (w, h) = (300u32, 270u32);
        let stride = w as usize * 4 + 8; // padded rows
        let mut buf = vec![0u8; stride * h as usize];
        fill_pattern_xrgb8888(&mut buf, w, h, stride, 2);
        for &(x, y) in &[(0, 0), (1, 0), (0, 1), (299, 269), (256, 257), (128, 3)] {
            let off = y as usize * stride + x as usize * 4;
            let px = u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
            assert_eq!(rgb_of_xrgb(px), pattern_pixel(2, x, y), "pixel {x},{y}");
            assert_eq!(px >> 24, 0);
        }
        // Padding untouched.
        assert_eq!(&buf[w as usize * 4..stride], &[0u8; 8]);
    }

    #[test]
    fn fill_short_buffer_does_not_panic() {
        let mut buf = vec![0u8; 10];
        fill_pattern_xrgb8888(&mut buf, 100, 100, 400, 0);
        encode_counter_xrgb8888(&mut buf, 100, 100, 400, 7);
    }

    #[test]
    fn counter_roundtrip() {
        let (w, h) = (100u32, 20u32);
        let stride = w as usize * 4;
        for &counter in &[0u32, 1, 2, 0x8000_0000, 0xDEAD_BEEF, u32::MAX, 12345] {
            let mut buf = vec![0u8; stride * h as usize];
            fill_pattern_xrgb8888(&mut buf, w, h, stride, 1);
            encode_counter_xrgb8888(&mut buf, w, h, stride, counter);
            // Little-endian XRGB8888 is B, G, R, X in memory.
            assert_eq!(
                decode_counter_packed(&buf, stride, 4, [2, 1, 0], (0, 0)),
                Some(counter)
            );
            // Pixels outside the strip keep the pattern.
            let off = 10 * stride + 70 * 4;
            let px = u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
            assert_eq!(rgb_of_xrgb(px), pattern_pixel(1, 70, 10));
            assert_eq!(
                decode_counter(|x, y| animated_pixel(1, counter, x, y)),
                Some(counter)
            );
        }
    }

    #[test]
    fn counter_msb_first() {
        // Bit 31 is the leftmost cell.
        assert_eq!(counter_pixel(0x8000_0000, 0, 0), Some([255; 3]));
        assert_eq!(counter_pixel(0x8000_0000, 1, 7), Some([255; 3]));
        assert_eq!(counter_pixel(0x8000_0000, 2, 0), Some([0; 3]));
        assert_eq!(counter_pixel(1, 63, 0), Some([255; 3]));
        assert_eq!(counter_pixel(1, 61, 0), Some([0; 3]));
        assert_eq!(counter_pixel(1, 64, 0), None);
        assert_eq!(counter_pixel(1, 0, 8), None);
    }

    #[test]
    fn decode_with_offset_rgba_and_noise() {
        // A 3-channel RGB image with the surface at (5, 3) and slight noise.
        let (w, h) = (80usize, 16usize);
        let stride = w * 3;
        let counter = 0x0F0F_1234u32;
        let mut img = vec![0x80u8; stride * h];
        for y in 0..8u32 {
            for x in 0..64u32 {
                let rgb = animated_pixel(0, counter, x, y);
                let off = (y as usize + 3) * stride + (x as usize + 5) * 3;
                for c in 0..3 {
                    img[off + c] = if rgb[c] == 0xFF { 0xF0 } else { 0x08 };
                }
            }
        }
        assert_eq!(
            decode_counter_packed(&img, stride, 3, [0, 1, 2], (5, 3)),
            Some(counter)
        );
        // Wrong origin: the grey background is not a counter.
        assert_eq!(
            decode_counter_packed(&img, stride, 3, [0, 1, 2], (20, 3)),
            None
        );
    }

    #[test]
    fn decode_rejects_pattern_only() {
        // The plain pattern is dark near the origin but red rises to 63 across
        // the strip, so it must not decode as a counter.
        for i in 0..4 {
            assert_eq!(decode_counter(|x, y| pattern_pixel(i, x, y)), None);
        }
        // Out-of-image reads are grey and fail.
        assert_eq!(decode_counter_packed(&[], 0, 4, [2, 1, 0], (0, 0)), None);
    }
}
