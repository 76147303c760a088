//! `cargo mlcremote config --json` against OpenSSH's own reading, `ssh -G`, for every
//! config and host in `tests/ssh_config/` (each file names its hosts in a `# hosts:`
//! line; `@DIR@` is where the corpus is copied, `@LOCALUSER@` the user running this).

use std::{collections::BTreeMap, fs, path::Path, process::Command};

/// The fields compared: where and how a connection goes.
const FIELDS: [&str; 13] = [
    "hostname",
    "port",
    "user",
    "identityfile",
    "proxyjump",
    "proxycommand",
    "userknownhostsfile",
    "stricthostkeychecking",
    "connecttimeout",
    "serveraliveinterval",
    "serveralivecountmax",
    "identitiesonly",
    "identityagent",
];

type Fields = BTreeMap<String, Vec<String>>;

fn ssh_g(config: &Path, host: &str) -> Fields {
    let ssh = harness::require("ssh", "openssh-client").unwrap();
    let out = Command::new(ssh)
        .arg("-G")
        .arg("-F")
        .arg(config)
        .arg(host)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh -G {host}: {}", harness::describe(&out));
    let mut fields = Fields::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        if FIELDS.contains(&key) {
            fields.entry(key.to_string()).or_default().push(value.to_string());
        }
    }
    fields
}

/// Ours, from the JSON, written the way `ssh -G` writes each field.
fn ours(config: &Path, host: &str, home: &str) -> Fields {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-mlcremote"))
        .args(["mlcremote", "config", "--json", "--host", host, "-F"])
        .arg(config)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "config --host {host}: {}",
        harness::describe(&out)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut fields = Fields::new();
    for key in FIELDS {
        let values = match &json[key] {
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(b) => vec![if *b { "yes" } else { "no" }.to_string()],
            serde_json::Value::Number(n) => vec![n.to_string()],
            serde_json::Value::String(s) => vec![s.clone()],
            // Known-hosts files go on one line, identity files one a line.
            serde_json::Value::Array(items) => {
                let items: Vec<String> = items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                if key == "userknownhostsfile" {
                    vec![items.join(" ")]
                } else {
                    items
                }
            }
            other => panic!("{key}: unexpected {other}"),
        };
        fields.insert(key.to_string(), values);
    }
    fields
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_host_of_the_corpus_resolves_as_ssh_g_resolves_it() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ssh_config");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&corpus, dir.path());
    let local_user = harness::output("id", &["-un"]).unwrap().trim().to_string();
    // `ssh` expands `~` to the account's home from the password database, not $HOME.
    let uid = harness::output("id", &["-u"]).unwrap().trim().to_string();
    let passwd = harness::output("getent", &["passwd", &uid]).unwrap();
    let home = passwd.trim().split(':').nth(5).unwrap().to_string();
    let mut compared = 0;
    for entry in fs::read_dir(dir.path()).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "conf") {
            continue;
        }
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("@DIR@", &dir.path().to_string_lossy())
            .replace("@LOCALUSER@", &local_user);
        fs::write(&path, &text).unwrap();
        let hosts = text
            .lines()
            .find_map(|l| l.strip_prefix("# hosts: "))
            .unwrap_or_else(|| panic!("{} names no hosts", path.display()));
        for host in hosts.split_whitespace() {
            let (want, got) = (ssh_g(&path, host), ours(&path, host, &home));
            assert_eq!(
                got,
                want,
                "{} host {host}: ours (left) vs ssh -G (right)",
                path.file_name().unwrap().to_string_lossy()
            );
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} hosts compared");
}

/// An option that would change where or how `ssh` connects, which we do not implement,
/// is named once; a harmless one (connection sharing) is not.
#[test]
fn options_we_do_not_implement_are_named_once_never_silently_misapplied() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    fs::write(
        &config,
        "Host box\n  CanonicalizeHostname yes\n  ControlMaster auto\n  ControlPath ~/.ssh/cm-%r@%h:%p\n\
         Host *\n  CanonicalizeHostname always\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-mlcremote"))
        .args(["mlcremote", "config", "--host", "box", "-F"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", harness::describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("canonicalizehostname").count(), 1, "{stderr}");
    assert!(!stderr.to_lowercase().contains("control"), "{stderr}");
}
