//! `~/.ssh/config` read the way OpenSSH reads it, so a deploy reaches the same host, as
//! the same user, through the same jump hosts, with the same host-key policy as `ssh`.
//!
//! The rules, from `ssh_config(5)` and OpenSSH's `readconf.c`: the command line first,
//! then the user's file (or `-F FILE`), then the system-wide file (not with `-F`); for
//! each option the first value obtained wins (`IdentityFile` accumulates). `Host`
//! patterns match the host as given; `Match` evaluates `host` (after `HostName`),
//! `originalhost`, `user`, `localuser`, `all`, `final` and `exec`, each negatable, and is
//! never skipped: a criterion we do not evaluate is an error naming the line. `Include`
//! takes globs relative to `~/.ssh` (or `/etc/ssh`). Tokens (`%h %p %r %u %n %d %%`...)
//! are expanded per option as OpenSSH does.
//!
//! [`HostConfig`] holds what `ssh -G` prints for the options deploy uses, in the same
//! form (`cargo mlcremote config` prints it; tests compare it with `ssh -G`).
//!
//! Here [`SshConfig`] finds the files and resolves a host; [`lex`] splits a line,
//! [`eval`] reads the files (blocks, `Include`, `Match`), [`keywords`] knows the
//! keywords and their values, [`tokens`] expands `%` tokens, `${ENV}` and `~` from one
//! table, [`host`] is the result, [`local`] who runs us.

mod error;
mod eval;
mod host;
mod keywords;
mod lex;
mod local;
mod tokens;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

pub use self::{
    error::ConfigError,
    host::{CommandLine, DEFAULT_IDENTITIES, HostConfig, Strict},
    local::{Local, local_user},
    tokens::{expand_home, expand_tokens},
};
use self::{error::MAX_DEPTH, eval::*, lex::*};

/// The config files to read, in order.
#[derive(Clone, Debug)]
pub struct SshConfig {
    /// `-F FILE` or `~/.ssh/config` (which may be missing).
    user: Option<PathBuf>,
    /// `/etc/ssh/ssh_config`, read after the user's, unless `-F` was given.
    system: Option<PathBuf>,
    local: Local,
}

/// The system-wide config OpenSSH reads after the user's.
#[cfg(unix)]
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";
#[cfg(windows)]
const SYSTEM_CONFIG: &str = r"C:\ProgramData\ssh\ssh_config";

impl SshConfig {
    /// `explicit` (`-F`) must exist and replaces both the user's and the system's file,
    /// as with `ssh -F`; `-F none` reads no file at all.
    pub fn load(explicit: Option<&Path>) -> Result<SshConfig, ConfigError> {
        let local = Local::current();
        match explicit {
            Some(path) if path == Path::new("none") => Ok(SshConfig {
                user: None,
                system: None,
                local,
            }),
            Some(path) => {
                std::fs::metadata(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok(SshConfig {
                    user: Some(path.to_path_buf()),
                    system: None,
                    local,
                })
            }
            None => Ok(SshConfig {
                user: Some(local.home.join(".ssh").join("config")),
                system: Some(PathBuf::from(SYSTEM_CONFIG)),
                local,
            }),
        }
    }

    /// Read these files for `local` (tests: another home, user, host name).
    pub fn with_local(mut self, local: Local) -> SshConfig {
        if self.system.is_some() {
            self.user = Some(local.home.join(".ssh").join("config"));
        }
        self.local = local;
        self
    }

    pub fn local(&self) -> &Local {
        &self.local
    }

    /// The options for `host` (as given), the command line winning.
    pub fn resolve(&self, host: &str, cmdline: &CommandLine) -> Result<HostConfig, ConfigError> {
        let mut eval = Eval {
            local: &self.local,
            host: host.to_string(),
            original: host.to_string(),
            final_pass: false,
            want_final: false,
            opts: Options {
                user: cmdline.user.clone(),
                port: cmdline.port,
                identity_files: cmdline.identity_files.clone(),
                // A path as given: its `%` stays a `%` when the tokens are expanded.
                user_known_hosts: cmdline.known_hosts.clone().map(|f| vec![f.replace('%', "%%")]),
                strict: cmdline.accept_new.then_some(Strict::AcceptNew),
                connect_timeout: cmdline.connect_timeout.map(Some),
                ..Options::default()
            },
            warnings: BTreeSet::new(),
        };
        self.read_all(&mut eval)?;
        // After the first pass, `ssh` takes the HostName into use (expanding %h) and
        // lowercases a name (not an address).
        let mut real = match &eval.opts.hostname {
            Some(name) => expand_tokens(name, &[('h', host)]),
            None => host.to_string(),
        };
        if real.parse::<std::net::IpAddr>().is_err() {
            real = real.to_ascii_lowercase();
        }
        if eval.want_final {
            eval.final_pass = true;
            eval.host = real.clone();
            eval.opts.hostname = Some(real.clone());
            self.read_all(&mut eval)?;
        }
        Ok(eval.finish(real))
    }

    fn read_all(&self, eval: &mut Eval<'_>) -> Result<(), ConfigError> {
        for (path, user_conf) in [(&self.user, true), (&self.system, false)] {
            let Some(path) = path else { continue };
            let mut active = true;
            match eval.read_file(path, user_conf, false, &mut active, 0) {
                Err(ConfigError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// The `Host` aliases of the user's config (no patterns), for host pickers.
    pub fn aliases(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Some(path) = &self.user {
            collect_aliases(path, &self.local, &mut found, 0);
        }
        found
    }
}

fn collect_aliases(path: &Path, local: &Local, found: &mut Vec<String>, depth: usize) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let Ok(Some((keyword, rest))) = split_keyword(line) else {
            continue;
        };
        let Ok(args) = split_args(rest) else { continue };
        match keyword.as_str() {
            "host" => {
                for arg in args {
                    let plain = !arg.contains(['*', '?', '!']);
                    if plain && !found.contains(&arg) {
                        found.push(arg);
                    }
                }
            }
            "include" if depth < MAX_DEPTH => {
                for arg in args {
                    let anchored = anchor_include(&expand_home(&arg, &local.home), true, &local.home);
                    for file in glob(&anchored) {
                        collect_aliases(&file, local, found, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{keywords::*, *};

    fn local(home: &Path) -> Local {
        Local {
            user: "me".into(),
            home: home.to_path_buf(),
            uid: "1000".into(),
            hostname: "desk.example".into(),
        }
    }

    fn resolve(text: &str, host: &str) -> HostConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let config = SshConfig::load(Some(&path)).unwrap().with_local(local(dir.path()));
        config.resolve(host, &CommandLine::default()).unwrap()
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = resolve(
            "Host box\n  HostName 10.0.0.5\n  User ann\n  Port 2222\n  IdentityFile /k/one\nHost *\n  User bob\n  \
             IdentityFile /k/two\n  Port 22\n",
            "box",
        );
        assert_eq!(
            (c.hostname.as_str(), c.user.as_str(), c.port),
            ("10.0.0.5", "ann", 2222)
        );
        assert_eq!(c.identityfile, ["/k/one", "/k/two"]);
    }

    #[test]
    fn match_blocks_apply_only_to_their_hosts() {
        let text = "Host box\n  HostName box.internal\nMatch host other.example\n  StrictHostKeyChecking no\n  \
                    ProxyJump evil\nMatch host box.internal\n  User inner\n";
        let c = resolve(text, "box");
        assert_eq!(c.stricthostkeychecking, Strict::Ask);
        assert_eq!(c.proxyjump, None);
        assert_eq!(c.user, "inner", "Match host sees the HostName");
        let c = resolve(text, "other.example");
        assert_eq!(c.stricthostkeychecking, Strict::No);
        assert_eq!(c.proxyjump.as_deref(), Some("evil"));
    }

    #[test]
    fn unsupported_match_criteria_are_refused_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "Host a\n  User x\nMatch localnetwork 10.0.0.0/8\n  User y\n").unwrap();
        let config = SshConfig::load(Some(&path)).unwrap().with_local(local(dir.path()));
        let err = config.resolve("a", &CommandLine::default()).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("localnetwork"), "{err}");
    }

    #[test]
    fn tokens() {
        let c = resolve("Host tok\n  HostName %h.example.invalid\n", "tok");
        assert_eq!(c.hostname, "tok.example.invalid");
        assert_eq!(expand_tokens("a%%b%hc%z", &[('h', "H")]), "a%bHc%z");
    }

    #[test]
    fn args_quote_like_openssh() {
        assert_eq!(
            split_args(r#"a "b c" 'd e' f\ g # x"#).unwrap(),
            ["a", "b c", "d e", "f g"]
        );
        assert!(split_args("\"open").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("30"), Some(30));
        assert_eq!(parse_time("1h30m"), Some(5400));
        assert_eq!(parse_time("5x"), None);
        assert_eq!(parse_time("99999999999999999999999"), None);
    }
}
