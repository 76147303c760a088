//! SPEC §6 step 1 auth order: ssh-agent, identity files (a passphrase asked through the
//! delegate), then password and keyboard-interactive. The error names what was tried.

use std::sync::Arc;

use russh::{
    client::Handle,
    keys::{Algorithm, PrivateKeyWithHashAlg, PublicKey},
};

use super::{Agent, Destination, Login, handshake::Client};
use crate::{
    delegate::{Answer, Question, Reporter},
    err,
    error::Result,
};

/// Log in with what `login` offers, within `limit` (not counting the time the person
/// answers questions): a link that falls silent here has no keepalive yet.
pub(super) async fn authenticate(
    handle: &mut Handle<Client>,
    to: &Destination,
    login: &Login,
    reporter: &Reporter,
    ended: &super::handshake::Lost,
    limit: std::time::Duration,
) -> Result<()> {
    match super::within(limit, reporter, offer(handle, to, login, reporter, ended)).await {
        Some(done) => done,
        None => Err(err!(
            Connect,
            "{to} did not answer the login within {}; is the network or the host overloaded?",
            super::shown(limit)
        )),
    }
}

async fn offer(
    handle: &mut Handle<Client>,
    to: &Destination,
    login: &Login,
    reporter: &Reporter,
    ended: &super::handshake::Lost,
) -> Result<()> {
    let user = to.user.clone();
    let lost = |e: russh::Error| {
        let why = ended.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let why = why.unwrap_or_else(|| match e {
            russh::Error::Disconnect => "the host or the network closed the connection".to_string(),
            e => format!("the connection ended ({e})"),
        });
        err!(Connect, "lost the connection to {to} during authentication: {why}")
    };
    let mut tried = Vec::new();

    if !login.identities_only {
        match agent_auth(handle, &user, &login.agent).await {
            AgentOutcome::Accepted => return Ok(()),
            AgentOutcome::Refused(n) => tried.push(format!("ssh-agent ({n} key{})", if n == 1 { "" } else { "s" })),
            AgentOutcome::Unavailable(Some(why)) => tried.push(format!("ssh-agent ({why})")),
            AgentOutcome::Unavailable(None) => {}
        }
    }

    for path in &login.identities {
        let shown = path.display().to_string();
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) if reporter.can_ask() => {
                let answer = reporter.ask(Question::Passphrase { key: path.clone() }).await;
                let loaded = match answer {
                    Answer::Secret(passphrase) => russh::keys::load_secret_key(path, Some(&passphrase)).ok(),
                    _ => None,
                };
                match loaded {
                    Some(key) => key,
                    None => {
                        tried.push(format!("{shown} (wrong passphrase)"));
                        continue;
                    }
                }
            }
            Err(russh::keys::Error::KeyIsEncrypted) => {
                tried.push(format!(
                    "{shown} (has a passphrase and there is no terminal to ask; load it into ssh-agent)"
                ));
                continue;
            }
            Err(e) => {
                tried.push(format!("{shown} (unreadable: {e})"));
                continue;
            }
        };
        let hash = rsa_hash(handle, key.public_key()).await;
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        if handle
            .authenticate_publickey(user.clone(), key)
            .await
            .map_err(lost)?
            .success()
        {
            return Ok(());
        }
        tried.push(shown);
        // A refusal from a connection that ended is no refusal (and asks nobody more).
        if handle.is_closed() {
            return Err(lost(russh::Error::Disconnect));
        }
    }

    let password = match &login.password {
        Some(p) => Some(p.clone()),
        None if reporter.can_ask() => match reporter
            .ask(Question::Password {
                destination: to.to_string(),
            })
            .await
        {
            Answer::Secret(p) if !p.is_empty() => Some(p),
            _ => None,
        },
        None => None,
    };
    if let Some(password) = password {
        if handle
            .authenticate_password(user.clone(), password.clone())
            .await
            .map_err(lost)?
            .success()
        {
            return Ok(());
        }
        tried.push("password".into());
        if keyboard_interactive(handle, &user, &password).await.map_err(lost)? {
            return Ok(());
        }
        tried.push("keyboard-interactive".into());
    }
    if handle.is_closed() {
        return Err(lost(russh::Error::Disconnect));
    }
    if tried.is_empty() {
        return Err(err!(
            Auth,
            "cannot log in to {to}: nothing to offer; pass -i FILE, start ssh-agent, or use --password-stdin"
        ));
    }
    Err(err!(
        Auth,
        "cannot log in to {to}: nothing was accepted (tried {})",
        tried.join(", ")
    ))
}

/// The signature hash for an RSA key (rsa-sha2-512/256 where the server says so). Only
/// asked for RSA keys: the answer can take up to a second from a server that never
/// announces its signature algorithms.
async fn rsa_hash(handle: &Handle<Client>, key: &PublicKey) -> Option<russh::keys::HashAlg> {
    if !matches!(key.algorithm(), Algorithm::Rsa { .. }) {
        return None;
    }
    handle.best_supported_rsa_hash().await.ok().flatten().flatten()
}

/// Answer keyboard-interactive prompts with the password (hidden prompts) or nothing.
async fn keyboard_interactive(handle: &mut Handle<Client>, user: &str, password: &str) -> Result<bool, russh::Error> {
    use russh::client::KeyboardInteractiveAuthResponse as R;
    let mut response = handle.authenticate_keyboard_interactive_start(user, None).await?;
    for _ in 0..5 {
        match response {
            R::Success => return Ok(true),
            R::Failure { .. } => return Ok(false),
            R::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|p| if p.echo { String::new() } else { password.to_string() })
                    .collect();
                response = handle.authenticate_keyboard_interactive_respond(answers).await?;
            }
        }
    }
    Ok(false)
}

enum AgentOutcome {
    Accepted,
    /// The agent offered this many keys; none was accepted.
    Refused(usize),
    /// No agent (with why, when one was configured but failed).
    Unavailable(Option<String>),
}

#[cfg(unix)]
async fn agent_auth(handle: &mut Handle<Client>, user: &str, agent: &Agent) -> AgentOutcome {
    let path: std::path::PathBuf = match agent {
        Agent::None => return AgentOutcome::Unavailable(None),
        Agent::Socket(path) => path.clone(),
        Agent::FromEnvironment => match std::env::var_os("SSH_AUTH_SOCK") {
            Some(path) => path.into(),
            None => return AgentOutcome::Unavailable(None),
        },
    };
    match russh::keys::agent::client::AgentClient::connect_uds(&path).await {
        Ok(agent) => offer_agent_keys(handle, user, agent).await,
        Err(e) => AgentOutcome::Unavailable(Some(format!("cannot reach it at {}: {e}", path.display()))),
    }
}

/// The Windows OpenSSH agent listens on a named pipe.
#[cfg(windows)]
async fn agent_auth(handle: &mut Handle<Client>, user: &str, agent: &Agent) -> AgentOutcome {
    let pipe = match agent {
        Agent::None => return AgentOutcome::Unavailable(None),
        Agent::Socket(path) => path.display().to_string(),
        Agent::FromEnvironment => r"\\.\pipe\openssh-ssh-agent".to_string(),
    };
    match russh::keys::agent::client::AgentClient::connect_named_pipe(pipe).await {
        Ok(agent) => offer_agent_keys(handle, user, agent).await,
        Err(_) => AgentOutcome::Unavailable(None),
    }
}

async fn offer_agent_keys<S>(
    handle: &mut Handle<Client>,
    user: &str,
    mut agent: russh::keys::agent::client::AgentClient<S>,
) -> AgentOutcome
where
    S: russh::keys::agent::client::AgentStream + Unpin + Send + 'static,
{
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => return AgentOutcome::Unavailable(Some(format!("cannot list its keys: {e}"))),
    };
    let mut offered = 0;
    for identity in identities {
        let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        offered += 1;
        let hash = rsa_hash(handle, &key).await;
        if let Ok(result) = handle.authenticate_publickey_with(user, key, hash, &mut agent).await
            && result.success()
        {
            return AgentOutcome::Accepted;
        }
    }
    AgentOutcome::Refused(offered)
}
