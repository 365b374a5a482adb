//! The EIS keyboard's keymap: the virtual keyboard's XKB text in a sealed
//! memfd, as `ei_keyboard.keymap` wants it (clients map it MAP_PRIVATE).

use std::io::{Seek, Write};
use std::os::fd::OwnedFd;

/// A keymap ready to send: the fd and its size, the terminating NUL
/// included (libxkbcommon's convention, which libei clients follow).
#[derive(Debug)]
pub struct KeymapFd {
    pub fd: OwnedFd,
    pub size: u32,
}

pub fn keymap_fd(text: &str) -> std::io::Result<KeymapFd> {
    let fd = rustix::fs::memfd_create(
        "ionchannel-eis-keymap",
        rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(text.as_bytes())?;
    file.write_all(&[0])?;
    let size = u32::try_from(text.len() + 1)
        .map_err(|_| std::io::Error::other("keymap larger than 4 GiB"))?;
    // Sealed: a client must not be able to change what others may map.
    rustix::fs::fcntl_add_seals(
        &file,
        rustix::fs::SealFlags::SHRINK
            | rustix::fs::SealFlags::GROW
            | rustix::fs::SealFlags::WRITE
            | rustix::fs::SealFlags::SEAL,
    )?;
    // The offset is shared with the client: one that reads instead of
    // mapping starts at the beginning.
    file.rewind()?;
    Ok(KeymapFd {
        fd: file.into(),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
