//! What a session's EIS connection offers: the devices Start granted, and
//! the absolute pointer's regions — one per stream when the session has
//! streams, else one per output in the global logical layout (as GNOME
//! does), following the outputs as they change.

use ion_core::{DeviceType, DeviceTypes};
use ion_wayland::SessionId;
use reis::enumflags2::BitFlags;
use reis::request::DeviceCapability;

/// An absolute pointer region: a stream (the rectangle Start announced for
/// it, in logical pixels of the global layout, and its `mapping_id`), or an
/// output of the layout for a session without streams.
#[derive(Debug, Clone, PartialEq)]
pub struct EisRegion {
    /// The stream positions in the region are relative to; None: the
    /// region is an output and positions stay global.
    pub stream_id: Option<u32>,
    pub mapping_id: Option<String>,
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    /// The output's scale: the region's physical scale.
    pub scale: f32,
}

impl EisRegion {
    /// Whether the global logical position lies in the region (the right
    /// and bottom edges excluded, as for Notify*'s stream coordinates).
    /// NaN and infinities are in no region.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let (left, top) = (f64::from(self.x), f64::from(self.y));
        (left..left + f64::from(self.width)).contains(&x)
            && (top..top + f64::from(self.height)).contains(&y)
    }

    /// EIS regions have unsigned offsets: a region left of or above the
    /// layout's origin cannot be described.
    pub fn describable(&self) -> bool {
        self.x >= 0 && self.y >= 0 && self.width > 0 && self.height > 0
    }
}

/// One region per output, for a session without streams. Outputs left of
/// or above the origin cannot be described (EIS offsets are unsigned).
pub fn layout_regions(outputs: &[ion_wayland::OutputInfo]) -> Vec<EisRegion> {
    let mut regions: Vec<EisRegion> = outputs
        .iter()
        .map(|o| EisRegion {
            stream_id: None,
            mapping_id: None,
            x: o.logical.x,
            y: o.logical.y,
            width: o.logical.width,
            height: o.logical.height,
            scale: o.scale as f32,
        })
        .filter(EisRegion::describable)
        .collect();
    regions.sort_by_key(|r| (r.y, r.x));
    regions
}

/// The session a connection belongs to and what it offers.
#[derive(Debug, Clone)]
pub struct EisOffer {
    /// The session's object path and its id (a path can be reused by a
    /// later session; the id cannot).
    pub path: String,
    pub session: SessionId,
    /// This connection's id: the session table's link names it, so a stale
    /// connection can never inject into the session.
    pub connection: u64,
    pub app_id: String,
    pub devices: DeviceTypes,
    pub regions: Vec<EisRegion>,
}

impl EisOffer {
    /// The seat's capabilities: a pointer grant gives relative motion,
    /// buttons and scrolling, and absolute motion when there are regions
    /// to be absolute in; a keyboard grant gives a keyboard; a touchscreen
    /// grant (there is one only where the daemon can touch: uinput) gives
    /// a touchscreen when there are regions to touch.
    pub fn capabilities(&self) -> BitFlags<DeviceCapability> {
        let mut caps = BitFlags::empty();
        let regions = self.regions.iter().any(EisRegion::describable);
        if self.devices.contains(DeviceType::Pointer) {
            caps |= DeviceCapability::Pointer | DeviceCapability::Button | DeviceCapability::Scroll;
            if regions {
                caps |= DeviceCapability::PointerAbsolute;
            }
        }
        if self.devices.contains(DeviceType::Keyboard) {
            caps |= DeviceCapability::Keyboard;
        }
        if self.devices.contains(DeviceType::Touchscreen) && regions {
            caps |= DeviceCapability::Touch;
        }
        caps
    }

    /// The region holding a global logical position.
    pub fn region_at(&self, x: f64, y: f64) -> Option<&EisRegion> {
        self.regions
            .iter()
            .filter(|r| r.describable())
            .find(|r| r.contains(x, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(stream_id: u32, x: i32) -> EisRegion {
        EisRegion {
            stream_id: Some(stream_id),
            mapping_id: Some(format!("m{stream_id}")),
            x,
            y: 0,
            width: 100,
            height: 50,
            scale: 1.0,
        }
    }

    fn offer(devices: u32, regions: Vec<EisRegion>) -> EisOffer {
        EisOffer {
            path: "/s".into(),
            session: 1,
            connection: 1,
            app_id: String::new(),
            devices: DeviceTypes::from_bits(devices).unwrap_or_default(),
            regions,
        }
    }

    #[test]
    fn capabilities_follow_the_grant_and_the_streams() {
        use DeviceCapability::*;
        assert_eq!(offer(1, vec![]).capabilities(), Keyboard);
        assert_eq!(offer(2, vec![]).capabilities(), Pointer | Button | Scroll);
        assert_eq!(
            offer(3, vec![region(40, 0)]).capabilities(),
            Pointer | Button | Scroll | PointerAbsolute | Keyboard
        );
        // A region at negative coordinates cannot be described.
        assert_eq!(
            offer(2, vec![region(40, -100)]).capabilities(),
            Pointer | Button | Scroll
        );
        assert_eq!(
            offer(4, vec![region(40, 0)]).capabilities(),
            BitFlags::from(Touch),
            "a touchscreen grant touches in the regions"
        );
        assert_eq!(
            offer(7, vec![region(40, 0)]).capabilities(),
            Pointer | Button | Scroll | PointerAbsolute | Keyboard | Touch
        );
        // Touch is absolute: nowhere to touch, no touchscreen.
        assert!(!offer(7, vec![]).capabilities().contains(Touch));
        assert!(!offer(4, vec![region(40, -100)])
            .capabilities()
            .contains(Touch));
    }

    #[test]
    fn positions_find_their_region_and_edges_are_outside() {
        let o = offer(2, vec![region(40, 0), region(41, 100)]);
        assert_eq!(o.region_at(0.0, 0.0).and_then(|r| r.stream_id), Some(40));
        assert_eq!(o.region_at(99.5, 49.9).and_then(|r| r.stream_id), Some(40));
        assert_eq!(o.region_at(100.0, 10.0).and_then(|r| r.stream_id), Some(41));
        for (x, y) in [
            (200.0, 0.0),
            (0.0, 50.0),
            (-0.1, 0.0),
            (f64::NAN, 1.0),
            (f64::INFINITY, 1.0),
        ] {
            assert!(o.region_at(x, y).is_none(), "({x}, {y})");
        }
    }
}
