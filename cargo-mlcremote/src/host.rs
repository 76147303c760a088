//! `[user@]host[:port]`, the way a user names a host on the command line.

use std::fmt;

/// Where to connect, and as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl Destination {
    /// Parse `[user@]host[:port]`; IPv6 literals go in brackets: `[::1]:2222`.
    /// Without a user, the local user name is used, as `ssh` does.
    pub fn parse(spec: &str) -> Result<Destination, String> {
        let bad = |why: &str| format!("bad host `{spec}`: {why} (expected [user@]host[:port])");
        let (user, rest) = match spec.rsplit_once('@') {
            Some((user, rest)) if !user.is_empty() => (user.to_string(), rest),
            Some(_) => return Err(bad("empty user name")),
            None => (local_user(), spec),
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("junk after `]`")),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (rest, None),
            }
        };
        if host.is_empty() || host.starts_with('-') {
            return Err(bad("empty host name"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("port must be 1-65535"))?,
            None => 22,
        };
        Ok(Destination {
            user,
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 22 {
            write!(f, "{}@{host}", self.user)
        } else {
            write!(f, "{}@{host}:{}", self.user, self.port)
        }
    }
}

fn local_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "root".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(user: &str, host: &str, port: u16) -> Destination {
        Destination {
            user: user.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_what_users_type() {
        assert_eq!(
            Destination::parse("ann@example.com").unwrap(),
            d("ann", "example.com", 22)
        );
        assert_eq!(
            Destination::parse("ann@127.0.0.1:2222").unwrap(),
            d("ann", "127.0.0.1", 2222)
        );
        assert_eq!(Destination::parse("ann@[::1]:2222").unwrap(), d("ann", "::1", 2222));
        assert_eq!(Destination::parse("ann@::1").unwrap(), d("ann", "::1", 22));
        assert_eq!(Destination::parse("a@b@host").unwrap(), d("a@b", "host", 22));
        assert_eq!(Destination::parse("server").unwrap().host, "server");
        assert_eq!(d("ann", "::1", 2222).to_string(), "ann@[::1]:2222");
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "ann@",
            "@host",
            "ann@host:0",
            "ann@host:99999",
            "ann@host:x",
            "ann@[::1",
            "-oProxyCommand=x",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }
}

/// `~/.ssh/config` (or `-F FILE`) applied to a host, as `ssh` applies it: `Host` aliases,
/// `HostName`, `User`, `Port`, `IdentityFile`, `ProxyJump`, `UserKnownHostsFile`,
/// `StrictHostKeyChecking`, `ConnectTimeout`. What the command line says wins.
pub mod config {
    use std::{
        io::BufReader,
        path::{Path, PathBuf},
    };

    use ssh2_config::{HostParams, ParseRule, SshConfig};

    use super::Destination;
    use crate::ssh::ConnectOptions;

    /// The parsed config file; empty when there is none.
    pub struct Config(Option<SshConfig>);

    impl Config {
        /// `explicit` (`-F`) must exist; the default `~/.ssh/config` may not.
        pub fn load(explicit: Option<&Path>) -> Result<Config, String> {
            let path = match explicit {
                Some(p) => p.to_path_buf(),
                None => match std::env::home_dir().map(|h| h.join(".ssh").join("config")) {
                    Some(p) if p.is_file() => p,
                    _ => return Ok(Config(None)),
                },
            };
            let file =
                std::fs::File::open(&path).map_err(|e| format!("cannot read ssh config {}: {e}", path.display()))?;
            let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
            let mut config = SshConfig::default();
            if let Some(home) = std::env::home_dir() {
                config = config.home_dir(home);
            }
            config
                .parse(&mut BufReader::new(file), rules)
                .map(|c| Config(Some(c)))
                .map_err(|e| format!("cannot parse ssh config {}: {e}", path.display()))
        }

        fn query(&self, alias: &str) -> Option<HostParams> {
            self.0.as_ref().map(|c| c.query(alias))
        }

        /// Resolve `[user@]host[:port]` against the config, on top of `base` (the flags).
        pub fn resolve(
            &self,
            spec: &str,
            base: &ConnectOptions,
            timeout_flag: bool,
        ) -> Result<(Destination, ConnectOptions), String> {
            let (destination, params) = self.destination(spec)?;
            let mut options = base.clone();
            let Some(params) = params else {
                return Ok((destination, options));
            };
            if let Some(files) = &params.identity_file {
                options.identities.extend(files.iter().map(|f| expand(f)));
            }
            let field = |name: &str| {
                params
                    .unsupported_fields
                    .get(name)
                    .and_then(|v| v.first())
                    .map(|v| v.to_ascii_lowercase())
            };
            if options.known_hosts.is_empty()
                && let Some(files) = params.unsupported_fields.get("userknownhostsfile")
            {
                options.known_hosts = files
                    .iter()
                    .filter(|f| *f != "/dev/null")
                    .map(|f| expand(Path::new(f)))
                    .collect();
            }
            if matches!(
                field("stricthostkeychecking").as_deref(),
                Some("accept-new" | "no" | "off")
            ) {
                options.accept_new_host_key = true;
            }
            if !timeout_flag && let Some(timeout) = params.connect_timeout {
                options.connect_timeout = timeout;
            }
            if let Some(jumps) = &params.proxy_jump
                && options.jumps.is_empty()
            {
                for jump in jumps.iter().filter(|j| !j.eq_ignore_ascii_case("none")) {
                    let (hop, hop_params) = self.destination(jump)?;
                    if let Some(files) = hop_params.and_then(|p| p.identity_file) {
                        options.identities.extend(files.iter().map(|f| expand(f)));
                    }
                    options.jumps.push(hop);
                }
            }
            Ok((destination, options))
        }

        fn destination(&self, spec: &str) -> Result<(Destination, Option<HostParams>), String> {
            let parsed = Destination::parse(spec)?;
            let explicit_user = spec.contains('@');
            let explicit_port = parsed.port != 22 || spec.rsplit('@').next().is_some_and(|h| h.ends_with(":22"));
            let Some(params) = self.query(&parsed.host) else {
                return Ok((parsed, None));
            };
            let destination = Destination {
                user: if explicit_user {
                    parsed.user
                } else {
                    params.user.clone().unwrap_or(parsed.user)
                },
                host: params.host_name.clone().unwrap_or(parsed.host),
                port: if explicit_port {
                    parsed.port
                } else {
                    params.port.unwrap_or(22)
                },
            };
            Ok((destination, Some(params)))
        }
    }

    fn expand(path: &Path) -> PathBuf {
        match (path.strip_prefix("~"), std::env::home_dir()) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => path.to_path_buf(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn config(text: &str) -> Config {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config");
            std::fs::write(&path, text).unwrap();
            Config::load(Some(&path)).unwrap()
        }

        #[test]
        fn applies_aliases_and_lets_the_command_line_win() {
            let c = config(
                "Host box\n  HostName 10.0.0.5\n  User ann\n  Port 2222\n  IdentityFile /keys/box\n  \
                 UserKnownHostsFile /kh/box\n  StrictHostKeyChecking accept-new\n  ConnectTimeout 7\n  ProxyJump bastion\n\
                 Host bastion\n  HostName 10.0.0.1\n  User jump\n",
            );
            let (d, o) = c.resolve("box", &ConnectOptions::default(), false).unwrap();
            assert_eq!(
                d,
                Destination {
                    user: "ann".into(),
                    host: "10.0.0.5".into(),
                    port: 2222
                }
            );
            assert_eq!(o.identities, [PathBuf::from("/keys/box")]);
            assert_eq!(o.known_hosts, [PathBuf::from("/kh/box")]);
            assert!(o.accept_new_host_key);
            assert_eq!(o.connect_timeout, std::time::Duration::from_secs(7));
            assert_eq!(
                o.jumps,
                [Destination {
                    user: "jump".into(),
                    host: "10.0.0.1".into(),
                    port: 22
                }]
            );

            let (d, o) = c.resolve("bob@box:22", &ConnectOptions::default(), true).unwrap();
            assert_eq!((d.user.as_str(), d.port), ("bob", 22));
            assert_eq!(o.connect_timeout, ConnectOptions::default().connect_timeout);
            let (d, _) = c.resolve("other.example", &ConnectOptions::default(), false).unwrap();
            assert_eq!(d.host, "other.example");
        }

        #[test]
        fn a_missing_explicit_config_is_an_error() {
            assert!(Config::load(Some(Path::new("/nonexistent/ssh_config"))).is_err());
        }
    }
}
