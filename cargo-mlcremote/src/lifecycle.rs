//! `status`, `logs`, `stop`, `restart`, `uninstall`, `tunnel` and `probe`: the commands
//! around deploy, each over one SSH connection with the same options (SPEC §6).

use std::{future::Future, sync::Arc, time::Duration};

use mlcremote_release::target::Platform;
use serde::Serialize;

use crate::{
    delegate::Reporter,
    err,
    error::Result,
    remote::{
        self, Health, InstallInfo, Probe, StartMethod,
        agent::{self, Event},
        health, script_error, scripts, start,
    },
    ssh::{HttpError, Route, Session, Stream},
};

/// Connect and probe: what every command starts with.
pub async fn open(route: &Route, install_dir: &str, reporter: &Reporter) -> Result<(Session, Probe)> {
    let session = Session::connect(&route.destination, &route.options, reporter).await?;
    let probe = Probe::run(&session, install_dir).await?;
    Ok((session, probe))
}

/// What [`open_with_token`] learnt of the running server beside the probe.
pub struct ServerAccess {
    pub port: u16,
    /// Its token (never sent to a browser).
    pub token: String,
    /// Its JSON answer for the root's listing (`GET /api/tree?path=`), where small.
    pub root_listing: Option<String>,
}

/// [`open`] for a front end that talks to the server: the installed agent is asked for
/// its server's token and the root's listing on a second channel beside the probe's, in
/// the same round trips (not after it). `None` when no server runs there or its agent
/// has no `token --tree` (older: the front end then asks for the token alone).
pub async fn open_with_token(
    route: &Route,
    install_dir: &str,
    reporter: &Reporter,
) -> Result<(Session, Probe, Option<ServerAccess>)> {
    let session = Session::connect(&route.destination, &route.options, reporter).await?;
    let token = agent::agent_command_in(install_dir, "token --tree");
    let (probe, token) = tokio::join!(Probe::run(&session, install_dir), session.run(&token));
    let probe = probe?;
    let access = match (
        probe.running_server(),
        token.map(|out| agent::outcome(&out, &probe.dir)),
    ) {
        (Some(server), Ok(Ok(Event::Token { token, tree }))) if !token.is_empty() => Some(ServerAccess {
            port: server.port,
            token,
            root_listing: tree,
        }),
        _ => None,
    };
    Ok((session, probe, access))
}

/// `cargo mlcremote status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// The host as the user named it.
    pub host: String,
    pub install_dir: String,
    pub installed: bool,
    pub install: Option<InstallInfo>,
    /// The installed binary's `--version` line.
    pub binary_version: Option<String>,
    pub system_service: Option<String>,
    pub running: bool,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub healthy: bool,
    pub health: Option<Health>,
}

pub async fn status(session: &Session, probe: &Probe, host: &str) -> Status {
    let server = probe.running_server();
    // The installed binary answered for its server in the probe; an older one is asked
    // through the SSH connection.
    let health = match (server, &probe.agent) {
        (Some(_), Some(_)) => probe.health.clone(),
        (Some(s), None) => health::once(session, &probe.dir, s.port).await.ok(),
        (None, _) => None,
    };
    Status {
        host: host.to_string(),
        install_dir: probe.dir.clone(),
        installed: is_installed(probe),
        install: probe.install.clone(),
        binary_version: probe.installed_version.clone(),
        system_service: probe.system_service.clone(),
        running: server.is_some(),
        pid: server.map(|s| s.pid),
        port: server.map(|s| s.port),
        healthy: health.is_some(),
        health,
    }
}

fn is_installed(probe: &Probe) -> bool {
    probe.installed_sha256.is_some() || probe.installed_version.is_some()
}

/// Refuse to act on a host where nothing is installed.
fn require_installed(probe: &Probe, host: &str) -> Result<()> {
    if !is_installed(probe) {
        return Err(err!(
            Other,
            "mlcremote is not installed in {} on {host}; run `cargo mlcremote deploy` first",
            probe.dir
        ));
    }
    Ok(())
}

/// `cargo mlcremote stop`: returns the pid it stopped, if one was running. Only a
/// process proven to be this install's server is signalled (the agent checks).
pub async fn stop(session: &Session, probe: &Probe) -> Result<Option<u32>> {
    require_installed(probe, session.reporter().host())?;
    let out = session.run(&agent::agent_command(&probe.dir, "stop")).await?;
    match agent::outcome(&out, &probe.dir)? {
        Event::Stopped { stopped } => Ok(stopped),
        _ => Err(script_error(&out, &probe.dir)),
    }
}

/// `cargo mlcremote restart`: stop, start (the recorded method first), verify /health,
/// all on the host in one command.
pub async fn restart(
    session: &Session,
    probe: &Probe,
    given: Option<StartMethod>,
    health_timeout: Duration,
) -> Result<Health> {
    require_installed(probe, session.reporter().host())?;
    let methods = start::recorded_first(given, probe)?;
    let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
    let args = format!(
        "restart --start-methods {} --health-timeout-secs {}",
        remote::quote(&names.join(",")),
        health_timeout.as_secs()
    );
    let out = session
        .run_for(
            &agent::agent_command(&probe.dir, &args),
            health_timeout + Duration::from_secs(30),
        )
        .await?;
    match agent::outcome(&out, &probe.dir)? {
        Event::Done { health, .. } => Ok(health),
        _ => Err(script_error(&out, &probe.dir)),
    }
}

pub use mlcremote_contract::Uninstalled;

/// `cargo mlcremote uninstall`: stop the server and remove what deploy created.
pub async fn uninstall(session: &Session, probe: &Probe) -> Result<Uninstalled> {
    // The shell's uninstall where no agent of this contract is installed (or it does
    // not run here): it must work when the binary does not.
    let out = if agent::has_host_commands(probe) {
        session.run(&agent::agent_command(&probe.dir, "uninstall")).await?
    } else {
        let method = probe.install.as_ref().and_then(|i| i.start_method());
        session.run(&scripts::uninstall_script(&probe.dir, method)).await?
    };
    match agent::outcome(&out, &probe.dir)? {
        Event::Uninstalled { result } => Ok(result),
        _ => Err(script_error(&out, &probe.dir)),
    }
}

/// `cargo mlcremote logs`: the last `lines` lines to `sink`; with `follow`, more as they
/// come until `stop` resolves (Ctrl-C).
pub async fn logs(
    session: &Session,
    probe: &Probe,
    lines: u32,
    follow: bool,
    mut sink: impl FnMut(Stream, &[u8]),
    stop: impl Future<Output = ()>,
) -> Result<()> {
    require_installed(probe, session.reporter().host())?;
    let follow = if follow { " --follow" } else { "" };
    let script = agent::host_command(probe, &format!("logs --lines {lines}{follow}"))?;
    let status = session.run_streaming(&script, &mut sink, stop).await?;
    if status != 0 {
        return Err(err!(
            Other,
            "cannot read the log in {}/logs on {}",
            probe.dir,
            session.destination
        ));
    }
    Ok(())
}

/// `cargo mlcremote probe`.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub host: String,
    pub uname: String,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub target: Option<String>,
    pub shell: String,
    pub home: String,
    pub install_dir: String,
    pub free_kb: Option<u64>,
    pub start_methods: Vec<String>,
    pub build_tools: Vec<String>,
    pub installed_version: Option<String>,
}

pub fn probe_report(host: &str, probe: &Probe) -> ProbeReport {
    let platform = Platform::from_uname(&probe.uname).ok();
    let has =
        |names: &[&str]| -> Vec<String> { names.iter().filter(|n| probe.has(n)).map(|n| n.to_string()).collect() };
    ProbeReport {
        host: host.to_string(),
        uname: probe.uname.clone(),
        os: platform.as_ref().map(|p| p.os.clone()),
        arch: platform.as_ref().map(|p| p.arch.clone()),
        target: platform
            .as_ref()
            .and_then(|p| p.targets().first().map(|t| t.triple.to_string())),
        shell: probe.shell.clone(),
        home: probe.home.clone(),
        install_dir: probe.dir.clone(),
        free_kb: probe.free_kb,
        start_methods: StartMethod::ALL
            .iter()
            .filter(|m| probe.has(m.tool()))
            .map(|m| m.name().to_string())
            .collect(),
        build_tools: {
            let mut tools = has(&["docker"]);
            tools.extend(probe.cargo.iter().map(|c| format!("cargo ({c})")));
            tools
        },
        installed_version: probe.installed_version.clone(),
    }
}

/// The running server's port and token, read over the SSH connection (the token travels
/// over SSH only), for front ends that forward to the server.
pub async fn server_token(session: &Session, probe: &Probe) -> Result<(u16, String)> {
    let Some(server) = probe.running_server().cloned() else {
        return Err(err!(
            Other,
            "no server is running on {}; run `cargo mlcremote deploy` or `restart` first",
            session.destination
        ));
    };
    let out = session.run(&agent::host_command(probe, "token")?).await?;
    match agent::outcome(&out, &probe.dir)? {
        Event::Token { token, .. } if !token.is_empty() => Ok((server.port, token)),
        _ => Err(script_error(&out, &probe.dir)),
    }
}

/// `cargo mlcremote tunnel`: forward `127.0.0.1:local_port` to the server over the SSH
/// connection until `stop` resolves. `ready` gets the local API base URL and the token
/// (the server takes it as `Authorization: Bearer`, or `?token=` on WebSockets).
pub async fn tunnel(
    session: Session,
    probe: &Probe,
    local_port: u16,
    ready: impl FnOnce(&str, &str),
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let (server_port, token) = server_token(&session, probe).await?;
    let ready = |port: u16| ready(&format!("http://127.0.0.1:{port}/api/"), &token);
    forward(Arc::new(session), server_port, local_port, ready, stop).await
}

/// One channel to `remote` on the host's loopback opens: the path through works (checked
/// before telling anyone it does).
pub async fn reachable(session: &Session, remote: u16) -> Result<()> {
    match session.forward(remote).await {
        Ok(_) => Ok(()),
        Err(HttpError::ForwardingRefused) => Err(err!(
            Other,
            "{} refuses TCP forwarding (AllowTcpForwarding no); forwarding is not possible",
            session.destination
        )),
        Err(HttpError::Failed(e)) => Err(err!(
            Other,
            "nothing answers on the host's port {remote} ({e}); start it first, or check the number",
        )),
    }
}

/// One local connection carried to `remote` on the host's loopback through `session`,
/// until either end closes.
pub async fn carry(mut local: tokio::net::TcpStream, session: &Session, remote: u16) {
    // What the host sends goes out at once: with Nagle, the short last piece of an
    // answer would wait for the local client's delayed ACK, 40 ms on every request.
    let _ = local.set_nodelay(true);
    if let Ok(mut channel) = session.forward(remote).await {
        let _ = tokio::io::copy_bidirectional(&mut local, &mut channel).await;
    }
}

/// Listen on `127.0.0.1:local_port` (0: any free port) and carry each connection through
/// the SSH session to `remote` on the host's loopback, until `stop`. `ready(port)` once
/// the listener is up and one channel to the host's port opened (so a refused forward or a
/// port nothing listens on is an error here, not a hang later).
pub async fn forward(
    session: Arc<Session>,
    remote: u16,
    local_port: u16,
    ready: impl FnOnce(u16),
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", local_port))
        .await
        .map_err(|e| {
            err!(
                Usage,
                "cannot listen on 127.0.0.1:{local_port}: {e}; pass another --local-port"
            )
        })?;
    let port = listener.local_addr()?.port();
    reachable(&session, remote).await?;
    ready(port);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((local, _)) = accepted else { continue };
                let session = session.clone();
                tokio::spawn(async move { carry(local, &session, remote).await });
            }
        }
    }
    Ok(())
}
