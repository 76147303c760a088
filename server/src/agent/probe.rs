//! `agent probe`: what deploy's probe finds out about the host, answered by the
//! installed binary in one process (the shell probe forks a dozen tools for the same),
//! as the same `key=value` lines, with `agent status` as `agent=<json>` at the end.

use std::{
    ffi::CStr,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use super::{layout::Layout, status};

/// The tools the probe looks for on PATH (as the shell probe does).
const TOOLS: &[&str] = &[
    "setsid",
    "nohup",
    "tmux",
    "screen",
    "sha256sum",
    "shasum",
    "docker",
    "curl",
    "wget",
    "gzip",
    "tar",
];

pub fn probe(layout: &Layout) -> bool {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push('\n');
    };
    line("uname", &uname());
    let home = std::env::var("HOME").unwrap_or_default();
    line("home", &home);
    line("dir", &layout.dir.to_string_lossy());
    line("shell", &std::env::var("SHELL").unwrap_or_default());
    for tool in TOOLS {
        if which(tool).is_some() {
            line("tool", tool);
        }
    }
    if xz_utils() {
        line("tool", "xz");
    }
    if systemd_user() {
        line("tool", "systemd-user");
    }
    let cargo = which("cargo")
        .into_iter()
        .chain([
            Path::new(&home).join(".cargo/bin/cargo"),
            layout.path("toolchain/cargo/bin/cargo"),
        ])
        .find(|c| is_executable(c));
    if let Some(cargo) = cargo {
        line("cargo", &cargo.to_string_lossy());
    }
    if let Some(libc) = libc_kind() {
        line("libc", libc);
    }
    let mut at = layout.dir.clone();
    while !at.is_dir() && at.pop() {}
    line("exists_at", &at.to_string_lossy());
    if writable(&at) {
        line("writable", "1");
    }
    if let Some(fs) = fs_type(&at) {
        line("fs", fs);
    }
    if let Some(free) = free_kb(&at) {
        line("free_kb", &free.to_string());
    }
    for unit in [
        "/etc/systemd/system/mlcremote.service",
        "/Library/LaunchDaemons/dev.mlcremote.server.plist",
    ] {
        if Path::new(unit).is_file() {
            line("system_service", unit);
        }
    }
    if let Ok(json) = serde_json::to_string(&status::status(layout)) {
        line("agent", &json);
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()).is_ok()
}

/// `uname -s -m`.
fn uname() -> String {
    // SAFETY: utsname is plain old data; uname fills it and NUL-terminates its fields.
    unsafe {
        let mut name: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut name) != 0 {
            return String::new();
        }
        let field = |f: &[libc::c_char]| CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        format!("{} {}", field(&name.sysname), field(&name.machine))
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// xz-utils' `xz` on PATH (BusyBox's has no `--robot` and cannot undo the x86 filter
/// deploy compresses with), as the shell probe asks.
fn xz_utils() -> bool {
    which("xz").is_some_and(|xz| succeeds(Command::new(xz).args(["--robot", "--version"])))
}

/// A systemd user manager this account can use: its socket exists and it answers.
fn systemd_user() -> bool {
    let socket = std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("systemd/private"));
    socket.is_some_and(|s| s.exists()) && succeeds(Command::new("systemctl").args(["--user", "show-environment"]))
}

/// Whether `command`, run with no input and its output dropped, succeeds.
fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `gnu` or `musl`, from the dynamic loader the system has (Linux).
fn libc_kind() -> Option<&'static str> {
    let has = |dir: &str, prefix: &str| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    };
    if has("/lib", "ld-musl-") {
        Some("musl")
    } else if ["/lib", "/lib64"].iter().any(|d| has(d, "ld-linux")) {
        Some("gnu")
    } else {
        None
    }
}

fn writable(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn free_kb(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs fills the struct for a valid NUL-terminated path.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut s) == 0).then(|| (s.f_bavail as u64).saturating_mul(s.f_frsize as u64) / 1024)
    }
}

/// The names `stat -f -c %T` gives the file systems that hold no files (Linux).
#[cfg(target_os = "linux")]
fn fs_type(path: &Path) -> Option<&'static str> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statfs fills the struct for a valid NUL-terminated path.
    let kind = unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut s) != 0 {
            return None;
        }
        s.f_type as i64
    };
    Some(match kind {
        0x9fa0 => "proc",
        0x6265_6572 => "sysfs",
        0x1cd1 => "devpts",
        0x0102_1994 => "tmpfs",
        0x6367_7270 => "cgroup2fs",
        0x0027_e0eb => "cgroupfs",
        0x6462_6720 => "debugfs",
        0x7363_6673 => "securityfs",
        _ => return None,
    })
}

#[cfg(not(target_os = "linux"))]
fn fs_type(_: &Path) -> Option<&'static str> {
    None
}
