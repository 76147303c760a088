//! What every part of the UI shares: its state (who may use it, the connections it
//! holds).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use mlcremote_client::{
    remote::Probe,
    ssh::{Route, Session},
};

use crate::cli::{ConnectArgs, ui::access::Access};

/// One host the page has connected to: its SSH connection, kept open while the UI runs
/// (a file open is a channel on it, not a handshake), and what is known of it.
pub struct Held {
    pub session: Session,
    pub state: tokio::sync::RwLock<HostState>,
}

/// What the last probe of a held host said.
pub struct HostState {
    pub probe: Probe,
    /// The server's port on the host's loopback and its token (never sent to the page).
    pub server: Option<(u16, String)>,
}

/// The UI's state.
pub struct Ui {
    /// Who may use the page: launch token, cookie, key (the guard's own state too).
    pub access: Arc<Access>,
    pub connect: ConnectArgs,
    /// Connected hosts, by the name the page uses.
    pub held: tokio::sync::Mutex<HashMap<String, Arc<Held>>>,
    /// How each host was reached (with a typed password, in memory only).
    pub routes: Mutex<HashMap<String, Route>>,
    /// `open --host H`: the host the page connects to (installing if needed) and opens.
    pub open: Option<String>,
    /// Ports of a host opened from the page: (host, port on the host) → local port.
    pub ports: Arc<Mutex<HashMap<(String, u16), u16>>>,
}

impl Ui {
    pub async fn held(&self, host: &str) -> Option<Arc<Held>> {
        self.held.lock().await.get(host).cloned()
    }
}
