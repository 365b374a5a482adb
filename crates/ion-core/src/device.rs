//! Device types of the RemoteDesktop portal (`types` of SelectDevices,
//! `AvailableDeviceTypes`, `devices` of Start).

use std::fmt;

/// One device type, with the portal's bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceType {
    Keyboard = 1,
    Pointer = 2,
    Touchscreen = 4,
}

impl DeviceType {
    pub const ALL: [DeviceType; 3] = [Self::Keyboard, Self::Pointer, Self::Touchscreen];

    pub fn name(self) -> &'static str {
        match self {
            Self::Keyboard => "keyboard",
            Self::Pointer => "pointer",
            Self::Touchscreen => "touchscreen",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// A set of device types, as the portal's bitmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeviceTypes(u32);

/// A bitmask with bits the portal does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown device type bits {0:#x} (known: 1 keyboard, 2 pointer, 4 touchscreen)")]
pub struct UnknownDeviceBits(pub u32);

impl DeviceTypes {
    pub const EMPTY: Self = Self(0);
    pub const ALL: Self = Self(7);

    /// Parses a bitmask from D-Bus, refusing undefined bits.
    pub fn from_bits(bits: u32) -> Result<Self, UnknownDeviceBits> {
        if bits & !Self::ALL.0 != 0 {
            return Err(UnknownDeviceBits(bits & !Self::ALL.0));
        }
        Ok(Self(bits))
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn contains(self, t: DeviceType) -> bool {
        self.0 & t as u32 != 0
    }

    pub fn insert(&mut self, t: DeviceType) {
        self.0 |= t as u32;
    }

    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = DeviceType> {
        DeviceType::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

impl FromIterator<DeviceType> for DeviceTypes {
    fn from_iter<I: IntoIterator<Item = DeviceType>>(iter: I) -> Self {
        let mut set = Self::EMPTY;
        for t in iter {
            set.insert(t);
        }
        set
    }
}

impl fmt::Display for DeviceTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<_> = self.iter().map(DeviceType::name).collect();
        f.write_str(&names.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_roundtrip_and_refuse_unknown() {
        assert_eq!(DeviceTypes::from_bits(7).map(|d| d.bits()), Ok(7));
        assert_eq!(DeviceTypes::from_bits(8), Err(UnknownDeviceBits(8)));
        assert_eq!(DeviceTypes::from_bits(0x13), Err(UnknownDeviceBits(0x10)));
        let kp: DeviceTypes = [DeviceType::Keyboard, DeviceType::Pointer]
            .into_iter()
            .collect();
        assert_eq!(kp.bits(), 3);
        assert_eq!(kp.to_string(), "keyboard+pointer");
        assert!(!kp.contains(DeviceType::Touchscreen));
    }
}
