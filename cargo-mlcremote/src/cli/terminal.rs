//! The CLI's [`Delegate`]: progress bars on a terminal, plain lines otherwise, nothing
//! with `--json`/`-q`; questions asked at the terminal with the bars out of the way.

use std::{
    io::{IsTerminal, Write},
    sync::{Arc, Mutex},
    time::Duration,
};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mlcremote_client::delegate::{Answer, Asking, Delegate, Event, Question};

use super::output::sanitize;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// A line per host, redrawn (stderr is a terminal).
    Bars,
    /// `[host] step (12 ms)` lines on stderr.
    Lines,
    /// Only notes (`--json`, `-q`).
    Quiet,
}

/// The terminal as the library's delegate.
pub struct Terminal {
    display: Display,
    /// `-v`: show each remote script and how it ended.
    verbose: bool,
    /// Whether questions can be asked (stdin and stderr are terminals, stdin is free).
    interactive: bool,
    multi: MultiProgress,
    bars: Mutex<Vec<(String, ProgressBar)>>,
}

impl Terminal {
    /// `stdin_free`: false when stdin carries data (`--password-stdin`).
    pub fn new(display: Display, verbose: bool, stdin_free: bool) -> Arc<Terminal> {
        let interactive = stdin_free && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let display = match display {
            Display::Bars if !std::io::stderr().is_terminal() => Display::Lines,
            other => other,
        };
        Arc::new(Terminal {
            display,
            verbose,
            interactive,
            multi: MultiProgress::new(),
            bars: Mutex::new(Vec::new()),
        })
    }

    /// A spinner for each host, before anything happens (so the order is the given one).
    pub fn hosts(&self, hosts: &[String]) {
        if self.display == Display::Bars {
            for host in hosts {
                self.bar(host).set_message("connecting");
            }
        }
    }

    fn bar(&self, host: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, bar)) = bars.iter().find(|(h, _)| h == host) {
            return bar.clone();
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {msg}") {
            bar.set_style(style);
        }
        bar.set_prefix(host.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        bars.push((host.to_string(), bar.clone()));
        bar
    }

    /// A byte count against a bar on the host's line.
    fn transfer(&self, host: &str, what: &str, done: u64, total: u64) {
        let bar = self.bar(host);
        let total = total.max(done);
        if bar.length() != Some(total) || bar.message() != what {
            let template =
                format!("{{spinner}} {{prefix}} {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}}");
            bar.set_length(total);
            bar.set_message(what.to_string());
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
        }
        bar.set_position(done);
    }

    /// Remove the bars (before the final report).
    pub fn clear(&self) {
        for (_, bar) in self.bars.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            bar.finish_and_clear();
        }
    }

    /// A line on stderr above any bars.
    pub fn line(&self, text: &str) {
        if self.display == Display::Bars {
            let _ = self.multi.println(text);
        } else {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    /// Ask at the terminal, the bars hidden meanwhile so the question and what is typed
    /// stay on screen. Runs on a blocking thread.
    fn prompt(multi: &MultiProgress, question: &Question) -> Answer {
        multi.set_draw_target(ProgressDrawTarget::hidden());
        let _ = multi.clear();
        let answer = match question {
            Question::TrustHostKey {
                host,
                algorithm,
                fingerprint,
            } => {
                let text = format!(
                    "The authenticity of host '{host}' can't be established.\n{algorithm} key fingerprint is \
                     {fingerprint}.\nAre you sure you want to continue connecting (yes/no)? "
                );
                yes_if(read_line(&text).trim().eq_ignore_ascii_case("yes"))
            }
            Question::Passphrase { key } => match secret(&format!("Enter passphrase for key '{}': ", key.display())) {
                Ok(secret) => Answer::Secret(secret),
                Err(_) => Answer::No,
            },
            Question::Password { destination } => match secret(&format!("{destination}'s password: ")) {
                Ok(secret) => Answer::Secret(secret),
                Err(_) => Answer::No,
            },
            Question::Consent { question } => yes_if(matches!(
                read_line(&format!("{question} [y/N] ")).trim(),
                "y" | "Y" | "yes"
            )),
        };
        multi.set_draw_target(ProgressDrawTarget::stderr());
        answer
    }
}

/// A secret typed at the terminal, never shown: echo goes off *before* the question is
/// shown, so what is typed the moment it appears is not echoed either (rpassword shows
/// the question first, then turns echo off), and comes back however the read ends.
#[cfg(unix)]
fn secret(prompt: &str) -> std::io::Result<String> {
    use std::{
        io::{BufRead, Write},
        os::fd::AsRawFd,
    };
    struct Restore(i32, libc::termios);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: the fd is still open (the file outlives this guard); the settings
            // are the ones read from it.
            unsafe { libc::tcsetattr(self.0, libc::TCSANOW, &self.1) };
        }
    }
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: `fd` is open; tcgetattr fills `saved` when it returns 0.
    if unsafe { libc::tcgetattr(fd, saved.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful tcgetattr above.
    let saved = unsafe { saved.assume_init() };
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // TCSANOW: what was typed ahead stays, to be read.
    // SAFETY: `fd` is open and `quiet` a valid termios.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let restore = Restore(fd, saved);
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    let mut line = String::new();
    std::io::BufReader::new(&tty).read_line(&mut line)?;
    drop(restore);
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(not(unix))]
fn secret(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

fn yes_if(yes: bool) -> Answer {
    if yes { Answer::Yes } else { Answer::No }
}

/// Print `prompt` on stderr and read a line from the terminal.
fn read_line(prompt: &str) -> String {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(prompt.as_bytes());
    let _ = stderr.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer
}

/// Ask a yes/no question at the terminal before anything connects (uninstall).
pub fn confirm(question: &str) -> bool {
    std::io::stdin().is_terminal() && matches!(read_line(&format!("{question} [y/N] ")).trim(), "y" | "Y" | "yes")
}

impl Delegate for Terminal {
    fn event(&self, host: &str, event: Event) {
        match event {
            Event::StepStarted { .. } => {}
            Event::StepDone { step, ms } => match self.display {
                Display::Bars => {
                    let bar = self.bar(host);
                    if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {msg}") {
                        bar.set_style(style);
                    }
                    bar.set_message(format!("{step} done ({ms} ms)"));
                }
                Display::Lines => self.line(&format!("[{host}] {step} ({ms} ms)")),
                Display::Quiet => {}
            },
            Event::Upload { sent, total } if self.display == Display::Bars => {
                self.transfer(host, "uploading", sent, total)
            }
            Event::Download { done, total } if self.display == Display::Bars => {
                self.transfer(host, "downloading", done, total)
            }
            Event::Upload { .. } | Event::Download { .. } => {}
            // Rare and worth reading (a key recorded, a lock waited for, a fallback
            // taken): shown even with --json and -q, on stderr.
            Event::Note { text } => self.line(&sanitize(&format!("[{host}] {text}"))),
            Event::BuildOutput { line } => {
                if self.display != Display::Quiet {
                    self.line(&sanitize(&line));
                }
            }
            Event::Remote { script, outcome, ms } => {
                if self.verbose {
                    self.line(&sanitize(&format!(
                        "[{host}] $ sh -s <<'SCRIPT'\n{script}\nSCRIPT\n[{host}] {outcome} in {ms} ms"
                    )));
                }
            }
        }
    }

    fn can_ask(&self) -> bool {
        self.interactive
    }

    fn ask(&self, _host: &str, question: Question) -> Asking {
        let multi = self.multi.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || Terminal::prompt(&multi, &question))
                .await
                .unwrap_or(Answer::No)
        })
    }
}
