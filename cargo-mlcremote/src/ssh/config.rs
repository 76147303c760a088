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

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::pattern::{self, ListMatch};

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read ssh config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} line {line}: {why}")]
    Bad { file: String, line: usize, why: String },
    #[error("{file} line {line}: Include nested more than {MAX_DEPTH} deep")]
    TooDeep { file: String, line: usize },
}

impl From<ConfigError> for crate::error::Error {
    fn from(err: ConfigError) -> Self {
        crate::error::Error::wrap(crate::error::Kind::Usage, err)
    }
}

/// OpenSSH's limit on nested `Include`s.
const MAX_DEPTH: usize = 16;

/// `StrictHostKeyChecking`, printed as `ssh -G` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Strict {
    /// Ask at a terminal (the default).
    #[serde(rename = "ask")]
    Ask,
    /// Refuse unknown keys.
    #[serde(rename = "true")]
    Yes,
    /// Record unknown keys; refuse changed ones.
    #[serde(rename = "accept-new")]
    AcceptNew,
    /// `no`/`off`: OpenSSH records unknown keys and connects despite a changed one. A
    /// changed key is refused here whatever the config says.
    #[serde(rename = "false")]
    No,
}

/// The options deploy uses for one host, as `ssh -G` prints them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostConfig {
    /// The host as given (`%n`).
    #[serde(skip)]
    pub original: String,
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// As configured, tokens not yet expanded (as `ssh -G` prints them), or OpenSSH's
    /// default list when none is configured.
    pub identityfile: Vec<String>,
    pub identitiesonly: bool,
    /// Expanded; `none` turns the agent off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identityagent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxyjump: Option<String>,
    /// As configured; tokens are expanded when it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxycommand: Option<String>,
    /// Expanded.
    pub userknownhostsfile: Vec<String>,
    /// Expanded; read only, never written.
    #[serde(skip)]
    pub globalknownhostsfile: Vec<String>,
    pub stricthostkeychecking: Strict,
    /// Seconds; `None` prints as `none`.
    #[serde(serialize_with = "none_or_number")]
    pub connecttimeout: Option<u64>,
    /// Seconds between keepalives when the host is silent; `None`: not set (ssh's 0,
    /// off; this client's default is on, see [`crate::ssh::Keepalive`]).
    #[serde(serialize_with = "zero_or_number")]
    pub serveraliveinterval: Option<u64>,
    /// Keepalives unanswered before the connection counts as dead.
    pub serveralivecountmax: u64,
    /// Record new host keys hashed.
    #[serde(skip)]
    pub hashknownhosts: bool,
    /// Whether any `IdentityFile` was given (else the defaults are listed).
    #[serde(skip)]
    pub identityfile_given: bool,
    /// Options we do not implement that change where or how `ssh` would connect.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

fn zero_or_number<S: serde::Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(value.unwrap_or(0))
}

fn none_or_number<S: serde::Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_str("none"),
    }
}

/// What the command line says, which wins over every file.
#[derive(Clone, Debug, Default)]
pub struct CommandLine {
    /// `user@` of the destination.
    pub user: Option<String>,
    /// `:port` of the destination.
    pub port: Option<u16>,
    /// `-i FILE`: tried before the config's identity files.
    pub identity_files: Vec<String>,
    /// `--known-hosts FILE`: instead of `UserKnownHostsFile`.
    pub known_hosts: Option<String>,
    /// `--accept-new-host-key`: `StrictHostKeyChecking accept-new`.
    pub accept_new: bool,
    /// `--connect-timeout`, in seconds.
    pub connect_timeout: Option<u64>,
}

/// Who is running us: what `%u`, `%d`, `%i`, `%L`, `%l` and `Match localuser` see.
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
fn local_uid() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }.to_string()
}

#[cfg(not(unix))]
fn local_uid() -> String {
    "0".into()
}

fn local_hostname() -> String {
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

/// The options read so far; `None` is "not set yet" (the first value obtained wins).
#[derive(Clone, Debug, Default)]
struct Options {
    hostname: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Vec<String>,
    identities_only: Option<bool>,
    identity_agent: Option<String>,
    /// `Some("none")` once `ProxyJump`/`ProxyCommand` said so, or when `ProxyJump` was
    /// taken (OpenSSH sets the command to "none" then, so a later one is ignored).
    proxy_command: Option<String>,
    proxy_jump: Option<String>,
    user_known_hosts: Option<Vec<String>>,
    global_known_hosts: Option<Vec<String>>,
    strict: Option<Strict>,
    connect_timeout: Option<Option<u64>>,
    server_alive_interval: Option<u64>,
    server_alive_count_max: Option<u64>,
    hash_known_hosts: Option<bool>,
    ignore_unknown: Option<String>,
}

struct Eval<'a> {
    local: &'a Local,
    /// What `Host` lines match: the host as given (first pass), the real host name (final pass).
    host: String,
    /// The host as given (`originalhost`, `%n`).
    original: String,
    final_pass: bool,
    want_final: bool,
    opts: Options,
    warnings: BTreeSet<String>,
}

impl Eval<'_> {
    fn read_file(
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
    fn host_matches(&self, patterns: &[String]) -> bool {
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
    fn current_host(&self) -> String {
        if self.final_pass {
            return self.opts.hostname.clone().unwrap_or_else(|| self.host.clone());
        }
        match &self.opts.hostname {
            Some(name) => expand_tokens(name, &[('h', &self.host)]),
            None => self.host.clone(),
        }
    }

    fn current_user(&self) -> String {
        self.opts.user.clone().unwrap_or_else(|| self.local.user.clone())
    }

    /// Evaluate a `Match` line (OpenSSH's `match_cfg_line`): every criterion must hold.
    fn match_line(&mut self, rest: &str) -> Result<bool, String> {
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
    fn check_known(&self, keyword: &str) -> Result<(), String> {
        if KNOWN.contains(&keyword) || self.ignored(keyword) {
            return Ok(());
        }
        Err(format!("Bad configuration option: {keyword}"))
    }

    fn ignored(&self, keyword: &str) -> bool {
        self.opts
            .ignore_unknown
            .as_deref()
            .is_some_and(|list| pattern::match_list(keyword, list, true) == ListMatch::Positive)
    }

    /// Apply one `Keyword value` line of a block that applies.
    fn apply(&mut self, keyword: &str, rest: &str) -> Result<(), String> {
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
    fn path_tokens(&self) -> Vec<(char, String)> {
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
    fn expand_include(&self, value: &str) -> String {
        let tokens = self.path_tokens();
        let pairs: Vec<(char, &str)> = tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
        expand_tokens(&expand_env(value), &pairs)
    }

    /// `Match exec` commands take the path tokens.
    fn expand_command(&self, value: &str) -> String {
        let tokens = self.path_tokens();
        let pairs: Vec<(char, &str)> = tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
        expand_tokens(value, &pairs)
    }

    fn finish(self, hostname: String) -> HostConfig {
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

#[cfg(unix)]
const SSH_DIR: &str = "/etc/ssh";
#[cfg(windows)]
const SSH_DIR: &str = r"C:\ProgramData\ssh";

/// The identity files OpenSSH tries when none is configured, in its order.
pub const DEFAULT_IDENTITIES: &[&str] = &[
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "id_xmss",
    "id_dsa",
];

impl HostConfig {
    /// The configured identity files with their tokens and `~` expanded, for `local`.
    pub fn identity_paths(&self, local: &Local) -> Vec<PathBuf> {
        let tokens = token_table(local, &self.hostname, self.port, &self.user, &self.original);
        self.identityfile
            .iter()
            .map(|f| PathBuf::from(expand_path_with(f, &tokens, &local.home)))
            .collect()
    }

    /// `ProxyCommand` with its tokens (`%h %n %p %r %%`) expanded.
    pub fn proxy_command_line(&self) -> Option<String> {
        let port = self.port.to_string();
        self.proxycommand.as_ref().map(|c| {
            expand_tokens(
                c,
                &[
                    ('h', self.hostname.as_str()),
                    ('n', self.original.as_str()),
                    ('p', port.as_str()),
                    ('r', self.user.as_str()),
                ],
            )
        })
    }

    /// The `ProxyJump` hops, first to last, as `[user@]host[:port]`.
    pub fn jumps(&self) -> Vec<String> {
        self.proxyjump
            .as_deref()
            .map(|j| j.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// `key value` lines as `ssh -G` prints them, for the options we use.
    pub fn to_ssh_g(&self) -> String {
        let mut out = format!(
            "hostname {}\nport {}\nuser {}\nidentitiesonly {}\nstricthostkeychecking {}\n",
            self.hostname,
            self.port,
            self.user,
            if self.identitiesonly { "yes" } else { "no" },
            match self.stricthostkeychecking {
                Strict::Ask => "ask",
                Strict::Yes => "true",
                Strict::AcceptNew => "accept-new",
                Strict::No => "false",
            }
        );
        if let Some(agent) = &self.identityagent {
            out.push_str(&format!("identityagent {agent}\n"));
        }
        for file in &self.identityfile {
            out.push_str(&format!("identityfile {file}\n"));
        }
        out.push_str(&format!("userknownhostsfile {}\n", self.userknownhostsfile.join(" ")));
        match self.connecttimeout {
            Some(t) => out.push_str(&format!("connecttimeout {t}\n")),
            None => out.push_str("connecttimeout none\n"),
        }
        out.push_str(&format!(
            "serveraliveinterval {}\nserveralivecountmax {}\n",
            self.serveraliveinterval.unwrap_or(0),
            self.serveralivecountmax
        ));
        if let Some(jump) = &self.proxyjump {
            out.push_str(&format!("proxyjump {jump}\n"));
        }
        if let Some(command) = &self.proxycommand {
            out.push_str(&format!("proxycommand {command}\n"));
        }
        out
    }
}

/// What `ssh` would do with an option we do not implement, if it changes where or how we
/// connect; `None` for options that change nothing here.
fn unsupported(keyword: &str, args: &[String]) -> Option<String> {
    let value = args.join(" ");
    let off = |v: &str| matches!(v.to_ascii_lowercase().as_str(), "no" | "false" | "off" | "none");
    let why = match keyword {
        "canonicalizehostname" if off(&value) => return None,
        "canonicalizehostname" => "host name canonicalisation",
        "hostkeyalias" => "a host key alias",
        "certificatefile" => "certificates",
        "pkcs11provider" | "smartcarddevice" => "PKCS#11 keys",
        "securitykeyprovider" => "security keys",
        "knownhostscommand" => "a known_hosts command",
        "bindaddress" | "bindinterface" => "a local bind address",
        "addressfamily" if value.eq_ignore_ascii_case("any") => return None,
        "addressfamily" => "an address family",
        "preferredauthentications" => "an authentication order",
        "pubkeyauthentication" | "passwordauthentication" | "kbdinteractiveauthentication" if !off(&value) => {
            return None;
        }
        "pubkeyauthentication" | "passwordauthentication" | "kbdinteractiveauthentication" => {
            "turning an authentication method off"
        }
        // GSSAPI and host-based auth are tried by ssh and skipped when they fail, as here
        // (Debian's system-wide config turns GSSAPI on for every host).
        "proxyusefdpass" if off(&value) => return None,
        "proxyusefdpass" => "ProxyUseFdpass",
        "ciphers"
        | "macs"
        | "kexalgorithms"
        | "hostkeyalgorithms"
        | "pubkeyacceptedalgorithms"
        | "pubkeyacceptedkeytypes" => "an algorithm list",
        "tag" => "tags",
        _ => return None,
    };
    Some(format!(
        "ssh_config option {keyword} ({why}) is not supported by mlcremote and is ignored"
    ))
}

/// Every keyword OpenSSH knows (its `readconf.c`), plus the platform additions seen in
/// real configs (Apple's `UseKeychain`, Debian's GSSAPI key exchange).
const KNOWN: &[&str] = &[
    "protocol",
    "cipher",
    "fallbacktorsh",
    "globalknownhostsfile2",
    "rhostsauthentication",
    "userknownhostsfile2",
    "useroaming",
    "usersh",
    "useprivilegedport",
    "afstokenpassing",
    "kerberosauthentication",
    "kerberostgtpassing",
    "rsaauthentication",
    "rhostsrsaauthentication",
    "compressionlevel",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "pkcs11provider",
    "smartcarddevice",
    "forwardagent",
    "forwardx11",
    "forwardx11trusted",
    "forwardx11timeout",
    "exitonforwardfailure",
    "xauthlocation",
    "gatewayports",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "challengeresponseauthentication",
    "skeyauthentication",
    "tisauthentication",
    "pubkeyauthentication",
    "dsaauthentication",
    "hostbasedauthentication",
    "identityfile",
    "identityfile2",
    "identitiesonly",
    "certificatefile",
    "addkeystoagent",
    "identityagent",
    "hostname",
    "hostkeyalias",
    "proxycommand",
    "port",
    "ciphers",
    "macs",
    "remoteforward",
    "localforward",
    "permitremoteopen",
    "user",
    "host",
    "match",
    "tag",
    "escapechar",
    "globalknownhostsfile",
    "userknownhostsfile",
    "connectionattempts",
    "batchmode",
    "checkhostip",
    "stricthostkeychecking",
    "compression",
    "tcpkeepalive",
    "keepalive",
    "numberofpasswordprompts",
    "syslogfacility",
    "loglevel",
    "logverbose",
    "dynamicforward",
    "preferredauthentications",
    "hostkeyalgorithms",
    "casignaturealgorithms",
    "bindaddress",
    "bindinterface",
    "clearallforwardings",
    "enablesshkeysign",
    "verifyhostkeydns",
    "nohostauthenticationforlocalhost",
    "rekeylimit",
    "connecttimeout",
    "addressfamily",
    "serveraliveinterval",
    "serveralivecountmax",
    "sendenv",
    "setenv",
    "controlpath",
    "controlmaster",
    "controlpersist",
    "hashknownhosts",
    "include",
    "tunnel",
    "tunneldevice",
    "localcommand",
    "permitlocalcommand",
    "remotecommand",
    "visualhostkey",
    "kexalgorithms",
    "ipqos",
    "requesttty",
    "sessiontype",
    "stdinnull",
    "forkafterauthentication",
    "proxyusefdpass",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "revokedhostkeys",
    "fingerprinthash",
    "updatehostkeys",
    "hostbasedacceptedalgorithms",
    "hostbasedkeytypes",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "ignoreunknown",
    "proxyjump",
    "securitykeyprovider",
    "knownhostscommand",
    "requiredrsasize",
    "enableescapecommandline",
    "obscurekeystroketiming",
    "channeltimeout",
    "versionaddendum",
    "refuseconnection",
    "warnweakcrypto",
    "usekeychain",
    "gssapikeyexchange",
    "gssapitrustdns",
    "gssapiclientidentity",
    "gssapiserveridentity",
    "gssapirenewalforcesrekey",
    "gssapikexalgorithms",
];

/// `Keyword value`, `Keyword=value` or `Keyword = value`; `None` for blank and comment
/// lines. The keyword comes back lowercased.
fn split_keyword(line: &str) -> Result<Option<(String, &str)>, String> {
    let line = line.trim_start_matches([' ', '\t', '\r', '\u{c}']);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let keyword = &line[..end];
    let mut rest = &line[end..];
    rest = rest.trim_start_matches([' ', '\t']);
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start_matches([' ', '\t']);
    }
    if keyword.is_empty() {
        return Err("missing keyword".into());
    }
    Ok(Some((
        keyword.to_ascii_lowercase(),
        rest.trim_end_matches(['\r', '\n']),
    )))
}

/// The rest of a line, as OpenSSH takes it for commands: everything after the keyword.
fn raw_value(rest: &str) -> String {
    rest.trim_end_matches([' ', '\t', '\r', '\n', '\u{c}']).to_string()
}

/// OpenSSH's `argv_split`: words split on blanks, `"…"` and `'…'` quoting, `\` escaping
/// a quote, a backslash or (unquoted) a space; an unquoted `#` word ends the line.
fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote = None;
        while i < chars.len() {
            let c = chars[i];
            match (c, quote) {
                ('\\', _)
                    if chars
                        .get(i + 1)
                        .is_some_and(|n| matches!(n, '\'' | '"' | '\\') || (quote.is_none() && *n == ' ')) =>
                {
                    arg.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                (c, None) if c.is_whitespace() => break,
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, _) => arg.push(c),
            }
            i += 1;
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        args.push(arg);
    }
    Ok(args)
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        other => Err(format!("unsupported option \"{other}\"")),
    }
}

/// OpenSSH time format: `30`, `30s`, `5m`, `1h30m`...
fn parse_time(v: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse().ok()?)?;
    }
    i32::try_from(total).ok().map(|_| total)
}

/// `ProxyJump` hops as `ssh -G` prints them: `[user@]host[:port]`, `ssh://` taken apart.
fn parse_jumps(value: &str) -> Result<String, String> {
    let mut hops = Vec::new();
    for hop in value.split(',') {
        let hop = hop.trim();
        let plain = hop
            .strip_prefix("ssh://")
            .map(|h| h.trim_end_matches('/'))
            .unwrap_or(hop);
        if plain.is_empty() || plain.starts_with('-') || plain.contains(char::is_whitespace) {
            return Err(format!("Invalid ProxyJump \"{value}\""));
        }
        hops.push(plain.to_string());
    }
    Ok(hops.join(","))
}

/// The one table of `%` tokens (`ssh_config(5)` TOKENS) for a connection as `user` to
/// `host:port`, named `original` on the command line, from `local`.
fn token_table(local: &Local, host: &str, port: u16, user: &str, original: &str) -> Vec<(char, String)> {
    let port = port.to_string();
    let c = {
        use sha1::Digest;
        let joined = format!("{}{host}{port}{user}", local.hostname);
        hex::encode(sha1::Sha1::digest(joined.as_bytes()))
    };
    let short = local.hostname.split('.').next().unwrap_or_default().to_string();
    vec![
        ('C', c),
        ('d', local.home.display().to_string()),
        ('h', host.to_string()),
        ('i', local.uid.clone()),
        ('k', original.to_string()),
        ('L', short),
        ('l', local.hostname.clone()),
        ('n', original.to_string()),
        ('p', port),
        ('r', user.to_string()),
        ('u', local.user.clone()),
    ]
}

/// `~`, `${VAR}` and `tokens` in a path.
fn expand_path_with(value: &str, tokens: &[(char, String)], home: &Path) -> String {
    let pairs: Vec<(char, &str)> = tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
    expand_home(&expand_tokens(&expand_env(value), &pairs), home)
}

/// Replace `%c` tokens from `tokens`; `%%` is a `%`. Unknown tokens stay as they are.
pub fn expand_tokens(value: &str, tokens: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match tokens.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

/// `${VAR}` from the environment (unset: empty, as OpenSSH would refuse; we keep it).
fn expand_env(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&std::env::var(&after[..end]).unwrap_or_default());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `~` and `~/…` become the home directory.
pub fn expand_home(value: &str, home: &Path) -> String {
    match value.strip_prefix('~') {
        Some("") => home.display().to_string(),
        Some(rest) if rest.starts_with('/') => format!("{}{rest}", home.display()),
        _ => value.to_string(),
    }
}

/// Relative include paths live in `~/.ssh` (user configs) or `/etc/ssh`.
fn anchor_include(path: &str, user_conf: bool, home: &Path) -> String {
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
fn glob(pattern: &str) -> Vec<PathBuf> {
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
fn run_match_exec(command: &str) -> Result<bool, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
