//! Who runs us: what `%u`, `%d`, `%i`, `%L`, `%l` and `Match localuser` see.

use std::path::PathBuf;

/// Who is running us.
#[derive(Clone, Debug)]
pub struct Local {
    pub user: String,
    pub home: PathBuf,
    pub uid: String,
    pub hostname: String,
}

impl Local {
    pub fn current() -> Local {
        Local {
            user: local_user(),
            home: std::env::home_dir().unwrap_or_default(),
            uid: local_uid(),
            hostname: local_hostname(),
        }
    }
}

/// The user name `ssh` would log in as when nothing says otherwise.
pub fn local_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "root".into())
}

#[cfg(unix)]
pub(super) fn local_uid() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }.to_string()
}

#[cfg(not(unix))]
pub(super) fn local_uid() -> String {
    "0".into()
}

pub(super) fn local_hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
        // or we cut at the length.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    std::env::var("COMPUTERNAME").unwrap_or_else(|_| "localhost".into())
}
