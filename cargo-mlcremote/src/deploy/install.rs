//! SPEC §6 steps 5–8: the binary goes up (or is copied or downloaded on the host) and
//! the agent installs it, in one exec; the upload split over channels as the link needs.

use std::{sync::Arc, time::Duration};

use super::{Executor, Installed, Sent, lock::LOCK_WAIT};
use crate::{
    artifact::Payload,
    delegate::{Reporter, Step, Steps},
    err,
    error::Result,
    remote::{
        agent::{self, AgentStep, Event as AgentEvent},
        script_error, status, upload,
    },
    ssh::{Progress, random_hex},
};

impl Executor<'_> {
    /// SPEC §6 steps 5–8 in one exec: the binary goes up (or is copied where it was
    /// built), checks it runs, and its own `agent install` takes the lock on the host,
    /// swaps, starts, waits for `/health` and rolls back on failure. Each step is marked
    /// done as its line arrives.
    pub(super) async fn install(
        &mut self,
        mut channels: Vec<crate::ssh::Channel>,
        lock_holder: Option<u32>,
    ) -> Result<Installed> {
        let chosen = self
            .chosen
            .clone()
            .ok_or_else(|| err!(Other, "nothing was chosen to install"))?;
        let dir = self.probe.dir.clone();
        let (payload, receive, place) = self.what_to_send(&chosen, channels.len()).await;
        self.steps.start(place);
        // The first part goes on the channel that installs: it is the first one made (the
        // step's time counts the wait for it).
        let first = match payload.parts.first() {
            Some(part) => Some(part.bytes().await?),
            None => None,
        };
        let receive = receive.unwrap_or_else(|| upload::Receive::Upload {
            parts: payload.parts.len(),
            packing: payload.packing.clone(),
            first: payload.parts.first().map_or(0, |p| p.holds),
        });
        let id = random_hex(6);
        let owner = super::lock::owner();
        // The host reports steps as they end; each one's end starts the next, so a front
        // end always knows which step runs (and which one failed).
        let locked_already = lock_holder.is_some();
        let install = upload::Install {
            dir: &dir,
            id: &id,
            receive,
            sha256: &chosen.sha256,
            size: chosen.size,
            port: self.options.server_port,
            root: self.plan.root.as_deref(),
            methods: &self.plan.start_methods,
            health_timeout_secs: self.options.health_timeout.as_secs(),
            owner: &owner,
            lock_holder,
            wait_secs: self.session.connect_timeout().as_secs().max(1),
            idle_secs: self.session.dead_after().as_secs().max(1),
        };
        let timeout = self.options.health_timeout + LOCK_WAIT + Duration::from_secs(3600);
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let session = self.session;
        let reporter = self.steps.reporter().clone();

        // Progress of the bytes, shown while they go.
        let progress = reporter.upload_progress(sent.clone(), payload.holds());
        let mut extra = channels.split_off(1.min(channels.len()));
        let main_channel = channels.pop();
        // Each other part goes on its channel once it is made.
        let parts_done = futures_util::future::join_all(payload.parts.iter().enumerate().skip(1).map(|(k, part)| {
            let channel = (!extra.is_empty()).then(|| extra.remove(0));
            let (install, sent) = (&install, sent.clone());
            async move {
                let data = part.bytes().await?;
                let line = install.part_line(k, part.holds);
                let counted = Progress {
                    sent,
                    counts_as: part.holds,
                };
                session
                    .run_with_payload(channel, &line, data, counted, timeout, &mut |_| {})
                    .await
            }
        }));
        let counted = Progress {
            sent: sent.clone(),
            counts_as: payload.parts.first().map_or(0, |p| p.holds),
        };
        let main_line = install.main_line();
        let steps = &mut *self.steps;
        let mut on_line = |line: &str| follow_install(line, steps, &reporter, &dir, place, locked_already);
        let main = session.run_with_payload(
            main_channel,
            &main_line,
            first.unwrap_or_default(),
            counted,
            timeout,
            &mut on_line,
        );
        let (main, parts) = futures_util::future::join(main, parts_done).await;
        drop(progress);
        drop(extra);
        let out = main?;
        for part in parts {
            let part = part?;
            if part.status != 0 {
                return Err(script_error(&part, &self.probe.dir));
            }
        }
        if matches!(install.receive, upload::Receive::Download { .. }) && out.status == status::DOWNLOAD_FAILED {
            self.host_could_not_download = true;
        }
        match agent::outcome(&out, &self.probe.dir)? {
            AgentEvent::Done {
                health,
                port,
                start_method,
                ..
            } => Ok(Installed {
                health,
                port,
                start_method: Some(start_method),
                sent: matches!(install.receive, upload::Receive::Upload { .. }).then(|| Sent {
                    bytes: payload.made_len(),
                    packing: payload.packing.name(),
                }),
            }),
            _ => Err(script_error(&out, &self.probe.dir)),
        }
    }

    /// What goes over the wire for `chosen`, how the host gets it (`None`: as the
    /// payload's parts, uploaded) and which step that is: the bytes (compressed for this
    /// link, split over as many of `channels` as it needs), a copy of what was built
    /// there, or a download by the host.
    async fn what_to_send<'c>(
        &self,
        chosen: &'c crate::artifact::Chosen,
        channels: usize,
    ) -> (upload::Payload, Option<upload::Receive<'c>>, Step) {
        let nothing = || upload::Payload {
            parts: Vec::new(),
            packing: upload::Packing::Raw,
        };
        match &chosen.payload {
            Payload::Bytes(bytes) => {
                let compress = upload::compress_for(self.session.round_trip());
                let parts_for =
                    |len| upload::upload_parts(len, self.session.small_window(), self.session.round_trip(), channels);
                let payload = self
                    .options
                    .cache
                    .payload(chosen, bytes, &self.probe, compress, parts_for)
                    .await;
                (payload, None, Step::Upload)
            }
            Payload::OnHost(from) => (nothing(), Some(upload::Receive::Copy { from }), Step::Copy),
            Payload::Url(remote) => {
                let receive = upload::Receive::Download {
                    url: &remote.url,
                    archive_sha256: &remote.archive_sha256,
                    inner: &remote.inner,
                };
                (nothing(), Some(receive), Step::Download)
            }
        }
    }
}

/// One line of the install exec as it comes: the receiver's `received=1` ends the
/// upload (copy, download) step `place`, the agent's steps end theirs and start the
/// next, so a front end always knows which step runs (and which one failed).
fn follow_install(line: &str, steps: &mut Steps, reporter: &Reporter, dir: &str, place: Step, locked_already: bool) {
    if line == "received=1" {
        steps.done(place);
        steps.start(if locked_already { Step::InstallStart } else { Step::Lock });
        return;
    }
    match AgentEvent::parse(line) {
        Some(AgentEvent::Waiting { holder, since }) => {
            reporter.note(format!(
                "waiting for the deploy lock in {dir} (held by {holder} since {since})"
            ));
        }
        Some(AgentEvent::Step { step, .. }) => match step {
            AgentStep::Lock => {
                steps.done(Step::Lock);
                steps.start(Step::InstallStart);
            }
            AgentStep::InstallStart => {
                steps.done(Step::InstallStart);
                steps.start(Step::Health);
            }
            AgentStep::Health => steps.done(Step::Health),
            _ => {}
        },
        _ => {}
    }
}
