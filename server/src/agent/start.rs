//! How the server outlives the SSH session (SPEC §6 step 7): a `systemd --user` unit,
//! `setsid` (the agent daemonizes `run.sh` itself), `nohup`, or a detached `tmux` or
//! `screen` session.

use std::{
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
};

use super::layout::{Layout, sh_quote};

pub use mlcremote_contract::StartMethod as Method;

/// `--start-methods systemd,tmux`: one name.
pub fn parse_method(name: &str) -> Result<Method, String> {
    Method::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        format!("not a start method: {name} (one of {})", names.join(", "))
    })
}

/// A server started one way, to watch while it comes up.
pub enum Started {
    /// Our own child (setsid, nohup): we can tell exactly when it exits.
    Child(Child),
    /// Run by tmux, screen or systemd: ask them.
    Session(Method),
}

impl Started {
    /// Still running? (`None`: cannot tell yet, as tmux and screen list a new session
    /// a moment after they return.)
    pub fn running(&mut self, layout: &Layout) -> Option<bool> {
        match self {
            Started::Child(child) => Some(matches!(child.try_wait(), Ok(None))),
            Started::Session(Method::Tmux) => {
                quietly("tmux", &["has-session", "-t", &layout.session_name()]).then_some(true)
            }
            Started::Session(Method::Screen) => {
                let listed = Command::new("screen")
                    .arg("-ls")
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let name = format!(".{}\t", layout.session_name());
                listed.contains(&name).then_some(true)
            }
            Started::Session(_) => Some(quietly(
                "systemctl",
                &["--user", "is-active", "--quiet", &layout.session_name()],
            )),
        }
    }
}

/// Start `run.sh` with the first of `methods` that works; which one, and how to watch it.
pub fn start(layout: &Layout, methods: &[Method]) -> Option<(Method, Started)> {
    methods.iter().find_map(|&m| start_one(layout, m).map(|s| (m, s)))
}

fn start_one(layout: &Layout, method: Method) -> Option<Started> {
    let run_sh = layout.run_sh();
    let name = layout.session_name();
    match method {
        Method::Setsid | Method::Nohup => {
            let mut command = Command::new(&run_sh);
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            let setsid = method == Method::Setsid;
            // SAFETY: between fork and exec only async-signal-safe calls (setsid, signal).
            unsafe {
                command.pre_exec(move || {
                    if setsid {
                        libc::setsid();
                    } else {
                        libc::signal(libc::SIGHUP, libc::SIG_IGN);
                    }
                    Ok(())
                });
            }
            command.spawn().ok().map(Started::Child)
        }
        Method::Tmux => {
            quietly("tmux", &["kill-session", "-t", &name]);
            let command = format!("exec {}", sh_quote(&run_sh.to_string_lossy()));
            quietly("tmux", &["new-session", "-d", "-s", &name, &command]).then_some(Started::Session(method))
        }
        Method::Screen => {
            quietly("screen", &["-dmS", &name, &run_sh.to_string_lossy()]).then_some(Started::Session(method))
        }
        Method::Systemd => {
            if !quietly("systemctl", &["--user", "show-environment"]) {
                return None;
            }
            let units = units()?;
            std::fs::create_dir_all(&units).ok()?;
            let unit = format!(
                "[Unit]\nDescription=mlcremote server ({dir})\n\n[Service]\nExecStart={exec}\nRestart=on-failure\n\n[Install]\nWantedBy=default.target\n",
                dir = layout.dir.display(),
                exec = systemd_quote(&run_sh.to_string_lossy()),
            );
            std::fs::write(units.join(format!("{name}.service")), unit).ok()?;
            let ok = quietly("systemctl", &["--user", "daemon-reload"])
                && quietly("systemctl", &["--user", "enable", &name])
                && quietly("systemctl", &["--user", "restart", &name]);
            if ok {
                let user = std::env::var("USER").unwrap_or_default();
                quietly("loginctl", &["enable-linger", &user]);
            }
            ok.then_some(Started::Session(method))
        }
    }
}

/// Where systemd looks for this account's units.
fn units() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(
        std::env::var_os("XDG_CONFIG_HOME")
            .map_or_else(|| std::path::PathBuf::from(&home).join(".config"), Into::into)
            .join("systemd/user"),
    )
}

/// Stop the start method's unit or session for good: the unit is disabled and removed.
pub fn remove_session(layout: &Layout, method: Method) {
    stop_session(layout, method);
    if method == Method::Systemd
        && let Some(unit) = units().map(|u| u.join(format!("{}.service", layout.session_name())))
        && unit.is_file()
    {
        quietly("systemctl", &["--user", "disable", &layout.session_name()]);
        let _ = std::fs::remove_file(unit);
        quietly("systemctl", &["--user", "daemon-reload"]);
    }
}

/// Stop what a start method keeps around (the unit, the session), if it is running.
pub fn stop_session(layout: &Layout, method: Method) {
    let name = layout.session_name();
    match method {
        Method::Systemd => {
            quietly("systemctl", &["--user", "stop", &name]);
        }
        Method::Tmux => {
            quietly("tmux", &["kill-session", "-t", &name]);
        }
        Method::Screen => {
            quietly("screen", &["-S", &name, "-X", "quit"]);
        }
        Method::Setsid | Method::Nohup => {}
    }
}

/// A path in a systemd `ExecStart=`: quoted, with `%` and `\` escaped.
fn systemd_quote(path: &str) -> String {
    format!(
        "\"{}\"",
        path.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%")
    )
}

/// Run a command with no input or output; did it succeed?
fn quietly(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Which methods can work here, in order: systemd only where the user manager answers.
pub fn available() -> Vec<Method> {
    Method::ALL
        .into_iter()
        .filter(|m| match m {
            Method::Systemd => quietly("systemctl", &["--user", "show-environment"]),
            Method::Setsid | Method::Nohup => true,
            Method::Tmux => quietly("tmux", &["-V"]),
            Method::Screen => which("screen"),
        })
        .collect()
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_are_quoted() {
        assert_eq!(systemd_quote("/home/a b/%x\"y\\z"), r#""/home/a b/%%x\"y\\z""#);
    }
}
