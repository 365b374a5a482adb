//! Frame geometry: what a capture reported, put the right way up, and the
//! choice among what the compositor offers when it no longer matches the
//! stream's negotiated format.

/// A damaged rectangle in buffer pixels: x, y, width, height.
pub type Damage = (u32, u32, u32, u32);

/// Turns an image of `height` rows of `stride` bytes upside down, in
/// place. Compositors that render with GL hand shm captures over bottom row
/// first (screencopy's `y_invert`); consumers expect top row first.
pub fn flip_rows(pixels: &mut [u8], stride: usize, height: usize) {
    let Some(len) = stride.checked_mul(height) else {
        return;
    };
    if stride == 0 || pixels.len() < len {
        return;
    }
    let pixels = &mut pixels[..len];
    for top in 0..height / 2 {
        let bottom = height - 1 - top;
        let (upper, lower) = pixels.split_at_mut(bottom * stride);
        upper[top * stride..(top + 1) * stride].swap_with_slice(&mut lower[..stride]);
    }
}

/// The same damage after [`flip_rows`]. Rectangles reaching past the image
/// are clipped to it.
pub fn flip_damage(damage: &mut [Damage], height: u32) {
    for d in damage {
        let y = d.1.min(height);
        let h = d.3.min(height - y);
        *d = (d.0, height - y - h, d.2, h);
    }
}

/// One shm buffer layout the compositor can copy a capture into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer<F> {
    pub format: F,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
}

/// What to renegotiate when none of the compositor's offers matches the
/// stream (its output changed mode, scale or transform): the size of the
/// first usable offer, and every usable format of that size, the current
/// format first so a consumer that can keep it does. An offer is usable
/// when `supported` knows its format and its rows are packed (the stream's
/// buffers are `width * 4` bytes a row). `None` when nothing is usable.
pub fn renegotiation<F: Copy + PartialEq>(
    offers: &[Offer<F>],
    current: Option<F>,
    supported: impl Fn(F) -> bool,
) -> Option<(u32, u32, Vec<F>)> {
    let usable = |o: &&Offer<F>| {
        supported(o.format)
            && o.width > 0
            && o.height > 0
            && o.width.checked_mul(4) == Some(o.stride)
    };
    let first = offers.iter().find(usable)?;
    let (w, h) = (first.width, first.height);
    let mut formats: Vec<F> = Vec::new();
    for o in offers
        .iter()
        .filter(usable)
        .filter(|o| (o.width, o.height) == (w, h))
    {
        if !formats.contains(&o.format) {
            formats.push(o.format);
        }
    }
    if let Some(pos) = current.and_then(|c| formats.iter().position(|f| *f == c)) {
        let c = formats.remove(pos);
        formats.insert(0, c);
    }
    Some((w, h, formats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rows_flip_in_place() {
        // 3 rows of 2 bytes (+ a tail that is not part of the image).
        let mut p = vec![1, 1, 2, 2, 3, 3, 9];
        flip_rows(&mut p, 2, 3);
        assert_eq!(p, vec![3, 3, 2, 2, 1, 1, 9]);
        let mut even = vec![1, 2, 3, 4];
        flip_rows(&mut even, 1, 4);
        assert_eq!(even, vec![4, 3, 2, 1]);
        // Too short for the claimed size: left alone.
        let mut short = vec![1, 2, 3];
        flip_rows(&mut short, 2, 2);
        assert_eq!(short, vec![1, 2, 3]);
    }

    #[test]
    fn damage_follows_the_flip() {
        let mut d = vec![(0, 0, 10, 10), (5, 90, 10, 10), (0, 95, 4, 20)];
        flip_damage(&mut d, 100);
        assert_eq!(d, vec![(0, 90, 10, 10), (5, 0, 10, 10), (0, 0, 4, 5)]);
    }

    #[test]
    fn renegotiation_takes_the_new_size_and_keeps_the_format() {
        let o = |format, width, height, stride| Offer {
            format,
            width,
            height,
            stride,
        };
        // The output went from 1920x1080 to 1280x720; the compositor
        // offers two formats, ours second.
        let offers = [o('A', 1280, 720, 5120), o('X', 1280, 720, 5120)];
        assert_eq!(
            renegotiation(&offers, Some('X'), |_| true),
            Some((1280, 720, vec!['X', 'A']))
        );
        // An unknown format and a padded stride are skipped.
        let offers = [
            o('?', 800, 600, 3200),
            o('A', 800, 600, 3328),
            o('X', 800, 600, 3200),
        ];
        assert_eq!(
            renegotiation(&offers, None, |f| f != '?'),
            Some((800, 600, vec!['X']))
        );
        assert_eq!(renegotiation(&[o('?', 8, 8, 32)], None, |f| f != '?'), None);
        assert_eq!(renegotiation::<char>(&[], None, |_| true), None);
    }

    proptest! {
        #[test]
        fn flipping_twice_is_the_identity(
            rows in 0usize..9, stride in 1usize..7, seed in any::<u64>()
        ) {
            let img: Vec<u8> = (0..rows * stride).map(|i| (seed >> (i % 57)) as u8 ^ i as u8).collect();
            let mut p = img.clone();
            flip_rows(&mut p, stride, rows);
            flip_rows(&mut p, stride, rows);
            prop_assert_eq!(p, img);
        }

        #[test]
        fn flipped_damage_stays_inside(
            y in 0u32..200, h in 0u32..200, height in 1u32..150
        ) {
            let mut d = [(0, y, 1, h)];
            flip_damage(&mut d, height);
            prop_assert!(d[0].1 + d[0].3 <= height);
        }
    }
}
