//! The EIS keyboard's keymap: the virtual keyboard's XKB text in a sealed
//! memfd, as `ei_keyboard.keymap` wants it (clients map it MAP_PRIVATE).

use std::os::fd::OwnedFd;

/// A keymap ready to send: the fd and its size, the terminating NUL
/// included (libxkbcommon's wl_keyboard convention, which libei clients
/// follow; the virtual keyboard's differs, see ion_wayland::keymap_file).
#[derive(Debug)]
pub struct KeymapFd {
    pub fd: OwnedFd,
    pub size: u32,
}

pub fn keymap_fd(text: &str) -> std::io::Result<KeymapFd> {
    let size = u32::try_from(text.len() + 1)
        .map_err(|_| std::io::Error::other("keymap larger than 4 GiB"))?;
    let bytes = [text.as_bytes(), &[0]].concat();
    Ok(KeymapFd {
        // Sealed: a client must not be able to change what others may map.
        fd: ion_wayland::keymap_file::sealed_memfd("ionchannel-eis-keymap", &bytes)?,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn the_keymap_is_sealed_and_nul_terminated() {
        let k = keymap_fd("xkb_keymap { };").unwrap();
        assert_eq!(k.size, 16);
        let mut file = std::fs::File::from(k.fd);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"xkb_keymap { };\0");
        assert!(file.write_all(b"x").is_err(), "sealed against writes");
    }
}
