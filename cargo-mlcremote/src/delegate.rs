//! How the library talks to the person using it: through a [`Delegate`] the front end
//! implements (the CLI with progress bars and terminal prompts, the browser UI with its
//! page), never through the terminal itself.
//!
//! The library reports what happens as [`Event`]s and asks its questions (trust this
//! host key? the passphrase? consent to a toolchain install?) as [`Question`]s. A
//! [`Reporter`] binds a delegate to one host, lets hosts deployed in parallel ask one at
//! a time, and keeps the time spent answering out of the step timings.

use std::{
    future::Future,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;

/// A step of deploy (and of the commands around it), as reports and progress name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Step {
    #[serde(rename = "connect")]
    Connect,
    #[serde(rename = "probe")]
    Probe,
    #[serde(rename = "choose")]
    Choose,
    #[serde(rename = "lock")]
    Lock,
    #[serde(rename = "build")]
    Build,
    #[serde(rename = "upload")]
    Upload,
    #[serde(rename = "download")]
    Download,
    #[serde(rename = "copy")]
    Copy,
    #[serde(rename = "install+start")]
    InstallStart,
    #[serde(rename = "health")]
    Health,
}

impl Step {
    /// The name reports and progress lines use.
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Probe => "probe",
            Step::Choose => "choose",
            Step::Lock => "lock",
            Step::Build => "build",
            Step::Upload => "upload",
            Step::Download => "download",
            Step::Copy => "copy",
            Step::InstallStart => "install+start",
            Step::Health => "health",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Something that happened, for the front end to show (or not).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step began.
    StepStarted { step: Step },
    /// A step ended well, after `ms` (time spent answering questions not counted).
    StepDone { step: Step, ms: u64 },
    /// Bytes of the server binary (or source bundle) sent to the host.
    Upload { sent: u64, total: u64 },
    /// Bytes of a release archive received (`total` 0 when the server did not say).
    Download { done: u64, total: u64 },
    /// Something to read on the way: a fallback taken, a failed build's log.
    Note { text: String },
    /// A line a local build printed.
    BuildOutput { line: String },
    /// A remote script ran (for `-v`): the script, how it ended, how long it took.
    Remote { script: String, outcome: String, ms: u64 },
}

/// Something only the person can answer.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "ask", rename_all = "snake_case")]
pub enum Question {
    /// A host key seen for the first time: trust it (and record it)?
    TrustHostKey {
        /// `host` or `[host]:port`, as known_hosts names it.
        host: String,
        algorithm: String,
        /// `SHA256:…`
        fingerprint: String,
    },
    /// The passphrase of an encrypted key file.
    Passphrase { key: PathBuf },
    /// The password for `destination` (password and keyboard-interactive auth).
    Password { destination: String },
    /// Consent to something done on the host on the user's behalf; what exactly was
    /// shown in a [`Event::Note`] just before.
    Consent { question: String },
}

/// What the person said.
#[derive(Clone, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// A passphrase or password: used for this login only, never stored.
    Secret(String),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Yes => f.write_str("Yes"),
            Answer::No => f.write_str("No"),
            Answer::Secret(_) => f.write_str("Secret(…)"),
        }
    }
}

/// A boxed future, for [`Delegate::ask`].
pub type Asking = Pin<Box<dyn Future<Output = Answer> + Send + 'static>>;

/// What a front end implements to show events and answer questions.
pub trait Delegate: Send + Sync {
    /// Show (or drop) an event about `host` (the host as the user named it).
    fn event(&self, host: &str, event: Event);

    /// Whether anyone is there to answer questions at all. When not, the library does
    /// not ask and says what to pass instead (`--accept-new-host-key`, `--yes`, ...).
    fn can_ask(&self) -> bool {
        false
    }

    /// Ask the person; only called when [`Delegate::can_ask`] says so.
    fn ask(&self, _host: &str, _question: Question) -> Asking {
        Box::pin(async { Answer::No })
    }
}

/// Shows nothing, asks nothing.
pub struct Silent;

impl Delegate for Silent {
    fn event(&self, _: &str, _: Event) {}
}

/// A delegate bound to one host.
#[derive(Clone)]
pub struct Reporter {
    host: Arc<str>,
    delegate: Arc<dyn Delegate>,
    answering: Arc<Mutex<Answering>>,
}

/// An upload's progress while its bytes go: what `sent` counts is reported every 100 ms
/// when it moved, and once more when this is dropped.
pub struct UploadProgress {
    task: tokio::task::JoinHandle<()>,
    sent: Arc<std::sync::atomic::AtomicU64>,
    total: u64,
    reporter: Reporter,
}

impl Drop for UploadProgress {
    fn drop(&mut self) {
        self.task.abort();
        let sent = self.sent.load(std::sync::atomic::Ordering::Relaxed);
        self.reporter.event(Event::Upload {
            sent,
            total: self.total,
        });
    }
}

/// Time spent waiting for answers: finished questions, and the one asked now, if any.
#[derive(Default)]
struct Answering {
    done: Duration,
    since: Option<Instant>,
}

/// One question at a time across every host of the process.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Reporter {
    /// Report the progress of an upload of `total` bytes, of which `sent` have gone,
    /// until the returned guard is dropped.
    pub fn upload_progress(&self, sent: Arc<std::sync::atomic::AtomicU64>, total: u64) -> UploadProgress {
        let task = {
            let (sent, reporter) = (sent.clone(), self.clone());
            tokio::spawn(async move {
                let mut last = u64::MAX;
                loop {
                    let now = sent.load(std::sync::atomic::Ordering::Relaxed);
                    if now != last {
                        reporter.event(Event::Upload { sent: now, total });
                        last = now;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        UploadProgress {
            task,
            sent,
            total,
            reporter: self.clone(),
        }
    }

    /// Report about `host` (as the user named it) to `delegate`.
    pub fn new(host: impl Into<Arc<str>>, delegate: Arc<dyn Delegate>) -> Reporter {
        Reporter {
            host: host.into(),
            delegate,
            answering: Arc::new(Mutex::new(Answering::default())),
        }
    }

    /// A reporter that shows nothing (for library callers that want no output).
    pub fn silent(host: impl Into<Arc<str>>) -> Reporter {
        Reporter::new(host, Arc::new(Silent))
    }

    /// The host as the user named it.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn event(&self, event: Event) {
        self.delegate.event(&self.host, event);
    }

    pub fn note(&self, text: impl Into<String>) {
        self.event(Event::Note { text: text.into() });
    }

    pub fn can_ask(&self) -> bool {
        self.delegate.can_ask()
    }

    /// Ask, waiting for other hosts' questions to be answered first. The time spent
    /// here is not counted in any step.
    pub async fn ask(&self, question: Question) -> Answer {
        if !self.delegate.can_ask() {
            return Answer::No;
        }
        let asked = Instant::now();
        self.answering.lock().unwrap_or_else(|e| e.into_inner()).since = Some(asked);
        let answer = {
            let _turn = TURN.lock().await;
            self.delegate.ask(&self.host, question).await
        };
        let mut answering = self.answering.lock().unwrap_or_else(|e| e.into_inner());
        answering.done += asked.elapsed();
        answering.since = None;
        answer
    }

    /// Time spent waiting for answers so far, the question asked now included.
    pub fn answering(&self) -> Duration {
        let answering = self.answering.lock().unwrap_or_else(|e| e.into_inner());
        answering.done + answering.since.map_or(Duration::ZERO, |s| s.elapsed())
    }
}

/// One step of a report and how long it took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StepTime {
    pub name: Step,
    pub ms: u64,
}

/// Times the steps of one run for one host, leaving out time spent answering.
pub struct Steps {
    reporter: Reporter,
    started: Instant,
    answering_at_start: Duration,
    done: Vec<StepTime>,
    /// The step announced last and not done yet, and the last one done.
    current: std::sync::Mutex<(Option<Step>, Option<Step>)>,
}

impl Steps {
    pub fn new(reporter: Reporter) -> Steps {
        let answering_at_start = reporter.answering();
        Steps {
            reporter,
            started: Instant::now(),
            answering_at_start,
            done: Vec::new(),
            current: std::sync::Mutex::new((None, None)),
        }
    }

    pub fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    /// Announce `step` (for progress displays); its time runs from the last step's end.
    pub fn start(&self, step: Step) {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(step);
        self.reporter.event(Event::StepStarted { step });
    }

    /// `e`, saying which step it broke when the connection failed under it (a lost
    /// connection is the same error whatever the step; the person needs to know where,
    /// and whether the last step had ended: then the host may have finished).
    pub fn failed(&self, e: crate::error::Error) -> crate::error::Error {
        if e.kind() != crate::error::Kind::Connect {
            return e;
        }
        match *self.current.lock().unwrap_or_else(|p| p.into_inner()) {
            (Some(step), _) => e.during(step.name()),
            (None, Some(last)) => e.during(&format!(
                "the step after {last}; `cargo mlcremote status` says what runs now"
            )),
            (None, None) => e,
        }
    }

    /// `step` ended: record and report how long it took since the last one ended.
    pub fn done(&mut self, step: Step) {
        let answering = self.reporter.answering();
        let took = self
            .started
            .elapsed()
            .saturating_sub(answering.saturating_sub(self.answering_at_start));
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = (None, Some(step));
        self.reporter.event(Event::StepDone { step, ms });
        self.done.push(StepTime { name: step, ms });
        self.started = Instant::now();
        self.answering_at_start = answering;
    }

    /// The steps recorded so far, taken out.
    pub fn take(&mut self) -> Vec<StepTime> {
        std::mem::take(&mut self.done)
    }
}
