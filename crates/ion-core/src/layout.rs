//! Coordinate mapping: stream-logical coordinates → the compositor's global
//! logical layout → the virtual pointer's absolute extent.
//!
//! A stream covers one output (or, later, a window); `NotifyPointerMotionAbsolute`
//! gives a position relative to the stream's top-left corner in logical
//! pixels. Outputs' logical rectangles (xdg-output) already account for
//! scale and transform, so mapping to the layout is a translation; the
//! virtual pointer then takes the position as a fraction of the layout's
//! bounding box (wlroots maps `x / x_extent` onto that box when the device is
//! not bound to one output).

use crate::error::InputError;

/// A rectangle in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    pub fn new(x: i32, y: i32, width: i32, height: i32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.width <= 0 || self.height <= 0
    }

    /// Whether a logical position lies inside (right and bottom edges
    /// excluded). NaN is inside nothing.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        (f64::from(self.x)..self.right() as f64).contains(&x)
            && (f64::from(self.y)..self.bottom() as f64).contains(&y)
    }

    fn right(&self) -> i64 {
        i64::from(self.x) + i64::from(self.width)
    }

    fn bottom(&self) -> i64 {
        i64::from(self.y) + i64::from(self.height)
    }
}

/// The part of the layout a stream shows, by the stream's id (the PipeWire
/// node id the portal handed out).
///
/// Clients address a stream in the size Start announced (`space`), and
/// cannot learn a new one: the interface has no signal for it. When the
/// output later changes mode or scale, its current rectangle (`logical`)
/// moves on and positions are scaled onto it, so the stream still spans the
/// whole output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRegion {
    pub stream_id: u32,
    /// Width and height clients address, as Start announced them.
    pub space: (i32, i32),
    /// Where the stream's output is in the layout now.
    pub logical: Rect,
}

impl StreamRegion {
    /// A stream as Start announces it: its space is its rectangle's size.
    pub fn new(stream_id: u32, logical: Rect) -> Self {
        Self {
            stream_id,
            space: (logical.width, logical.height),
            logical,
        }
    }

    /// The stream's output now covers `logical` (moved, resized, rescaled).
    pub fn moved_to(&mut self, logical: Rect) {
        if !logical.is_empty() {
            self.logical = logical;
        }
    }

    /// Maps a stream-relative position to global logical coordinates.
    /// The position must lie inside the stream: `0 <= x < width` (the same
    /// rule the frontend applies).
    pub fn to_global(&self, x: f64, y: f64) -> Result<(f64, f64), InputError> {
        for (what, v) in [("x", x), ("y", y)] {
            if !v.is_finite() {
                return Err(InputError::NotFinite { what, value: v });
            }
        }
        let (sw, sh) = self.space;
        if !(0.0..f64::from(sw)).contains(&x) {
            return Err(InputError::OutOfRange {
                what: "x",
                value: x.to_string(),
                range: "0 <= x < stream width",
            });
        }
        if !(0.0..f64::from(sh)).contains(&y) {
            return Err(InputError::OutOfRange {
                what: "y",
                value: y.to_string(),
                range: "0 <= y < stream height",
            });
        }
        let r = self.logical;
        // Same size (the usual case): a plain translation, exact.
        let (x, y) = if (r.width, r.height) == (sw, sh) {
            (x, y)
        } else {
            (
                x * f64::from(r.width) / f64::from(sw),
                y * f64::from(r.height) / f64::from(sh),
            )
        };
        Ok((f64::from(r.x) + x, f64::from(r.y) + y))
    }
}

/// The bounding box of all outputs: what a virtual pointer's absolute extent
/// spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutBox(pub Rect);

/// Sub-pixel steps per logical pixel in the absolute extent. 256 matches
/// wl_fixed, the precision clients receive positions in.
pub const SUBPIXEL: u32 = 256;

/// A position for `zwlr_virtual_pointer_v1.motion_absolute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentPosition {
    pub x: u32,
    pub y: u32,
    pub x_extent: u32,
    pub y_extent: u32,
}

impl LayoutBox {
    /// The bounding box of the given output rectangles (empty ones ignored).
    pub fn from_outputs<'a>(outputs: impl IntoIterator<Item = &'a Rect>) -> Option<Self> {
        let mut bounds: Option<(i64, i64, i64, i64)> = None;
        for r in outputs.into_iter().filter(|r| !r.is_empty()) {
            let (x0, y0, x1, y1) = (i64::from(r.x), i64::from(r.y), r.right(), r.bottom());
            bounds = Some(match bounds {
                None => (x0, y0, x1, y1),
                Some((a, b, c, d)) => (a.min(x0), b.min(y0), c.max(x1), d.max(y1)),
            });
        }
        let (x0, y0, x1, y1) = bounds?;
        Some(Self(Rect::new(
            i32::try_from(x0).ok()?,
            i32::try_from(y0).ok()?,
            i32::try_from(x1 - x0).ok()?,
            i32::try_from(y1 - y0).ok()?,
        )))
    }

    /// Converts a global logical position into the virtual pointer's
    /// absolute form. Positions outside the box are clamped to its edge
    /// (the compositor would clamp them too). `None` if the box is too large
    /// for the protocol's u32 extent.
    pub fn to_extent(&self, gx: f64, gy: f64) -> Option<ExtentPosition> {
        let r = self.0;
        let x_extent = u32::try_from(r.width).ok()?.checked_mul(SUBPIXEL)?;
        let y_extent = u32::try_from(r.height).ok()?.checked_mul(SUBPIXEL)?;
        let scale = f64::from(SUBPIXEL);
        let fx = ((gx - f64::from(r.x)) * scale).round();
        let fy = ((gy - f64::from(r.y)) * scale).round();
        // Clamped into [0, extent]: the casts below cannot truncate.
        let x = fx.clamp(0.0, f64::from(x_extent)) as u32;
        let y = fy.clamp(0.0, f64::from(y_extent)) as u32;
        Some(ExtentPosition {
            x,
            y,
            x_extent,
            y_extent,
        })
    }

    /// The inverse of [`Self::to_extent`], as wlroots computes it.
    pub fn from_extent(&self, p: ExtentPosition) -> (f64, f64) {
        let r = self.0;
        (
            f64::from(p.x) / f64::from(p.x_extent) * f64::from(r.width) + f64::from(r.x),
            f64::from(p.y) / f64::from(p.y_extent) * f64::from(r.height) + f64::from(r.y),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn two_outputs() -> Vec<Rect> {
        vec![Rect::new(0, 0, 1920, 1080), Rect::new(1920, 0, 1280, 720)]
    }

    #[test]
    fn bounding_box_of_outputs() {
        let b = LayoutBox::from_outputs(&two_outputs()).unwrap();
        assert_eq!(b.0, Rect::new(0, 0, 3200, 1080));
        let neg = [
            Rect::new(-1280, 200, 1280, 720),
            Rect::new(0, 0, 1920, 1080),
        ];
        assert_eq!(
            LayoutBox::from_outputs(&neg).unwrap().0,
            Rect::new(-1280, 0, 3200, 1080)
        );
        assert!(LayoutBox::from_outputs(&[]).is_none());
    }

    #[test]
    fn stream_point_lands_on_its_output() {
        let s = StreamRegion::new(42, Rect::new(1920, 0, 1280, 720));
        assert_eq!(s.to_global(100.0, 50.5).unwrap(), (2020.0, 50.5));
        assert!(s.to_global(1280.0, 0.0).is_err());
        assert!(s.to_global(-0.5, 0.0).is_err());
        assert!(s.to_global(f64::NAN, 0.0).is_err());
        assert!(s.to_global(0.0, f64::INFINITY).is_err());
    }

    #[test]
    fn a_resized_output_keeps_the_announced_space() {
        let mut s = StreamRegion::new(7, Rect::new(0, 0, 1920, 1080));
        // Scale 2 (or a smaller mode): the output is now half as large.
        s.moved_to(Rect::new(0, 0, 960, 540));
        assert_eq!(s.to_global(1919.0, 1079.0).unwrap(), (959.5, 539.5));
        assert_eq!(s.to_global(0.0, 0.0).unwrap(), (0.0, 0.0));
        // Still addressed in the announced space.
        assert!(s.to_global(1000.0, 0.0).is_ok());
        assert!(s.to_global(1920.0, 0.0).is_err());
        // Moved elsewhere in the layout.
        s.moved_to(Rect::new(-960, 100, 960, 540));
        assert_eq!(s.to_global(960.0, 540.0).unwrap(), (-480.0, 370.0));
        // An empty rectangle (output being disabled) is ignored.
        s.moved_to(Rect::new(0, 0, 0, 0));
        assert_eq!(s.logical, Rect::new(-960, 100, 960, 540));
    }

    #[test]
    fn extent_is_exact_for_whole_and_fixed_positions() {
        let b = LayoutBox::from_outputs(&two_outputs()).unwrap();
        let p = b.to_extent(2020.0, 50.5).unwrap();
        assert_eq!((p.x_extent, p.y_extent), (3200 * 256, 1080 * 256));
        assert_eq!(b.from_extent(p), (2020.0, 50.5));
    }

    proptest! {
        #[test]
        fn mapping_roundtrips_within_a_fixed_step(
            ox in -4000i32..4000, oy in -4000i32..4000,
            w in 1i32..8000, h in 1i32..8000,
            fx in 0.0f64..1.0, fy in 0.0f64..1.0,
        ) {
            let out = Rect::new(ox, oy, w, h);
            let other = Rect::new(ox + w, oy, 640, 480);
            let b = LayoutBox::from_outputs(&[out, other]).unwrap();
            let s = StreamRegion::new(1, out);
            let (gx, gy) = s.to_global(fx * f64::from(w), fy * f64::from(h)).unwrap();
            let p = b.to_extent(gx, gy).unwrap();
            prop_assert!(p.x <= p.x_extent && p.y <= p.y_extent);
            let (rx, ry) = b.from_extent(p);
            prop_assert!((rx - gx).abs() <= 0.5 / 256.0 + 1e-9);
            prop_assert!((ry - gy).abs() <= 0.5 / 256.0 + 1e-9);
            // The point stays on the stream's output.
            prop_assert!(rx >= f64::from(ox) && rx <= f64::from(ox + w));
            prop_assert!(ry >= f64::from(oy) && ry <= f64::from(oy + h));
        }
    }
}
