//! The keywords: which we implement, which we name once as not implemented, how their
//! values read.

/// What `ssh` would do with an option we do not implement, if it changes where or how we
/// connect; `None` for options that change nothing here.
pub(super) fn unsupported(keyword: &str, args: &[String]) -> Option<String> {
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
pub(super) const KNOWN: &[&str] = &[
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

pub(super) fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        other => Err(format!("unsupported option \"{other}\"")),
    }
}

/// OpenSSH time format: `30`, `30s`, `5m`, `1h30m`...
pub(super) fn parse_time(v: &str) -> Option<u64> {
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
pub(super) fn parse_jumps(value: &str) -> Result<String, String> {
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
