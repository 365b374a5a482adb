//! Turning a captured frame the right way up.
//!
//! Compositors hand a capture over in the output's *buffer* orientation and
//! say which transform they applied to get there (wl_output.transform, or
//! ext-image-copy-capture's `transform` event): a portrait output's frames
//! arrive sideways. Most PipeWire consumers (browsers, GStreamer pipelines,
//! KDE's) ignore the video-transform metadata that could tell them, so the
//! picture has to be turned before it is queued (docs/research/
//! frame-transforms.md). This is the pixel and rectangle arithmetic for
//! that, pure and tested: 4-byte pixels, any of the eight transforms, the
//! whole frame or only a damaged rectangle of it.

/// A `wl_output.transform`: what the compositor applied to the picture to
/// get the buffer (counter-clockwise rotations, `Flipped` mirrors about the
/// vertical axis first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transform {
    #[default]
    Normal,
    R90,
    R180,
    R270,
    Flipped,
    Flipped90,
    Flipped180,
    Flipped270,
}

/// A rectangle in pixels: x, y, width, height.
pub type PixelRect = (u32, u32, u32, u32);

impl Transform {
    /// From the protocol's value; None for a value no protocol defines.
    pub fn from_wl(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Normal,
            1 => Self::R90,
            2 => Self::R180,
            3 => Self::R270,
            4 => Self::Flipped,
            5 => Self::Flipped90,
            6 => Self::Flipped180,
            7 => Self::Flipped270,
            _ => return None,
        })
    }

    const NAMES: [(Transform, &'static str); 8] = [
        (Transform::Normal, "normal"),
        (Transform::R90, "90"),
        (Transform::R180, "180"),
        (Transform::R270, "270"),
        (Transform::Flipped, "flipped"),
        (Transform::Flipped90, "flipped-90"),
        (Transform::Flipped180, "flipped-180"),
        (Transform::Flipped270, "flipped-270"),
    ];

    /// The name sway, wlr-randr and their JSON use.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("normal", |(_, n)| n)
    }

    /// From that name; anything unknown is normal.
    pub fn from_name(name: &str) -> Self {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(Transform::Normal, |(t, _)| *t)
    }

    /// As (mirror first?, then quarter turns counter-clockwise): the
    /// protocol's own reading of the eight values.
    fn parts(self) -> (bool, u32) {
        match self {
            Self::Normal => (false, 0),
            Self::R90 => (false, 1),
            Self::R180 => (false, 2),
            Self::R270 => (false, 3),
            Self::Flipped => (true, 0),
            Self::Flipped90 => (true, 1),
            Self::Flipped180 => (true, 2),
            Self::Flipped270 => (true, 3),
        }
    }

    fn from_parts(flip: bool, turns: u32) -> Self {
        match (flip, turns % 4) {
            (false, 0) => Self::Normal,
            (false, 1) => Self::R90,
            (false, 2) => Self::R180,
            (false, _) => Self::R270,
            (true, 0) => Self::Flipped,
            (true, 1) => Self::Flipped90,
            (true, 2) => Self::Flipped180,
            (true, _) => Self::Flipped270,
        }
    }

    /// The transform that undoes this one (a quarter turn the other way;
    /// every mirror undoes itself).
    pub fn inverse(self) -> Self {
        match self {
            Self::R90 => Self::R270,
            Self::R270 => Self::R90,
            other => other,
        }
    }

    /// This transform, then `next` applied to its result: e.g. the output
    /// transform then wlr-screencopy's y-invert (`Flipped180`, rows upside
    /// down) gives what a y-inverted screencopy buffer holds.
    pub fn then(self, next: Transform) -> Transform {
        // With M a mirror and R a counter-clockwise quarter turn,
        // M·R = R⁻¹·M: a mirror after a turn reverses the turn.
        let (f1, r1) = self.parts();
        let (f2, r2) = next.parts();
        let turns = if f2 { r2 + 4 - r1 } else { r2 + r1 };
        Self::from_parts(f1 != f2, turns)
    }

    /// Whether width and height trade places.
    pub fn turns(self) -> bool {
        matches!(
            self,
            Self::R90 | Self::R270 | Self::Flipped90 | Self::Flipped270
        )
    }

    /// The upright picture's size for a buffer of `w`×`h`.
    pub fn upright_size(self, w: u32, h: u32) -> (u32, u32) {
        if self.turns() {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// Where the buffer pixel (`x`, `y`) of a `w`×`h` buffer lands in the
    /// upright picture (the inverse of what the compositor applied; the
    /// same mapping as wlroots' `wlr_box_transform` on a 1×1 box). A
    /// point outside the buffer is clamped to its edge.
    pub fn upright_point(self, w: u32, h: u32, x: u32, y: u32) -> (u32, u32) {
        let (x, y) = (x.min(w.saturating_sub(1)), y.min(h.saturating_sub(1)));
        let (mx, my) = (w.saturating_sub(1) - x, h.saturating_sub(1) - y);
        match self {
            Self::Normal => (x, y),
            Self::R90 => (my, x),
            Self::R180 => (mx, my),
            Self::R270 => (y, mx),
            Self::Flipped => (mx, y),
            Self::Flipped90 => (y, x),
            Self::Flipped180 => (x, my),
            Self::Flipped270 => (my, mx),
        }
    }

    /// A buffer rectangle of a `w`×`h` buffer, in the upright picture.
    /// Rectangles reaching past the buffer are clipped to it first.
    pub fn upright_rect(self, w: u32, h: u32, rect: PixelRect) -> PixelRect {
        let x0 = rect.0.min(w);
        let y0 = rect.1.min(h);
        let x1 = rect.0.saturating_add(rect.2).min(w);
        let y1 = rect.1.saturating_add(rect.3).min(h);
        if x1 <= x0 || y1 <= y0 {
            return (0, 0, 0, 0);
        }
        // The images of two opposite corner pixels span the rectangle.
        let a = self.upright_point(w, h, x0, y0);
        let b = self.upright_point(w, h, x1 - 1, y1 - 1);
        let (left, right) = (a.0.min(b.0), a.0.max(b.0));
        let (top, bottom) = (a.1.min(b.1), a.1.max(b.1));
        (left, top, right - left + 1, bottom - top + 1)
    }
}

impl Transform {
    /// The buffer rectangle whose upright image is the upright rectangle
    /// `rect` of a `w`×`h` buffer (the inverse of [`Transform::upright_rect`]):
    /// what must be turned again for a stale part of the upright picture.
    pub fn buffer_rect(self, w: u32, h: u32, rect: PixelRect) -> PixelRect {
        let (uw, uh) = self.upright_size(w, h);
        self.inverse().upright_rect(uw, uh, rect)
    }
}

/// Why pixels could not be turned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    #[error("a {w}x{h} image does not fit {len} bytes with {stride} bytes a row")]
    TooSmall {
        w: u32,
        h: u32,
        stride: usize,
        len: usize,
    },
}

/// One image of 4-byte pixels: its size, its rows' stride in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Plane {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
}

impl Plane {
    fn check(&self, len: usize) -> Result<(), TurnError> {
        let need = (self.height as usize)
            .checked_sub(1)
            .map_or(0, |rows| rows * self.stride + self.width as usize * 4);
        if self.stride < self.width as usize * 4 || len < need {
            return Err(TurnError::TooSmall {
                w: self.width,
                h: self.height,
                stride: self.stride,
                len,
            });
        }
        Ok(())
    }
}

/// Square blocks walked at a time, so that the reads and writes of a
/// quarter turn stay in cache (a column walk touches a new cache line for
/// every pixel).
const BLOCK: u32 = 32;

/// Writes the upright picture of the buffer rectangle `rect` of `src`
/// (a `src_plane.width`×`src_plane.height` buffer that the compositor
/// transformed by `t`) into `dst`, whose plane must have the upright size.
/// Only the rectangle's image in `dst` is written.
pub fn turn_into(
    t: Transform,
    src: &[u8],
    src_plane: Plane,
    dst: &mut [u8],
    dst_plane: Plane,
    rect: PixelRect,
) -> Result<(), TurnError> {
    src_plane.check(src.len())?;
    dst_plane.check(dst.len())?;
    let (w, h) = (src_plane.width, src_plane.height);
    if t.upright_size(w, h) != (dst_plane.width, dst_plane.height) {
        return Err(TurnError::TooSmall {
            w: dst_plane.width,
            h: dst_plane.height,
            stride: dst_plane.stride,
            len: dst.len(),
        });
    }
    let x1 = rect.0.saturating_add(rect.2).min(w);
    let y1 = rect.1.saturating_add(rect.3).min(h);
    let (x0, y0) = (rect.0.min(x1), rect.1.min(y1));
    if x0 == x1 || y0 == y1 {
        return Ok(());
    }
    if t == Transform::Normal || t == Transform::Flipped180 {
        // Whole rows stay rows: copy them (reversed for the flip).
        let bytes = (x1 - x0) as usize * 4;
        for y in y0..y1 {
            let (_, dy) = t.upright_point(w, h, x0, y);
            let s = y as usize * src_plane.stride + x0 as usize * 4;
            let d = dy as usize * dst_plane.stride + x0 as usize * 4;
            dst[d..d + bytes].copy_from_slice(&src[s..s + bytes]);
        }
        return Ok(());
    }
    let mut by = y0;
    while by < y1 {
        let bye = (by + BLOCK).min(y1);
        let mut bx = x0;
        while bx < x1 {
            let bxe = (bx + BLOCK).min(x1);
            for y in by..bye {
                let row = y as usize * src_plane.stride;
                for x in bx..bxe {
                    let (ux, uy) = t.upright_point(w, h, x, y);
                    let s = row + x as usize * 4;
                    let d = uy as usize * dst_plane.stride + ux as usize * 4;
                    dst[d..d + 4].copy_from_slice(&src[s..s + 4]);
                }
            }
            bx = bxe;
        }
        by = bye;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Transform; 8] = [
        Transform::Normal,
        Transform::R90,
        Transform::R180,
        Transform::R270,
        Transform::Flipped,
        Transform::Flipped90,
        Transform::Flipped180,
        Transform::Flipped270,
    ];

    /// A buffer whose every pixel names its own place.
    fn coded(w: u32, h: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[
                    (x & 0xff) as u8,
                    (x >> 8) as u8,
                    (y & 0xff) as u8,
                    (y >> 8) as u8,
                ]);
            }
        }
        v
    }

    fn at(img: &[u8], stride: usize, x: u32, y: u32) -> (u32, u32) {
        let i = y as usize * stride + x as usize * 4;
        (
            u32::from(img[i]) | u32::from(img[i + 1]) << 8,
            u32::from(img[i + 2]) | u32::from(img[i + 3]) << 8,
        )
    }

    fn turned(t: Transform, w: u32, h: u32) -> (Vec<u8>, Plane) {
        let src = coded(w, h);
        let (uw, uh) = t.upright_size(w, h);
        let dst_plane = Plane {
            width: uw,
            height: uh,
            stride: uw as usize * 4,
        };
        let mut dst = vec![0; (uw * uh * 4) as usize];
        let src_plane = Plane {
            width: w,
            height: h,
            stride: w as usize * 4,
        };
        turn_into(t, &src, src_plane, &mut dst, dst_plane, (0, 0, w, h)).unwrap();
        (dst, dst_plane)
    }

    #[test]
    fn names_round_trip() {
        for t in ALL {
            assert_eq!(Transform::from_name(t.name()), t);
        }
        assert_eq!(Transform::R90.name(), "90");
        assert_eq!(Transform::from_name("sideways"), Transform::Normal);
    }

    #[test]
    fn a_portrait_output_turned_90_stands_upright() {
        // The compositor turned the picture 90° counter-clockwise into a
        // 4x2 buffer; upright it is 2 wide and 4 high, and the buffer's
        // top-left pixel is the picture's top-right one.
        let (dst, plane) = turned(Transform::R90, 4, 2);
        assert_eq!((plane.width, plane.height), (2, 4));
        assert_eq!(at(&dst, plane.stride, 1, 0), (0, 0));
        assert_eq!(at(&dst, plane.stride, 0, 0), (0, 1));
        assert_eq!(at(&dst, plane.stride, 1, 3), (3, 0));
    }

    #[test]
    fn flipped_180_is_rows_upside_down() {
        let (dst, plane) = turned(Transform::Flipped180, 3, 2);
        assert_eq!(at(&dst, plane.stride, 0, 0), (0, 1));
        assert_eq!(at(&dst, plane.stride, 2, 1), (2, 0));
    }

    #[test]
    fn a_bad_plane_is_an_error_not_a_panic() {
        let src = coded(4, 4);
        let mut dst = vec![0; 8];
        let p = Plane {
            width: 4,
            height: 4,
            stride: 16,
        };
        assert!(turn_into(Transform::R90, &src, p, &mut dst, p, (0, 0, 4, 4)).is_err());
        let short = Plane { stride: 8, ..p };
        assert!(turn_into(Transform::Normal, &src, short, &mut dst, p, (0, 0, 4, 4)).is_err());
    }

    proptest! {
        /// Every transform puts every pixel where `upright_point` says, and
        /// undoing it with a second turn by the inverse mapping is exact.
        #[test]
        fn every_pixel_lands_where_the_mapping_says(w in 1u32..70, h in 1u32..70, t in 0u32..8) {
            let t = Transform::from_wl(t).unwrap();
            let (dst, plane) = turned(t, w, h);
            for y in 0..h {
                for x in 0..w {
                    let (ux, uy) = t.upright_point(w, h, x, y);
                    prop_assert_eq!(at(&dst, plane.stride, ux, uy), (x, y));
                }
            }
        }

        /// Turning only a damaged rectangle writes exactly its image, which
        /// `upright_rect` names.
        #[test]
        fn a_damaged_rectangle_writes_exactly_its_image(
            w in 1u32..60, h in 1u32..60, t in 0u32..8,
            rx in 0u32..70, ry in 0u32..70, rw in 0u32..70, rh in 0u32..70,
        ) {
            let t = Transform::from_wl(t).unwrap();
            let src = coded(w, h);
            let (uw, uh) = t.upright_size(w, h);
            let plane = Plane { width: uw, height: uh, stride: uw as usize * 4 + 8 };
            let mut dst = vec![0xee; plane.stride * uh as usize];
            let sp = Plane { width: w, height: h, stride: w as usize * 4 };
            turn_into(t, &src, sp, &mut dst, plane, (rx, ry, rw, rh)).unwrap();
            let (ux, uy, uw2, uh2) = t.upright_rect(w, h, (rx, ry, rw, rh));
            for y in 0..uh {
                for x in 0..uw {
                    let inside = x >= ux && x < ux + uw2 && y >= uy && y < uy + uh2;
                    let i = y as usize * plane.stride + x as usize * 4;
                    prop_assert_eq!(dst[i..i + 4] != [0xee; 4], inside, "({}, {})", x, y);
                }
            }
        }
    }

    #[test]
    fn compositions_follow_the_pixels() {
        // Applying `a` then `b` to a picture and undoing the composition
        // must bring every pixel back: checked through the point maps.
        for a in ALL {
            for b in ALL {
                let ab = a.then(b);
                let (w, h) = (5u32, 3u32);
                // A picture of w×h; `a` makes a buffer of size a(w, h)…
                let (aw, ah) = if a.turns() { (h, w) } else { (w, h) };
                let (bw, bh) = if b.turns() { (ah, aw) } else { (aw, ah) };
                for y in 0..bh {
                    for x in 0..bw {
                        let mid = b.upright_point(bw, bh, x, y);
                        let two_steps = a.upright_point(aw, ah, mid.0, mid.1);
                        assert_eq!(
                            ab.upright_point(bw, bh, x, y),
                            two_steps,
                            "{a:?} then {b:?}"
                        );
                    }
                }
            }
            assert_eq!(a.then(a.inverse()), Transform::Normal, "{a:?}");
        }
        assert_eq!(
            Transform::Normal.then(Transform::Flipped180),
            Transform::Flipped180
        );
        assert_eq!(
            Transform::R90.then(Transform::Flipped180),
            Transform::Flipped90
        );
    }

    proptest! {
        /// `buffer_rect` undoes `upright_rect` exactly.
        #[test]
        fn buffer_rects_undo_upright_rects(
            w in 1u32..60, h in 1u32..60, t in 0u32..8,
            rx in 0u32..60, ry in 0u32..60, rw in 1u32..60, rh in 1u32..60,
        ) {
            let t = Transform::from_wl(t).unwrap();
            let (rx, ry) = (rx % w, ry % h);
            let (rw, rh) = (rw.min(w - rx), rh.min(h - ry));
            let up = t.upright_rect(w, h, (rx, ry, rw, rh));
            prop_assert_eq!(t.buffer_rect(w, h, up), (rx, ry, rw, rh));
        }
    }

    #[test]
    fn rect_images_agree_with_their_pixels() {
        for t in ALL {
            let r = t.upright_rect(10, 6, (2, 1, 3, 4));
            let mut want = Vec::new();
            for y in 1..5 {
                for x in 2..5 {
                    want.push(t.upright_point(10, 6, x, y));
                }
            }
            let (l, tp) = (
                want.iter().map(|p| p.0).min().unwrap(),
                want.iter().map(|p| p.1).min().unwrap(),
            );
            assert_eq!((r.0, r.1), (l, tp), "{t:?}");
            assert_eq!(u64::from(r.2) * u64::from(r.3), 12, "{t:?}");
        }
    }
}
