//! Restore data on the bus: our `(suv)` payload as an `a{sv}` the frontend
//! can keep in its permission store, and back. Anything that does not have
//! this shape reads as None (restore data from another backend, or made by
//! hand), which asks the user again.
//!
//! The payload: `grant s`, `outputs a(ss)`, `windows as`, `devices u`,
//! `clipboard b`. Restore data made before the clipboard has no
//! `clipboard` entry and reads as false (as its grant does).

use std::collections::HashMap;

use ion_core::grants::{OutputName, RestoreData, WindowName};
use ion_core::DeviceTypes;
use zbus::zvariant::{OwnedValue, Value};

pub fn to_value(data: &RestoreData) -> OwnedValue {
    let outputs: Vec<(String, String)> = data
        .outputs
        .iter()
        .map(|o| (o.name.clone(), o.description.clone()))
        .collect();
    let windows: Vec<String> = data.windows.iter().map(|w| w.app_id.clone()).collect();
    let mut map: HashMap<String, Value<'static>> = HashMap::new();
    map.insert("grant".into(), Value::from(data.grant.clone()));
    map.insert("outputs".into(), Value::from(outputs));
    map.insert("windows".into(), Value::from(windows));
    map.insert("devices".into(), Value::from(data.devices.bits()));
    map.insert("clipboard".into(), Value::from(data.clipboard));
    // A map of owned strings and arrays holds no file descriptor, the one
    // thing that can make this conversion fail.
    OwnedValue::try_from(Value::from(map)).unwrap_or_else(|_| OwnedValue::from(0u32))
}

pub fn from_value(value: &OwnedValue) -> Option<RestoreData> {
    let mut v: &Value<'_> = value;
    // The frontend may hand the payload back wrapped in another variant.
    while let Value::Value(inner) = v {
        v = inner;
    }
    let Value::Dict(dict) = v else { return None };
    let map: HashMap<String, OwnedValue> = dict.try_clone().ok()?.try_into().ok()?;
    let grant: String = map.get("grant")?.try_clone().ok()?.try_into().ok()?;
    let outputs: Vec<(String, String)> = map.get("outputs")?.try_clone().ok()?.try_into().ok()?;
    let windows: Vec<String> = map.get("windows")?.try_clone().ok()?.try_into().ok()?;
    let devices: u32 = map.get("devices")?.try_clone().ok()?.try_into().ok()?;
    let clipboard: bool = match map.get("clipboard") {
        None => false,
        Some(v) => v.try_clone().ok()?.try_into().ok()?,
    };
    Some(RestoreData {
        grant,
        outputs: outputs
            .into_iter()
            .map(|(name, description)| OutputName { name, description })
            .collect(),
        windows: windows
            .into_iter()
            .map(|app_id| WindowName { app_id })
            .collect(),
        devices: DeviceTypes::from_bits(devices).ok()?,
        clipboard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_data_round_trips() {
        let data = RestoreData {
            grant: "abc".into(),
            outputs: vec![OutputName {
                name: "HEADLESS-1".into(),
                description: "Headless".into(),
            }],
            windows: vec![WindowName {
                app_id: "org.x".into(),
            }],
            devices: DeviceTypes::from_bits(3).unwrap(),
            clipboard: true,
        };
        let v = to_value(&data);
        assert_eq!(from_value(&v), Some(data.clone()));
        let without = RestoreData {
            clipboard: false,
            ..data.clone()
        };
        assert_eq!(from_value(&to_value(&without)), Some(without));
        // Wrapped once more, as a variant inside the variant.
        let wrapped = OwnedValue::try_from(Value::Value(Box::new(Value::from(v)))).unwrap();
        assert_eq!(from_value(&wrapped), Some(data));
    }

    #[test]
    fn restore_data_from_before_the_clipboard_reads_as_without_it() {
        let mut map: HashMap<String, Value<'static>> = HashMap::new();
        map.insert("grant".into(), Value::from("abc"));
        map.insert(
            "outputs".into(),
            Value::from(Vec::<(String, String)>::new()),
        );
        map.insert("windows".into(), Value::from(Vec::<String>::new()));
        map.insert("devices".into(), Value::from(3u32));
        let old = OwnedValue::try_from(Value::from(map.clone())).unwrap();
        let data = from_value(&old).unwrap();
        assert!(!data.clipboard);
        assert_eq!(data.devices, DeviceTypes::from_bits(3).unwrap());
        // A clipboard entry of another type is not our shape.
        map.insert("clipboard".into(), Value::from(1u32));
        let odd = OwnedValue::try_from(Value::from(map)).unwrap();
        assert_eq!(from_value(&odd), None);
    }

    #[test]
    fn other_shapes_read_as_none() {
        assert_eq!(from_value(&OwnedValue::from(7u32)), None);
        let mut map: HashMap<String, Value<'static>> = HashMap::new();
        map.insert("grant".into(), Value::from(1u32));
        let v = OwnedValue::try_from(Value::from(map)).unwrap();
        assert_eq!(from_value(&v), None);
    }
}
