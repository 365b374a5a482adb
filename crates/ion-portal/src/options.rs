//! Typed option dictionaries (`a{sv}`) of the backend methods. Unknown keys
//! are ignored, as the portal specification asks; a known key with the
//! wrong type is an error that zbus returns to the caller.

use zbus::zvariant::{DeserializeDict, OwnedValue, Type};

#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "dict")]
pub struct SelectDevicesOptions {
    pub types: Option<u32>,
    pub restore_data: Option<(String, u32, OwnedValue)>,
    pub persist_mode: Option<u32>,
}

#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "dict")]
pub struct SelectSourcesOptions {
    pub types: Option<u32>,
    pub multiple: Option<bool>,
    pub cursor_mode: Option<u32>,
    pub restore_data: Option<(String, u32, OwnedValue)>,
    pub persist_mode: Option<u32>,
}

#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "dict")]
pub struct NotifyOptions {
    pub finish: Option<bool>,
}
