//! Reading the files: `Host` and `Match` blocks, `Include`, the first value winning,
//! evaluated as OpenSSH's `readconf.c` does.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use crate::ssh::pattern::{self, ListMatch};

use super::{error::*, host::*, keywords::*, lex::*, local::*, tokens::*};

/// The options read so far; `None` is "not set yet" (the first value obtained wins).
#[derive(Clone, Debug, Default)]
pub(super) struct Options {
    pub(super) hostname: Option<String>,
    pub(super) user: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) identity_files: Vec<String>,
    pub(super) identities_only: Option<bool>,
    pub(super) identity_agent: Option<String>,
    /// `Some("none")` once `ProxyJump`/`ProxyCommand` said so, or when `ProxyJump` was
    /// taken (OpenSSH sets the command to "none" then, so a later one is ignored).
    pub(super) proxy_command: Option<String>,
    pub(super) proxy_jump: Option<String>,
    pub(super) user_known_hosts: Option<Vec<String>>,
    pub(super) global_known_hosts: Option<Vec<String>>,
    pub(super) strict: Option<Strict>,
    pub(super) connect_timeout: Option<Option<u64>>,
    pub(super) server_alive_interval: Option<u64>,
    pub(super) server_alive_count_max: Option<u64>,
    pub(super) hash_known_hosts: Option<bool>,
    pub(super) ignore_unknown: Option<String>,
}

pub(super) struct Eval<'a> {
    pub(super) local: &'a Local,
    /// What `Host` lines match: the host as given (first pass), the real host name (final pass).
    pub(super) host: String,
    /// The host as given (`originalhost`, `%n`).
    pub(super) original: String,
    pub(super) final_pass: bool,
    pub(super) want_final: bool,
    pub(super) opts: Options,
    pub(super) warnings: BTreeSet<String>,
}

impl Eval<'_> {
    pub(super) fn read_file(
        &mut self,
        path: &Path,
        user_conf: bool,
        never_match: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            let at = |why: String| ConfigError::Bad {
                file: shown.clone(),
                line: index + 1,
                why,
            };
            let Some((keyword, rest)) = split_keyword(line).map_err(at)? else {
                continue;
            };
            match keyword.as_str() {
                "host" => {
                    let args = split_args(rest).map_err(at)?;
                    if args.is_empty() {
                        return Err(at("Host needs at least one pattern".into()));
                    }
                    *active = !never_match && self.host_matches(&args);
                }
                "match" => {
                    let matched = self.match_line(rest).map_err(at)?;
                    *active = !never_match && matched;
                }
                "include" => {
                    if depth + 1 > MAX_DEPTH {
                        return Err(ConfigError::TooDeep {
                            file: shown,
                            line: index + 1,
                        });
                    }
                    let outer = *active;
                    for arg in split_args(rest).map_err(at)? {
                        let expanded = self.expand_include(&arg);
                        if expanded.starts_with('~') && !user_conf {
                            return Err(at(format!("bad include path {expanded}")));
                        }
                        let anchored = anchor_include(&expanded, user_conf, &self.local.home);
                        for file in glob(&anchored) {
                            self.read_file(&file, user_conf, never_match || !outer, active, depth + 1)?;
                            // A Host or Match inside an included file ends with it.
                            *active = outer;
                        }
                    }
                }
                _ if !*active => self.check_known(&keyword).map_err(at)?,
                _ => self.apply(&keyword, rest).map_err(at)?,
            }
        }
        Ok(())
    }

    /// `Host a b !c`: any positive pattern matches and no negated one does.
    pub(super) fn host_matches(&self, patterns: &[String]) -> bool {
        let mut hit = false;
        for pattern in patterns {
            match pattern.strip_prefix('!') {
                Some(negated) if pattern::matches(&self.host, negated) => return false,
                Some(_) => {}
                None => hit |= pattern::matches(&self.host, pattern),
            }
        }
        hit
    }

    /// The host `Match host` and `%h` see: the HostName so far (with `%h`), else the host.
    pub(super) fn current_host(&self) -> String {
        if self.final_pass {
            return self.opts.hostname.clone().unwrap_or_else(|| self.host.clone());
        }
        match &self.opts.hostname {
            Some(name) => expand_tokens(name, &[('h', &self.host)]),
            None => self.host.clone(),
        }
    }

    pub(super) fn current_user(&self) -> String {
        self.opts.user.clone().unwrap_or_else(|| self.local.user.clone())
    }

    /// Evaluate a `Match` line (OpenSSH's `match_cfg_line`): every criterion must hold.
    pub(super) fn match_line(&mut self, rest: &str) -> Result<bool, String> {
        let args = split_args(rest)?;
        let mut result = true;
        let mut attributes = 0;
        let mut i = 0;
        let host = self.current_host();
        while i < args.len() {
            let word = &args[i];
            i += 1;
            if word.starts_with('#') {
                break;
            }
            let (negate, name) = match word.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, word.as_str()),
            };
            let name_lower = name.to_ascii_lowercase();
            if name_lower == "all" {
                if attributes > 1 || args.get(i).is_some_and(|a| !a.starts_with('#')) {
                    return Err(format!("'{word}' cannot be combined with other Match attributes"));
                }
                return Ok(result && !negate);
            }
            attributes += 1;
            if name_lower == "final" || name_lower == "canonical" {
                if name_lower == "final" && !negate {
                    self.want_final = true;
                }
                if self.final_pass == negate {
                    result = false;
                }
                continue;
            }
            let (name_lower, arg) = match name_lower.split_once('=') {
                Some((n, a)) => (n.to_string(), a.to_string()),
                None => {
                    let arg = args
                        .get(i)
                        .cloned()
                        .ok_or(format!("missing argument for Match '{word}'"))?;
                    i += 1;
                    (name_lower, arg)
                }
            };
            if arg.is_empty() || arg.starts_with('#') {
                return Err(format!("Missing Match criteria for {name}"));
            }
            let hit = match name_lower.as_str() {
                "host" => pattern::match_hostname(&host, &arg),
                "originalhost" => pattern::match_hostname(&self.original, &arg),
                "user" => pattern::match_list(&self.current_user(), &arg, false) == ListMatch::Positive,
                "localuser" => pattern::match_list(&self.local.user, &arg, false) == ListMatch::Positive,
                "exec" => {
                    if !result {
                        // OpenSSH skips the command once an earlier criterion failed.
                        continue;
                    }
                    let command = self.expand_command(&arg);
                    run_match_exec(&command)?
                }
                other => {
                    return Err(format!(
                        "Match {other} is not supported by mlcremote (supported: all, final, host, \
                         originalhost, user, localuser, exec); remove it or use `Host`"
                    ));
                }
            };
            if hit == negate {
                result = false;
            }
        }
        if attributes == 0 {
            return Err("One or more attributes required for Match".into());
        }
        Ok(result)
    }

    /// A keyword in a block that does not apply: only checked to exist.
    pub(super) fn check_known(&self, keyword: &str) -> Result<(), String> {
        if KNOWN.contains(&keyword) || self.ignored(keyword) {
            return Ok(());
        }
        Err(format!("Bad configuration option: {keyword}"))
    }

    pub(super) fn ignored(&self, keyword: &str) -> bool {
        self.opts
            .ignore_unknown
            .as_deref()
            .is_some_and(|list| pattern::match_list(keyword, list, true) == ListMatch::Positive)
    }

    /// Apply one `Keyword value` line of a block that applies.
    pub(super) fn apply(&mut self, keyword: &str, rest: &str) -> Result<(), String> {
        let args = split_args(rest)?;
        let first = || {
            args.first()
                .cloned()
                .filter(|a| !a.is_empty())
                .ok_or(format!("{keyword}: missing argument"))
        };
        let o = &mut self.opts;
        match keyword {
            "hostname" => {
                let v = first()?;
                o.hostname.get_or_insert(v);
            }
            "user" => {
                let v = first()?;
                o.user.get_or_insert(v);
            }
            "port" => {
                let v = first()?;
                let port = v
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or(format!("Bad port '{v}'"))?;
                o.port.get_or_insert(port);
            }
            "identityfile" => {
                let v = first()?;
                if !o.identity_files.contains(&v) {
                    o.identity_files.push(v);
                }
            }
            "identitiesonly" => {
                let v = yes_no(&first()?)?;
                o.identities_only.get_or_insert(v);
            }
            "identityagent" => {
                let v = first()?;
                // Expanded once the whole config is read, as the known-hosts files.
                o.identity_agent.get_or_insert(v);
            }
            "proxycommand" => {
                let command = raw_value(rest);
                if command.is_empty() {
                    return Err("ProxyCommand: missing argument".into());
                }
                o.proxy_command.get_or_insert(command);
            }
            "proxyjump" => {
                let value = raw_value(rest);
                let value = value.split('#').next().unwrap_or_default().trim_end().to_string();
                if value.eq_ignore_ascii_case("none") {
                    o.proxy_jump.get_or_insert_with(|| "none".into());
                } else {
                    let hops = parse_jumps(&value)?;
                    if o.proxy_command.is_none() && o.proxy_jump.is_none() {
                        o.proxy_jump = Some(hops);
                        o.proxy_command = Some("none".into());
                    }
                }
            }
            "userknownhostsfile" | "globalknownhostsfile" => {
                if args.is_empty() {
                    return Err(format!("{keyword}: missing argument"));
                }
                let user = keyword == "userknownhostsfile";
                let slot = if user {
                    &o.user_known_hosts
                } else {
                    &o.global_known_hosts
                };
                // Kept as written: their tokens take the values the whole config ends
                // with (a `Port` below still counts for `%p`), as OpenSSH expands them.
                if slot.is_none() {
                    let o = &mut self.opts;
                    if user {
                        o.user_known_hosts = Some(args);
                    } else {
                        o.global_known_hosts = Some(args);
                    }
                }
            }
            "stricthostkeychecking" => {
                let v = first()?.to_ascii_lowercase();
                let strict = match v.as_str() {
                    "yes" | "true" => Strict::Yes,
                    "no" | "false" | "off" => Strict::No,
                    "ask" => Strict::Ask,
                    "accept-new" => Strict::AcceptNew,
                    _ => return Err(format!("unsupported option \"{v}\"")),
                };
                o.strict.get_or_insert(strict);
            }
            "connecttimeout" => {
                let v = first()?;
                let secs = if v.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(parse_time(&v).ok_or(format!("invalid time value {v}"))?)
                };
                o.connect_timeout.get_or_insert(secs.filter(|s| *s > 0));
            }
            "serveraliveinterval" => {
                let v = first()?;
                let secs = parse_time(&v).ok_or(format!("invalid time value {v}"))?;
                o.server_alive_interval.get_or_insert(secs);
            }
            "serveralivecountmax" => {
                let v = first()?;
                let count = v.parse::<u64>().map_err(|_| format!("invalid count {v}"))?;
                o.server_alive_count_max.get_or_insert(count);
            }
            "hashknownhosts" => {
                let v = yes_no(&first()?)?;
                o.hash_known_hosts.get_or_insert(v);
            }
            "ignoreunknown" => {
                let v = first()?;
                o.ignore_unknown.get_or_insert(v);
            }
            _ => {
                self.check_known(keyword)?;
                if let Some(why) = unsupported(keyword, &args) {
                    self.warnings.insert(why);
                }
            }
        }
        Ok(())
    }

    /// The tokens every path-like option accepts, as they stand at this point of the
    /// reading (for `Include` and `Match exec`, which OpenSSH expands there and then).
    pub(super) fn path_tokens(&self) -> Vec<(char, String)> {
        let port = self.opts.port.unwrap_or(22);
        token_table(
            self.local,
            &self.current_host(),
            port,
            &self.current_user(),
            &self.original,
        )
    }

    /// An `Include` path: `${VAR}` and the path tokens (its `~` and relative paths are
    /// the include's own business).
    pub(super) fn expand_include(&self, value: &str) -> String {
        let tokens = self.path_tokens();
        let pairs: Vec<(char, &str)> = tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
        expand_tokens(&expand_env(value), &pairs)
    }

    /// `Match exec` commands take the path tokens.
    pub(super) fn expand_command(&self, value: &str) -> String {
        let tokens = self.path_tokens();
        let pairs: Vec<(char, &str)> = tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
        expand_tokens(value, &pairs)
    }

    pub(super) fn finish(self, hostname: String) -> HostConfig {
        let o = self.opts;
        let home = &self.local.home;
        let user = o.user.clone().unwrap_or_else(|| self.local.user.clone());
        let tokens = token_table(self.local, &hostname, o.port.unwrap_or(22), &user, &self.original);
        let expand =
            |files: Vec<String>| -> Vec<String> { files.iter().map(|f| expand_path_with(f, &tokens, home)).collect() };
        let identityfile_given = !o.identity_files.is_empty();
        let identityfile = if identityfile_given {
            o.identity_files
        } else {
            DEFAULT_IDENTITIES.iter().map(|n| format!("~/.ssh/{n}")).collect()
        };
        let default_known = |names: &[&str], dir: &Path| -> Vec<String> {
            names.iter().map(|n| dir.join(n).display().to_string()).collect()
        };
        HostConfig {
            original: self.original,
            hostname,
            port: o.port.unwrap_or(22),
            user,
            identityfile,
            identitiesonly: o.identities_only.unwrap_or(false),
            identityagent: o.identity_agent.map(|a| {
                if a == "none" || a == "SSH_AUTH_SOCK" {
                    a
                } else {
                    expand_path_with(&a, &tokens, home)
                }
            }),
            proxyjump: o.proxy_jump.filter(|j| j != "none"),
            proxycommand: o.proxy_command.filter(|c| c != "none"),
            userknownhostsfile: o
                .user_known_hosts
                .map(expand)
                .unwrap_or_else(|| default_known(&["known_hosts", "known_hosts2"], &home.join(".ssh"))),
            globalknownhostsfile: o
                .global_known_hosts
                .map(expand)
                .unwrap_or_else(|| default_known(&["ssh_known_hosts", "ssh_known_hosts2"], Path::new(SSH_DIR))),
            stricthostkeychecking: o.strict.unwrap_or(Strict::Ask),
            connecttimeout: o.connect_timeout.flatten(),
            serveraliveinterval: o.server_alive_interval,
            serveralivecountmax: o.server_alive_count_max.unwrap_or(3),
            hashknownhosts: o.hash_known_hosts.unwrap_or(false),
            identityfile_given,
            warnings: self.warnings.into_iter().collect(),
        }
    }
}

/// Relative include paths live in `~/.ssh` (user configs) or `/etc/ssh`.
pub(super) fn anchor_include(path: &str, user_conf: bool, home: &Path) -> String {
    let path = expand_home(path, home);
    if Path::new(&path).is_absolute() {
        return path;
    }
    let base = if user_conf {
        home.join(".ssh")
    } else {
        PathBuf::from(SSH_DIR)
    };
    base.join(path).display().to_string()
}

/// The files a glob (`*`, `?` in any component) names, sorted as glob(3) sorts them.
pub(super) fn glob(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let mut found = vec![PathBuf::new()];
    for component in path.components() {
        let part = component.as_os_str().to_string_lossy();
        if !part.contains(['*', '?']) {
            found.iter_mut().for_each(|p| p.push(component.as_os_str()));
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| (!n.starts_with('.') || part.starts_with('.')) && pattern::matches(n, &part))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found
}

/// `Match exec`: run with the platform's shell; matched when it exits 0.
pub(super) fn run_match_exec(command: &str) -> Result<bool, String> {
    #[cfg(unix)]
    let mut cmd = {
        let mut c = std::process::Command::new("/bin/sh");
        c.arg("-c").arg(command);
        c
    };
    #[cfg(windows)]
    let mut cmd = {
        let mut c = std::process::Command::new("cmd");
        c.arg("/C").arg(command);
        c
    };
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.status()
        .map(|s| s.success())
        .map_err(|e| format!("match exec '{command}' failed to run: {e}"))
}
