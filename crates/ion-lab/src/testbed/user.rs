//! The unprivileged user that runs the compositor when we are root (sway
//! refuses to run as root; labwc does not, but runs the same way, so both
//! stacks look like a user's session).

use std::ffi::{CStr, CString};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// The system user the compositor runs as when the testbed is started by
/// root.
pub const LAB_USER: &str = "ionchannel-lab";

/// A user account: name, uid, primary gid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and has no requirements.
    unsafe { libc::geteuid() == 0 }
}

/// Looks a user up by name in the password database (NSS included).
pub fn lookup_user(name: &str) -> Result<Option<LabUser>> {
    let cname = CString::new(name).context("user name with a NUL byte")?;
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        // SAFETY: passwd is plain data; zero is a valid initial value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buf` outlives the
        // use of the strings it backs.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1024 * 1024 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            bail!(
                "looking up user {name}: {}",
                std::io::Error::from_raw_os_error(rc)
            );
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: on success pw_name points to a NUL-terminated string in buf.
        let found = unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned();
        return Ok(Some(LabUser {
            name: found,
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        }));
    }
}

/// The user the compositor must run as: `None` when we are not root (it
/// runs as us), the `ionchannel-lab` user when we are. Fails with
/// instructions when that user is missing.
pub fn compositor_user() -> Result<Option<LabUser>> {
    if !is_root() {
        return Ok(None);
    }
    match lookup_user(LAB_USER)? {
        Some(user) => Ok(Some(user)),
        None => bail!(
            "running as root, and the compositor must not (sway refuses to): it runs as the \
             unprivileged system user `{LAB_USER}`, which does not exist. Create it by \
             running scripts/setup.sh (or `ionchannel-lab setup`, or call \
             ion_lab::testbed::ensure_lab_user()), i.e. \
             `useradd --system --create-home --shell /usr/sbin/nologin {LAB_USER}`"
        ),
    }
}

/// Creates the `ionchannel-lab` system user when we are root and it does not
/// exist yet. Idempotent; does nothing when not root (the compositor then
/// runs as the current user and no extra user is needed).
pub fn ensure_lab_user() -> Result<()> {
    static LOCK: Mutex<()> = Mutex::new(());
    if !is_root() {
        return Ok(());
    }
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if lookup_user(LAB_USER)?.is_some() {
        return Ok(());
    }
    let output = Command::new("useradd")
        .args(["--system", "--create-home", "--shell", "/usr/sbin/nologin"])
        .arg(LAB_USER)
        .output()
        .context("running useradd")?;
    // 9: the name is already in use (another process created it meanwhile).
    if !output.status.success() && output.status.code() != Some(9) {
        bail!(
            "useradd {LAB_USER} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    if lookup_user(LAB_USER)?.is_none() {
        bail!("useradd succeeded but user {LAB_USER} still cannot be found");
    }
    Ok(())
}
