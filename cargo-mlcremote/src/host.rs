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
