//! From the device the compositor names (a `dev_t`, from linux-dmabuf's
//! feedback) to the DRM nodes a client can allocate on.
//!
//! libdrm's `drmGetDeviceFromDevId` does this; the sysfs walk is written
//! here so the daemon does not link libdrm for one lookup.

use std::path::PathBuf;

/// The DRM nodes of the device `dev` is a node of, in the order to try
/// them: `dev` itself first, then the device's render node, then its
/// primary node. Where GBM cannot allocate on a render node (a virtio GPU
/// without 3D, whose buffers are dumb buffers only the primary node may
/// make: docs/research/dmabuf-in-vm.md) the primary node still can.
pub fn nodes(dev: u64) -> Vec<PathBuf> {
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let sys = PathBuf::from(format!("/sys/dev/char/{major}:{minor}"));
    let own = std::fs::read_link(&sys)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let siblings: Vec<String> = std::fs::read_dir(sys.join("device/drm"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ordered(own.as_deref(), &siblings)
        .into_iter()
        .map(|name| PathBuf::from("/dev/dri").join(name))
        .collect()
}

/// The order of [`nodes`]: `own` first, then render nodes, then primary
/// ones; anything else in the directory (connectors) is not a node.
pub fn ordered(own: Option<&str>, names: &[String]) -> Vec<String> {
    let is_node = |n: &str| n.starts_with("renderD") || card_number(n).is_some();
    let mut out: Vec<String> = own
        .filter(|n| is_node(n))
        .map(str::to_owned)
        .into_iter()
        .collect();
    let mut rest: Vec<&String> = names
        .iter()
        .filter(|n| is_node(n) && Some(n.as_str()) != own)
        .collect();
    rest.sort_by_key(|n| (!n.starts_with("renderD"), n.as_str()));
    out.extend(rest.into_iter().cloned());
    out
}

/// `card0` → 0; `card0-Virtual-1` (a connector) is no node.
fn card_number(name: &str) -> Option<u32> {
    name.strip_prefix("card")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_node_first_then_render_then_primary() {
        let names: Vec<String> = ["card0", "card0-Virtual-1", "renderD128", "version"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(ordered(Some("renderD128"), &names), ["renderD128", "card0"]);
        assert_eq!(ordered(Some("card0"), &names), ["card0", "renderD128"]);
        assert_eq!(ordered(None, &names), ["renderD128", "card0"]);
        assert!(ordered(Some("renderD128"), &[]).len() == 1);
        assert!(ordered(None, &[]).is_empty());
    }
}
