//! `deploy --build remote|auto`: build the server on the host from the uploaded source
//! bundle (SPEC §6), trying Docker, a native cargo, then a rustup bootstrap into
//! `<install dir>/toolchain` (shown first, run only with consent), before deploy falls
//! back to building here. Everything goes to `<install dir>/build/build.log`.
//!
//! The commands are lines in `remote/sh/build-*.sh` that name what they take from the
//! probe as `"$word"`; `-v`, `--dry-run` and the consent question show them with each
//! word filled in, quoted, which is exactly what the shell runs.

use std::time::Duration;

use mlcremote_release::{
    source::Bundle,
    target::{Platform, Target},
};

use super::plan::{BuildPlan, BuildWay};
use crate::{
    artifact::{BuildWhere, Chosen, Origin, Payload},
    delegate::{Answer, Question, Reporter},
    error::Result,
    remote::{Probe, quote, script_error, scripts},
    ssh::Session,
};

/// How long a build on the host may take (a toolchain download and a release build).
const BUILD_TIMEOUT: Duration = Duration::from_secs(3600);

/// One way to build on the host, in the SPEC order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Docker,
    Cargo,
    Bootstrap,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Docker => "docker",
            Method::Cargo => "cargo",
            Method::Bootstrap => "a rustup bootstrap",
        }
    }
}

/// What to try on this host. `--build auto` builds there only when Docker (answering:
/// a client without its engine does not count) or cargo is already there; `--build
/// remote` also offers the bootstrap.
pub fn methods(mode: BuildWhere, probe: &Probe, docker_answers: bool) -> Vec<Method> {
    let mut methods = Vec::new();
    if mode == BuildWhere::Local {
        return methods;
    }
    if docker_answers {
        methods.push(Method::Docker);
    }
    if probe.cargo.is_some() {
        methods.push(Method::Cargo);
    }
    if mode == BuildWhere::Remote {
        methods.push(Method::Bootstrap);
    }
    methods
}

/// Does `docker info` answer on the host (an engine this account may use)?
pub async fn docker_answers(session: &Session, probe: &Probe) -> Result<bool> {
    if !probe.has("docker") {
        return Ok(false);
    }
    let out = session.run(&scripts::docker_script()).await?;
    Ok(out.field("docker") == Some("ok"))
}

/// The image `--build remote` builds in: Alpine, so the binary is static (musl) and runs
/// on any Linux of the same architecture.
pub const DOCKER_IMAGE: &str = "docker.io/library/rust:1-alpine";

/// rustup-init, pinned: the bootstrap refuses a download whose sha256 is not this one.
pub const RUSTUP_VERSION: &str = "1.28.2";
/// (os, arch, the rustup-init build to fetch, its sha256). x86_64 Linux takes the static
/// musl build, so it runs on glibc and musl hosts alike; `--default-host` then picks the
/// toolchain for the host's libc (stable musl-hosted toolchains have at times shipped
/// without cargo, found by running this bootstrap for real).
const RUSTUP_INIT: &[(&str, &str, &str, &str)] = &[
    (
        "linux",
        "x86_64",
        "x86_64-unknown-linux-musl",
        "e6599a1c7be58a2d8eaca66a80e0dc006d87bbcf780a58b7343d6e14c1605cb2",
    ),
    (
        "linux",
        "aarch64",
        "aarch64-unknown-linux-gnu",
        "e3853c5a252fca15252d07cb23a1bdd9377a8c6f3efa01531109281ae47f841c",
    ),
    (
        "macos",
        "x86_64",
        "x86_64-apple-darwin",
        "9c331076f62b4d0edeae63d9d1c9442d5fe39b37b05025ec8d41c5ed35486496",
    ),
    (
        "macos",
        "aarch64",
        "aarch64-apple-darwin",
        "20ef5516c31b1ac2290084199ba77dbbcaa1406c45c1d978ca68558ef5964ef5",
    ),
];

/// Paths on the host, all absolute (from the probe).
pub struct Layout {
    /// `<install dir>/build`
    pub build: String,
    /// The unpacked bundle: `<build>/<stem>`.
    pub src: String,
    pub log: String,
    /// `<install dir>/toolchain`
    pub toolchain: String,
}

impl Layout {
    pub fn new(dir: &str, stem: &str) -> Layout {
        let build = format!("{dir}/build");
        Layout {
            src: format!("{build}/{stem}"),
            log: format!("{build}/build.log"),
            toolchain: format!("{dir}/toolchain"),
            build,
        }
    }

    fn toolchain_cargo(&self) -> String {
        format!("{}/cargo/bin/cargo", self.toolchain)
    }
}

/// What one way to build runs: command lines from `sh/build-*.sh` and the words they
/// use (each as `"$word"`), and where the binary will be.
#[derive(Debug)]
pub(crate) struct Steps {
    /// Name and shell word (quoted).
    words: Vec<(&'static str, String)>,
    lines: Vec<&'static str>,
    pub binary: String,
}

impl Steps {
    fn new(files: &[&'static str], words: &[(&'static str, &str)], binary: String) -> Steps {
        Steps {
            words: words.iter().map(|(name, value)| (*name, quote(value))).collect(),
            lines: files
                .iter()
                .flat_map(|f| f.lines())
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect(),
            binary,
        }
    }

    /// The lines as the shell runs them: each `"$word"` filled in, quoted as it is sent.
    pub fn shown(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|line| {
                self.words.iter().fold(line.to_string(), |l, (name, word)| {
                    l.replace(&format!("\"${name}\""), word)
                })
            })
            .collect()
    }
}

/// What `method` runs on this host; or why it cannot run here.
pub(crate) fn commands(method: Method, probe: &Probe, layout: &Layout) -> std::result::Result<Steps, String> {
    let target = format!("{}/target", layout.build);
    let cargo_output = format!("{target}/release/mlcremote");
    let rustup_home = format!("{}/rustup", layout.toolchain);
    let cargo_home = format!("{}/cargo", layout.toolchain);
    let toolchain_cargo = layout.toolchain_cargo();
    let bin_of = |cargo: &str| cargo.rsplit_once('/').map_or("/", |(dir, _)| dir).to_string();
    match method {
        Method::Docker => {
            let stem = layout.src.rsplit('/').next().unwrap_or_default();
            Ok(Steps::new(
                &[include_str!("../remote/sh/build-docker.sh")],
                &[
                    ("build", &layout.build),
                    ("workdir", &format!("/build/{stem}")),
                    ("image", DOCKER_IMAGE),
                ],
                format!("{}/docker-target/release/mlcremote", layout.build),
            ))
        }
        Method::Cargo => {
            let cargo = probe.cargo.as_deref().ok_or("the probe found no cargo")?;
            // The toolchain an earlier bootstrap installed needs its homes.
            let file = if cargo == toolchain_cargo {
                include_str!("../remote/sh/build-toolchain.sh")
            } else {
                include_str!("../remote/sh/build-cargo.sh")
            };
            Ok(Steps::new(
                &[file],
                &[
                    ("src", &layout.src),
                    ("cargo_bin", &bin_of(cargo)),
                    ("rustup_home", &rustup_home),
                    ("cargo_home", &cargo_home),
                    ("target", &target),
                    ("cargo", cargo),
                ],
                cargo_output,
            ))
        }
        Method::Bootstrap => {
            let platform = Platform::from_uname(&probe.uname).map_err(|e| e.to_string())?;
            let (build, sha) = RUSTUP_INIT
                .iter()
                .find(|(os, arch, _, _)| *os == platform.os && *arch == platform.arch)
                .map(|(_, _, build, sha)| (build, sha))
                .ok_or_else(|| format!("rustup-init has no pinned build for {} {}", platform.os, platform.arch))?;
            if !probe.has("curl") && !probe.has("wget") {
                return Err("neither curl nor wget is on the host to download rustup-init".into());
            }
            if !probe.has("sha256sum") && !probe.has("shasum") {
                return Err("neither sha256sum nor shasum is on the host to verify rustup-init".into());
            }
            // rustup-init's own build, but for Linux the host's libc (x86_64 fetches the
            // static musl rustup-init for every libc).
            let host = match (platform.os.as_str(), probe.libc.as_deref()) {
                ("linux", Some("musl")) => format!("{}-unknown-linux-musl", platform.arch),
                ("linux", _) => format!("{}-unknown-linux-gnu", platform.arch),
                _ => build.to_string(),
            };
            Ok(Steps::new(
                &[
                    include_str!("../remote/sh/build-rustup.sh"),
                    include_str!("../remote/sh/build-toolchain.sh"),
                ],
                &[
                    ("toolchain", &layout.toolchain),
                    ("init", &format!("{}/rustup-init", layout.toolchain)),
                    (
                        "url",
                        &format!("https://static.rust-lang.org/rustup/archive/{RUSTUP_VERSION}/{build}/rustup-init"),
                    ),
                    ("sha", sha),
                    ("default_host", &host),
                    ("src", &layout.src),
                    ("cargo_bin", &bin_of(&toolchain_cargo)),
                    ("rustup_home", &rustup_home),
                    ("cargo_home", &cargo_home),
                    ("target", &target),
                    ("cargo", &toolchain_cargo),
                ],
                cargo_output,
            ))
        }
    }
}

/// Put the uploaded bundle in place: `sh/unpack.sh`.
fn unpack_line(layout: &Layout) -> String {
    let stem = layout.src.rsplit('/').next().unwrap_or_default();
    scripts::script(
        &[
            ("b", quote(&layout.build)),
            ("stem", quote(stem)),
            ("log", quote(&layout.log)),
        ],
        include_str!("../remote/sh/unpack.sh"),
    )
}

/// Run the steps' lines (the commands the plan showed) one by one, logged: `sh/build.sh`.
fn build_script(method: Method, steps: &Steps, layout: &Layout) -> String {
    let mut words: Vec<(String, String)> = vec![
        ("log".into(), quote(&layout.log)),
        ("method".into(), quote(method.name())),
        ("bin".into(), quote(&steps.binary)),
        ("n".into(), steps.lines.len().to_string()),
    ];
    words.extend(steps.words.iter().map(|(n, w)| (n.to_string(), w.clone())));
    for (i, (line, shown)) in steps.lines.iter().zip(steps.shown()).enumerate() {
        words.push((format!("line_{}", i + 1), quote(line)));
        words.push((format!("shown_{}", i + 1), quote(&shown)));
    }
    let words: Vec<(&str, String)> = words.iter().map(|(n, w)| (n.as_str(), w.clone())).collect();
    // The lines are data here (quoted, expanded only when run): for the whole file.
    let script = scripts::script(&words, include_str!("../remote/sh/build.sh"));
    format!("# shellcheck disable=SC2016\n{script}")
}

/// The target a built binary says it is: `mlcremote 0.1.0 (x86_64-unknown-linux-gnu, commit abc)`.
pub fn target_of(version: &str) -> Option<Target> {
    let inner = version.split_once('(')?.1;
    Target::get(inner.split([',', ')']).next()?.trim())
}

/// What a build on the host came to.
pub enum Built {
    /// A binary for this host, on the host.
    Binary(Chosen),
    /// Every way failed or was declined, each with why: deploy then builds here.
    NotPossible(Vec<String>),
}

/// Build on the host under the deploy lock.
pub async fn build(
    session: &Session,
    probe: &Probe,
    platform: &Platform,
    methods: &[Method],
    yes: bool,
    bundle: &Bundle,
    reporter: &Reporter,
) -> Result<Built> {
    let host = reporter.host().to_string();
    let layout = Layout::new(&probe.dir, &bundle.stem);
    // The bundle goes up and is unpacked in the same exec.
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = bundle.data.len() as u64;
    let progress = reporter.upload_progress(sent.clone(), total);
    let out = session
        .run_with_payload(
            None,
            &unpack_line(&layout),
            bytes::Bytes::from(bundle.data.clone()),
            crate::ssh::Progress {
                sent: sent.clone(),
                counts_as: total,
            },
            BUILD_TIMEOUT,
            &mut |_| {},
        )
        .await;
    drop(progress);
    let out = out?;
    if out.status != 0 {
        return Err(script_error(&out, &probe.dir));
    }

    let mut reasons = Vec::new();
    for &method in methods {
        let steps = match commands(method, probe, &layout) {
            Ok(steps) => steps,
            Err(why) => {
                reasons.push(format!("{}: {why}", method.name()));
                continue;
            }
        };
        if method == Method::Bootstrap && !consented(&host, &steps.shown(), &layout, yes, reporter).await {
            reasons.push(format!("{}: not confirmed (pass --yes to allow it)", method.name()));
            continue;
        }
        reporter.note(format!(
            "building on the host with {} (log: {})",
            method.name(),
            layout.log
        ));
        let out = session
            .run_for(&build_script(method, &steps, &layout), BUILD_TIMEOUT)
            .await?;
        let failure = match built(&out, platform) {
            Ok((target, size, sha256)) => {
                return Ok(Built::Binary(Chosen {
                    target,
                    sha256,
                    size,
                    payload: Payload::OnHost(steps.binary),
                    packed: None,
                    origin: Origin::BuiltOnHost,
                    from: format!("built on {host} with {}", method.name()),
                    version: out
                        .field("version")
                        .and_then(|v| v.split_whitespace().nth(1))
                        .map(str::to_owned),
                }));
            }
            Err(failure) => failure,
        };
        let tail = session.run(&scripts::tail_script(&layout.log, 100)).await?;
        reporter.note(format!(
            "{failure}; last lines of {}:\n{}",
            layout.log,
            tail.stdout.trim_end()
        ));
        reasons.push(format!("{}: {failure} (see {})", method.name(), layout.log));
    }
    Ok(Built::NotPossible(reasons))
}

/// What a build script reported: the binary's target, size and sha256, or why it is no good.
fn built(out: &crate::ssh::Output, platform: &Platform) -> std::result::Result<(Target, u64, String), String> {
    if out.status != 0 {
        return Err(out.field("error").unwrap_or("the build failed").to_string());
    }
    let version = out.field("version").unwrap_or_default();
    let Some(target) = target_of(version) else {
        return Err(format!(
            "the built binary does not run here or names no target ({version:?})"
        ));
    };
    if !platform.targets().contains(&target) {
        return Err(format!(
            "the build made a binary for {}, which does not suit this host",
            target.triple
        ));
    }
    let sha256 = out.field("sha256").filter(|s| s.len() == 64);
    let Some(sha256) = sha256 else {
        return Err("cannot hash the built binary: no sha256sum, shasum or openssl on the host".into());
    };
    let size = out.field("size").and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((target, size, sha256.to_string()))
}

/// The bootstrap installs a toolchain on someone's host: show the exact commands, and
/// go ahead only with `--yes` or a "yes" from the person.
async fn consented(host: &str, lines: &[String], layout: &Layout, yes: bool, reporter: &Reporter) -> bool {
    let shown: String = lines.iter().map(|l| format!("  {l}\n")).collect();
    reporter.note(format!(
        "no Docker or cargo here; a Rust toolchain (rustup {RUSTUP_VERSION}, minimal profile) can be installed \
         into {} with:\n{shown}",
        layout.toolchain
    ));
    yes || reporter
        .ask(Question::Consent {
            question: format!("[{host}] run these commands on the host?"),
        })
        .await
        == Answer::Yes
}

/// What `--dry-run` shows for a build on the host: each way with its exact commands.
pub fn plan(probe: &Probe, methods: &[Method], stem: &str) -> BuildPlan {
    let layout = Layout::new(&probe.dir, stem);
    BuildPlan {
        dir: layout.build.clone(),
        log: layout.log.clone(),
        ways: methods
            .iter()
            .map(|&method| {
                let (commands, not_possible) = match commands(method, probe, &layout) {
                    Ok(steps) => (steps.shown(), None),
                    Err(why) => (Vec::new(), Some(why)),
                };
                BuildWay {
                    name: method.name().to_string(),
                    commands,
                    not_possible,
                    asks_first: method == Method::Bootstrap,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::status;

    fn probe(tools: &[&str], cargo: Option<&str>) -> Probe {
        Probe {
            uname: "Linux x86_64".into(),
            dir: "/home/ann/.mlcremote".into(),
            tools: tools.iter().map(|t| t.to_string()).collect(),
            cargo: cargo.map(str::to_owned),
            ..Probe::default()
        }
    }

    #[test]
    fn the_spec_order_and_auto_only_where_a_toolchain_is() {
        let all = probe(&["docker"], Some("/usr/bin/cargo"));
        assert_eq!(
            methods(BuildWhere::Remote, &all, true),
            [Method::Docker, Method::Cargo, Method::Bootstrap]
        );
        assert_eq!(methods(BuildWhere::Auto, &all, true), [Method::Docker, Method::Cargo]);
        assert_eq!(methods(BuildWhere::Auto, &all, false), [Method::Cargo]);
        let bare = probe(&["curl", "sha256sum", "docker"], None);
        assert_eq!(methods(BuildWhere::Remote, &bare, false), [Method::Bootstrap]);
        assert!(methods(BuildWhere::Auto, &bare, false).is_empty(), "auto builds here");
        assert!(methods(BuildWhere::Local, &all, true).is_empty());
    }

    #[test]
    fn docker_builds_the_bundle_offline_in_a_static_image_as_the_user() {
        let layout = Layout::new("/home/ann/.mlcremote", "mlcremote-0.1.0-src");
        let steps = commands(Method::Docker, &probe(&["docker"], None), &layout).unwrap();
        assert_eq!(
            steps.shown(),
            [
                "docker run --rm --user \"$(id -u):$(id -g)\" -v '/home/ann/.mlcremote/build':/build \
                 -w '/build/mlcremote-0.1.0-src' -e CARGO_HOME=/build/cargo-home -e CARGO_TARGET_DIR=/build/docker-target \
                 'docker.io/library/rust:1-alpine' cargo build --release --locked --offline --package mlcremote --bin mlcremote"
            ]
        );
        assert_eq!(
            steps.binary,
            "/home/ann/.mlcremote/build/docker-target/release/mlcremote"
        );
    }

    #[test]
    fn the_bootstrap_pins_and_verifies_rustup_init_and_stays_in_the_install_dir() {
        let layout = Layout::new("/home/ann/.mlcremote", "mlcremote-0.1.0-src");
        let steps = commands(Method::Bootstrap, &probe(&["curl", "sha256sum"], None), &layout).unwrap();
        let t = "/home/ann/.mlcremote/toolchain";
        assert_eq!(
            steps.shown(),
            [
                format!("mkdir -p '{t}'"),
                format!(
                    "if command -v curl >/dev/null 2>&1; then curl --proto '=https' --tlsv1.2 -fsSL -o '{t}/rustup-init' \
                     'https://static.rust-lang.org/rustup/archive/1.28.2/x86_64-unknown-linux-musl/rustup-init'; \
                     else wget -q -O '{t}/rustup-init' \
                     'https://static.rust-lang.org/rustup/archive/1.28.2/x86_64-unknown-linux-musl/rustup-init'; fi"
                ),
                format!(
                    "if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum '{t}/rustup-init'); \
                     else sum=$(shasum -a 256 '{t}/rustup-init'); fi; test \"${{sum%% *}}\" = \
                     'e6599a1c7be58a2d8eaca66a80e0dc006d87bbcf780a58b7343d6e14c1605cb2'"
                ),
                format!("chmod 0755 '{t}/rustup-init'"),
                format!(
                    "RUSTUP_HOME='{t}/rustup' CARGO_HOME='{t}/cargo' '{t}/rustup-init' -y --no-modify-path \
                     --profile minimal --default-toolchain stable --default-host 'x86_64-unknown-linux-gnu'"
                ),
                format!(
                    "cd '/home/ann/.mlcremote/build/mlcremote-0.1.0-src' && PATH='{t}/cargo/bin':\"$PATH\" \
                     RUSTUP_HOME='{t}/rustup' CARGO_HOME='{t}/cargo' CARGO_TARGET_DIR='/home/ann/.mlcremote/build/target' \
                     '{t}/cargo/bin/cargo' build --release --locked --offline --package mlcremote --bin mlcremote"
                ),
            ]
        );
        assert_eq!(steps.binary, "/home/ann/.mlcremote/build/target/release/mlcremote");

        let alpine = Probe {
            libc: Some("musl".into()),
            ..probe(&["curl", "sha256sum"], None)
        };
        let lines = commands(Method::Bootstrap, &alpine, &layout).unwrap().shown();
        assert!(
            lines[4].ends_with(" --default-host 'x86_64-unknown-linux-musl'"),
            "{}",
            lines[4]
        );
        let mac = Probe {
            uname: "Darwin arm64".into(),
            ..probe(&["curl", "shasum"], None)
        };
        let lines = commands(Method::Bootstrap, &mac, &layout).unwrap().shown();
        assert!(
            lines[4].ends_with(" --default-host 'aarch64-apple-darwin'"),
            "{}",
            lines[4]
        );
        assert!(commands(Method::Bootstrap, &probe(&["wget", "shasum"], None), &layout).is_ok());
        let neither = commands(Method::Bootstrap, &probe(&["sha256sum"], None), &layout).unwrap_err();
        assert!(neither.contains("curl nor wget"), "{neither}");
        let unverifiable = commands(Method::Bootstrap, &probe(&["curl"], None), &layout).unwrap_err();
        assert!(unverifiable.contains("sha256sum nor shasum"), "{unverifiable}");
    }

    /// As sent, the build's scripts pass shellcheck for every way to build, and so do the
    /// lines with their words; run by `sh` for real, the lines run as shown, logged, and
    /// the first that fails stops it.
    #[test]
    fn the_build_runs_its_lines_as_shown_and_logs_them() {
        let layout = Layout::new("/home/ann/.mlcremote", "mlcremote-0.1.0-src");
        let all = probe(&["docker", "curl", "sha256sum"], Some("/usr/bin/cargo"));
        let ours = probe(&[], Some("/home/ann/.mlcremote/toolchain/cargo/bin/cargo"));
        for (method, probe) in [
            (Method::Docker, &all),
            (Method::Cargo, &all),
            (Method::Cargo, &ours),
            (Method::Bootstrap, &all),
        ] {
            let steps = commands(method, probe, &layout).unwrap();
            scripts::shellcheck("build.sh", &build_script(method, &steps, &layout));
            // The lines themselves, which build.sh holds as data, with their words.
            let words: Vec<(&str, String)> = steps.words.iter().map(|(n, w)| (*n, w.clone())).collect();
            scripts::shellcheck(
                &format!("{} lines", method.name()),
                &scripts::script(&words, &steps.lines.join("\n")),
            );
            // Every variable a line uses is one of its words (filled in when shown), but
            // the shell's PATH and what a line sets itself.
            for line in &steps.lines {
                for var in line.split('$').skip(1) {
                    let name: String = var
                        .trim_start_matches('{')
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        name.is_empty()
                            || ["PATH", "sum"].contains(&name.as_str())
                            || steps.words.iter().any(|(n, _)| *n == name),
                        "{name} in {line}"
                    );
                }
            }
            for line in steps.shown() {
                assert!(
                    !steps.words.iter().any(|(n, _)| line.contains(&format!("\"${n}\""))),
                    "{line}"
                );
            }
        }
        scripts::shellcheck("unpack.sh", &unpack_line(&layout));

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("it's here");
        let layout = Layout::new(&dir.to_string_lossy(), "mlcremote-0.1.0-src");
        std::fs::create_dir_all(&layout.build).unwrap();
        let out_dir = format!("{}/out", layout.build);
        let bin = format!("{out_dir}/mlcremote");
        let steps = |lines: &[&'static str]| Steps {
            words: vec![("out", quote(&out_dir)), ("bin", quote(&bin))],
            lines: lines.to_vec(),
            binary: bin.clone(),
        };
        let run = |steps: &Steps| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(build_script(Method::Cargo, steps, &layout))
                .output()
                .unwrap()
        };
        let lines = [
            "mkdir -p \"$out\"",
            "printf '#!/bin/sh\\necho \"mlcremote 9 (x, commit y)\"\\n' >\"$bin\" && chmod +x \"$bin\"",
        ];
        let out = run(&steps(&lines));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(stdout.contains(&format!("binary={bin}\n")), "{stdout}");
        assert!(stdout.contains("version=mlcremote 9 (x, commit y)"), "{stdout}");
        let log = std::fs::read_to_string(&layout.log).unwrap();
        assert!(
            log.starts_with(&format!("== building with cargo\n+ mkdir -p {}\n", quote(&out_dir))),
            "{log}"
        );
        let out = run(&steps(&[lines[0], "false", lines[1]]));
        assert_eq!(out.status.code(), Some(status::BUILD_FAILED as i32), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("error=building with cargo failed"));
    }

    #[test]
    fn a_users_own_cargo_runs_with_its_own_homes() {
        let layout = Layout::new("/home/ann/.mlcremote", "mlcremote-0.1.0-src");
        let steps = commands(Method::Cargo, &probe(&[], Some("/home/ann/.cargo/bin/cargo")), &layout).unwrap();
        assert_eq!(
            steps.shown(),
            [
                "cd '/home/ann/.mlcremote/build/mlcremote-0.1.0-src' && PATH='/home/ann/.cargo/bin':\"$PATH\" \
              CARGO_TARGET_DIR='/home/ann/.mlcremote/build/target' '/home/ann/.cargo/bin/cargo' build --release \
              --locked --offline --package mlcremote --bin mlcremote"
            ]
        );
    }

    #[test]
    fn a_build_counts_only_with_a_binary_for_this_host_and_its_hash() {
        let linux = Platform::from_uname("Linux x86_64").unwrap();
        let sha = "a".repeat(64);
        let out = |status, stdout: &str| crate::ssh::Output {
            stdout: stdout.into(),
            stderr: String::new(),
            status,
        };
        let good =
            format!("binary=/b\nsha256={sha}\nsize=42\nversion=mlcremote 0.1.0 (x86_64-unknown-linux-gnu, commit x)\n");
        let (target, size, hash) = built(&out(0, &good), &linux).unwrap();
        assert_eq!(
            (target.triple, size, hash.as_str()),
            ("x86_64-unknown-linux-gnu", 42, sha.as_str())
        );
        assert_eq!(
            built(&out(78, "error=building with cargo failed\n"), &linux).unwrap_err(),
            "building with cargo failed"
        );
        let arm = good.replace("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu");
        assert!(
            built(&out(0, &arm), &linux)
                .unwrap_err()
                .contains("does not suit this host")
        );
        let unhashed = good.replace(&sha, "none");
        assert!(built(&out(0, &unhashed), &linux).unwrap_err().contains("cannot hash"));
        let silent = good.replace(
            "version=mlcremote 0.1.0 (x86_64-unknown-linux-gnu, commit x)",
            "version=",
        );
        assert!(
            built(&out(0, &silent), &linux)
                .unwrap_err()
                .contains("does not run here")
        );
    }

    #[test]
    fn the_target_comes_from_the_binarys_own_version_line() {
        assert_eq!(
            target_of("mlcremote 0.1.0 (x86_64-unknown-linux-gnu, commit 7d8bb1f)").map(|t| t.triple),
            Some("x86_64-unknown-linux-gnu")
        );
        assert_eq!(target_of("mlcremote 0.1.0"), None);
        assert_eq!(target_of("mlcremote 0.1.0 (sparc-sun-solaris, commit x)"), None);
    }
}
