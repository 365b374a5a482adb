//! The virtual keyboard's keymap as the compositor reads it: a sealed memfd
//! and a size that every compositor accepts.
//!
//! `zwp_virtual_keyboard_v1.keymap` does not say whether `size` counts a
//! terminating NUL, and compositors read it two ways:
//! - **wlroots** maps `size` bytes and parses them as a C string
//!   (`xkb_keymap_new_from_string`): the text must be NUL-terminated where
//!   the mapping can reach it;
//! - **smithay** (cosmic-comp, niri, every smithay compositor) parses
//!   exactly `size` bytes as a buffer (`xkb_keymap_new_from_buffer`), and
//!   libxkbcommon takes a NUL inside that buffer for a token: "unrecognized
//!   token", no keymap, and the first `key` is a protocol error.
//!
//! So `size` is the text's length *without* the NUL, and the NUL follows
//! right after it in the file. A mapping of `size` bytes covers whole pages,
//! so the NUL is inside it unless the text ends exactly on a page boundary;
//! then the text gets one more newline (whitespace to the XKB parser).

use std::io::{Seek, Write};
use std::os::fd::OwnedFd;

/// A keymap ready to send: the memfd and the size to announce.
#[derive(Debug)]
pub struct KeymapFile {
    pub fd: OwnedFd,
    pub size: u32,
}

/// Writes `text` into a sealed memfd, NUL-terminated, and gives the size
/// both ways of reading it accept (see the module's documentation).
pub fn keymap_file(text: &str) -> std::io::Result<KeymapFile> {
    let page = rustix::param::page_size();
    let mut bytes = Vec::with_capacity(text.len() + 2);
    bytes.extend_from_slice(text.as_bytes());
    if bytes.len() % page == 0 {
        bytes.push(b'\n');
    }
    let size = u32::try_from(bytes.len())
        .map_err(|_| std::io::Error::other("keymap larger than 4 GiB"))?;
    bytes.push(0);
    Ok(KeymapFile {
        fd: sealed_memfd("ionchannel-keymap", &bytes)?,
        size,
    })
}

/// `bytes` in a memfd sealed against any change (so a reader may map it
/// without fearing that we change it under it), rewound (a reader that
/// reads instead of mapping starts at the beginning).
pub fn sealed_memfd(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(
        name,
        rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    rustix::fs::fcntl_add_seals(
        &file,
        rustix::fs::SealFlags::SHRINK
            | rustix::fs::SealFlags::GROW
            | rustix::fs::SealFlags::WRITE
            | rustix::fs::SealFlags::SEAL,
    )?;
    file.rewind()?;
    Ok(file.into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keymap::{Keymap, KeymapNames};
    use xkbcommon::xkb;

    /// What smithay does with the request: `size` bytes as a buffer.
    fn read_like_smithay(k: KeymapFile) -> bool {
        let ctx = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        // SAFETY: a sealed memfd of at least `size` bytes, ours.
        let keymap = unsafe {
            xkb::Keymap::new_from_fd(
                &ctx,
                k.fd,
                k.size as usize,
                xkb::KEYMAP_FORMAT_TEXT_V1,
                xkb::KEYMAP_COMPILE_NO_FLAGS,
            )
        };
        matches!(keymap, Ok(Some(_)))
    }

    /// What wlroots does: maps `size` bytes and reads a C string from the
    /// mapping. Only the mapped pages may be read; a NUL beyond them would
    /// crash the compositor, so that is a failure here.
    fn read_like_wlroots(k: &KeymapFile) -> Result<(), String> {
        let page = rustix::param::page_size();
        let size = k.size as usize;
        // SAFETY: a fresh private read-only mapping of our own memfd,
        // unmapped below; nothing else touches it.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                size,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::PRIVATE,
                &k.fd,
                0,
            )
        }
        .map_err(|e| e.to_string())?;
        let mapped = size.div_ceil(page) * page;
        // SAFETY: the kernel mapped whole pages: `mapped` bytes are readable
        // (past the file's end they read as zeros).
        let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), mapped) };
        let result = match bytes.iter().position(|b| *b == 0) {
            None => Err("no NUL within the mapping".to_owned()),
            Some(end) => {
                let text = std::str::from_utf8(&bytes[..end]).map_err(|e| e.to_string())?;
                let ctx = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
                xkb::Keymap::new_from_string(
                    &ctx,
                    text.to_owned(),
                    xkb::KEYMAP_FORMAT_TEXT_V1,
                    xkb::KEYMAP_COMPILE_NO_FLAGS,
                )
                .map(|_| ())
                .ok_or_else(|| "libxkbcommon refused the string".to_owned())
            }
        };
        // SAFETY: the mapping made above.
        unsafe { rustix::mm::munmap(ptr, size) }.map_err(|e| e.to_string())?;
        result
    }

    fn both_ways(text: &str) {
        let k = keymap_file(text).unwrap();
        read_like_wlroots(&k).unwrap();
        assert!(read_like_smithay(k), "smithay's way refused it");
    }

    fn us() -> Keymap {
        Keymap::new(&KeymapNames {
            layout: "us".into(),
            ..Default::default()
        })
        .expect("us keymap (xkb-data installed)")
    }

    #[test]
    fn the_keymap_parses_the_smithay_way_and_the_wlroots_way() {
        let mut km = us();
        both_ways(km.text());
        // Extended for keysyms the layout lacks (é, €, ☺).
        for keysym in [0xe9, 0x20ac, 0x100_263a] {
            km.extend(keysym, &[]).unwrap();
            both_ways(km.text());
        }
    }

    #[test]
    fn the_old_way_is_what_smithay_refused() {
        // The NUL counted in `size`: libxkbcommon reads it as a token.
        let km = us();
        let mut k = keymap_file(km.text()).unwrap();
        k.size += 1;
        assert!(!read_like_smithay(k));
    }

    #[test]
    fn a_text_ending_on_a_page_boundary_keeps_its_nul_in_reach() {
        let page = rustix::param::page_size();
        let km = us();
        let mut text = km.text().to_owned();
        let pad = page - text.len() % page;
        text.extend(std::iter::repeat_n(' ', pad));
        assert_eq!(text.len() % page, 0);
        let k = keymap_file(&text).unwrap();
        assert_eq!(k.size as usize, text.len() + 1, "one newline added");
        both_ways(&text);
    }

    #[test]
    fn the_file_is_sealed_and_nul_terminated() {
        use std::io::Read;
        let k = keymap_file("xkb_keymap { };").unwrap();
        assert_eq!(k.size, 15);
        let mut file = std::fs::File::from(k.fd);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"xkb_keymap { };\0");
        assert!(file.write_all(b"x").is_err(), "sealed against writes");
    }
}
