//! `agent token`, `logs`, `uninstall` and `lock`: the host's side of the client's
//! `tunnel`, `logs`, `uninstall` and a build on the host, done by the installed binary
//! (contract version 2; the client falls back to its shell scripts only where no such
//! agent is installed).

use std::{
    fs,
    io::{Read, Seek, SeekFrom, Write},
    os::unix::fs::MetadataExt,
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use mlcremote_contract::{INSTALLED_FILES, INSTALLED_FOLDERS, INSTALLED_TREES, Uninstalled};

use super::{
    install::{fail, failed, finish, not_home, not_installed, not_locked, running_server, stop_server},
    layout::Layout,
    lock::{Lock, NotLocked},
    report::{Event, Failure, Step, emit},
    start,
};

/// `agent logs`' exit code when there is no log (the shell's "not installed").
const NO_LOG: u8 = 77;

/// How often a holder or a follower looks whether its reader is still there.
const TICK: Duration = Duration::from_millis(100);

/// `agent token`: the running server's token (it travels over SSH only, never argv);
/// with `tree`, also its answer for the root's listing (`GET /api/tree?path=`), where
/// that is small: a front end that shows the tree first needs no request for it.
pub fn token(layout: &Layout, tree: bool) -> ExitCode {
    match fs::read_to_string(layout.path("token")) {
        Ok(token) if !token.trim().is_empty() => {
            let token = token.trim().to_string();
            let tree = tree.then(|| root_listing(layout, &token)).flatten();
            finish(Event::Token { token, tree })
        }
        _ => finish(failed(not_installed(layout, Step::Token), None)),
    }
}

/// The most of a root listing that comes with the token (about 600 names): a bigger
/// one is asked for as usual, gzipped.
const ROOT_LISTING_MAX: u64 = 64 * 1024;

/// The running server's answer for the root's listing, as its JSON text; `None` when no
/// server of this install runs, it does not answer in time, or the answer is too big.
fn root_listing(layout: &Layout, token: &str) -> Option<String> {
    let server = running_server(layout)?;
    let body = crate::health::get_with(
        server.loopback(),
        server.port,
        "/api/tree?path=",
        Some(token),
        ROOT_LISTING_MAX,
        Duration::from_secs(5),
    )
    .ok()?;
    String::from_utf8(body).ok()
}

/// `agent logs`: the server log's last `lines` lines, raw; with `follow`, what is
/// written after, across a rotation, until the reader goes away.
pub fn logs(layout: &Layout, lines: usize, follow: bool) -> ExitCode {
    let path = layout.log();
    // The output is the log's bytes alone: no log is the exit code (the client says).
    let Ok(mut file) = fs::File::open(&path) else {
        let _ = writeln!(std::io::stderr(), "no log yet in {}", layout.path("logs").display());
        return ExitCode::from(NO_LOG);
    };
    let mut out = std::io::stdout().lock();
    let mut pos = match last_lines(&mut file, lines) {
        Ok((text, end)) => {
            if out.write_all(&text).and_then(|()| out.flush()).is_err() {
                return ExitCode::SUCCESS;
            }
            end
        }
        Err(_) => return ExitCode::FAILURE,
    };
    if !follow {
        return ExitCode::SUCCESS;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Rotated (a new file by the name) or truncated: start again at the top.
        let now = fs::metadata(&path).ok();
        let same = match (&now, file.metadata()) {
            (Some(n), Ok(f)) => n.ino() == f.ino() && n.dev() == f.dev() && n.len() >= pos,
            _ => true,
        };
        if !same {
            // What the old file got before it was rotated comes first.
            let _ = copy_new(&mut file, &mut pos, &mut buf, &mut out);
            match fs::File::open(&path) {
                Ok(f) => {
                    file = f;
                    pos = 0;
                }
                Err(_) => {
                    if gone(&out) {
                        return ExitCode::SUCCESS;
                    }
                    std::thread::sleep(TICK);
                    continue;
                }
            }
        }
        match copy_new(&mut file, &mut pos, &mut buf, &mut out) {
            Err(_) => return ExitCode::SUCCESS,
            Ok(0) => {
                if gone(&out) {
                    return ExitCode::SUCCESS;
                }
                std::thread::sleep(TICK);
            }
            Ok(_) => {}
        }
    }
}

/// Write what `file` has past `pos`; how many bytes.
fn copy_new(file: &mut fs::File, pos: &mut u64, buf: &mut [u8], out: &mut impl Write) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(*pos))?;
    let mut total = 0;
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        *pos += n as u64;
        total += n;
    }
    out.flush()?;
    Ok(total)
}

/// The last `lines` lines of `file` (at most its last 1 MiB), and where they end.
fn last_lines(file: &mut fs::File, lines: usize) -> std::io::Result<(Vec<u8>, u64)> {
    let len = file.metadata()?.len();
    let start = len.saturating_sub(1 << 20);
    file.seek(SeekFrom::Start(start))?;
    let mut text = Vec::new();
    file.take(len - start).read_to_end(&mut text)?;
    let end = start + text.len() as u64;
    // The cut: after the newline that starts the last `lines` lines.
    let body = text.strip_suffix(b"\n").unwrap_or(&text);
    let cut = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(lines.saturating_sub(1))
        .map_or(0, |(i, _)| i + 1);
    let cut = if lines == 0 { text.len() } else { cut };
    Ok((text[cut..].to_vec(), end))
}

/// Whether the reader of `out` has gone (the SSH channel closed): a pipe or socket
/// whose other end is closed reports an error or hang-up without anything written.
fn gone(out: &impl std::os::fd::AsRawFd) -> bool {
    let mut fd = libc::pollfd {
        fd: out.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&raw mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
}

/// `agent uninstall`: stop the server and remove what deploy created, by name; the dir
/// itself only if that leaves it empty. Refuses the home folder or one that holds it.
pub fn uninstall(layout: &Layout) -> ExitCode {
    let dir = &layout.dir;
    if !dir.is_dir() {
        return finish(Event::Uninstalled {
            result: Uninstalled::Absent,
        });
    }
    if let Err(f) = not_home(dir, Step::Uninstall) {
        return finish(failed(f, None));
    }
    if let Some(server) = running_server(layout) {
        stop_server(layout, &server);
    }
    // Only the session the server was started with: asking tmux or screen about a
    // session that never was leaves their socket folders behind.
    if let Some(method) = layout.install_info().and_then(|i| i.start_method()) {
        start::remove_session(layout, method);
    }
    let mut cannot = Vec::new();
    let mut remove = |path: &Path, tree: bool| {
        let done = if tree {
            fs::remove_dir_all(path)
        } else {
            fs::remove_file(path)
        };
        if let Err(e) = done
            && e.kind() != std::io::ErrorKind::NotFound
        {
            cannot.push(format!("{}: {e}", path.display()));
        }
    };
    for name in INSTALLED_FILES {
        remove(&layout.path(name), false);
    }
    for tree in INSTALLED_TREES {
        remove(&layout.path(tree), true);
    }
    let leftovers = |dir: &Path, keep: &dyn Fn(&str) -> bool| -> Vec<std::path::PathBuf> {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| keep(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect()
    };
    for path in leftovers(dir, &|n| {
        n.starts_with(".mlcremote.upload-") || n.starts_with(".mlcremote.part-") || n.starts_with("server.json.tmp.")
    }) {
        remove(&path, false);
    }
    for path in leftovers(&layout.path("build"), &|n| {
        n.starts_with("mlcremote-") && n.ends_with("-src")
    }) {
        remove(&path, true);
    }
    if !cannot.is_empty() {
        return finish(failed(
            fail(
                Failure::InstallFailed,
                Step::Uninstall,
                format!("cannot remove the files in {}: {}", dir.display(), cannot.join("; ")),
            ),
            None,
        ));
    }
    for folder in INSTALLED_FOLDERS {
        let _ = fs::remove_dir(layout.path(folder));
    }
    let result = if fs::remove_dir(dir).is_ok() {
        Uninstalled::Removed
    } else {
        let mut others: Vec<String> = leftovers(dir, &|_| true)
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        others.sort();
        others.truncate(5);
        Uninstalled::Kept { others }
    };
    finish(Event::Uninstalled { result })
}

/// `agent lock`: take the deploy lock without waiting (the client asks again), say so,
/// and hold it for as long as the client reads this command's output.
pub fn lock(layout: &Layout, owner: &str) -> ExitCode {
    let made = fs::create_dir_all(&layout.dir)
        .map_err(|e| {
            fail(
                Failure::InstallFailed,
                Step::Lock,
                format!("cannot create {}: {e}", layout.dir.display()),
            )
        })
        .and_then(|()| super::install::own_dir(&layout.dir));
    if let Err(f) = made {
        return finish(failed(f, None));
    }
    let _held = match Lock::take_within(&layout.dir, owner, None, Duration::ZERO) {
        Ok(lock) => lock,
        Err(NotLocked::Busy { holder }) => return finish(Event::Busy { holder }),
        Err(why) => return finish(failed(not_locked(layout, why), None)),
    };
    if !emit(&Event::Locked {
        holder: std::process::id(),
    }) {
        return ExitCode::SUCCESS;
    }
    // Until the channel closes (or, on a link gone silent, the client stops reading and
    // sshd's buffers fill: the write fails, or blocks until sshd gives up on the client).
    let deadline = Instant::now() + super::lock::HOLD_AT_MOST;
    let out = std::io::stdout();
    while !gone(&out) && Instant::now() < deadline {
        std::thread::sleep(TICK);
        if writeln!(out.lock(), ".").and_then(|()| out.lock().flush()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_are_cut_at_line_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "a\nb\nc\n").unwrap();
        let mut file = fs::File::open(&path).unwrap();
        assert_eq!(last_lines(&mut file, 2).unwrap(), (b"b\nc\n".to_vec(), 6));
        assert_eq!(last_lines(&mut file, 9).unwrap().0, b"a\nb\nc\n");
        assert_eq!(last_lines(&mut file, 0).unwrap().0, b"");
        fs::write(&path, "a\nb\npartial").unwrap();
        let mut file = fs::File::open(&path).unwrap();
        assert_eq!(last_lines(&mut file, 1).unwrap().0, b"partial");
        assert_eq!(last_lines(&mut file, 2).unwrap().0, b"b\npartial");
    }
}
