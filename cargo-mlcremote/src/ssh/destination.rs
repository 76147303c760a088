//! `[user@]host[:port]`, the way a user names a host on the command line, and the
//! [`Destination`] it resolves to.

use std::fmt;

/// A host name the command line will not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad host `{spec}`: {why} (expected [user@]host[:port] or a Host alias from ~/.ssh/config)")]
pub struct DestinationError {
    pub spec: String,
    pub why: &'static str,
}

impl From<DestinationError> for crate::error::Error {
    fn from(err: DestinationError) -> Self {
        crate::error::Error::wrap(crate::error::Kind::Usage, err)
    }
}

/// What the user typed: `[user@]host[:port]` (the host may be an ssh config alias).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl HostSpec {
    /// Parse `[user@]host[:port]`; IPv6 literals go in brackets: `[::1]:2222`.
    pub fn parse(spec: &str) -> Result<HostSpec, DestinationError> {
        let bad = |why| DestinationError {
            spec: spec.chars().take(200).collect(),
            why,
        };
        if spec.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("spaces and control characters are not allowed"));
        }
        let (user, rest) = match spec.rsplit_once('@') {
            Some((user, rest)) if !user.is_empty() => (Some(user.to_string()), rest),
            Some(_) => return Err(bad("empty user name")),
            None => (None, spec),
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
        if host.is_empty() {
            return Err(bad("empty host name"));
        }
        if host.starts_with('-') {
            return Err(bad("a host name cannot start with `-`"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("port must be 1-65535"))?,
            ),
            None => None,
        };
        Ok(HostSpec {
            user,
            host: host.to_string(),
            port,
        })
    }
}

/// Where to connect, and as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl Destination {
    /// `[user@]host[:port]` with what `ssh` takes when parts are missing (the local user,
    /// port 22) and no ssh config applied.
    pub fn parse(spec: &str) -> Result<Destination, DestinationError> {
        let spec = HostSpec::parse(spec)?;
        Ok(Destination {
            user: spec.user.unwrap_or_else(super::config::local_user),
            host: spec.host,
            port: spec.port.unwrap_or(22),
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
        assert_eq!(
            HostSpec::parse("devbox").unwrap(),
            HostSpec {
                user: None,
                host: "devbox".into(),
                port: None
            }
        );
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
            "ann@host\nx",
            "a b",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }
}
