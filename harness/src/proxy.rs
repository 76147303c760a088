//! A TCP proxy on loopback that makes a link slow the way real networks are: each byte
//! arrives half a round trip after it was sent, at most `bandwidth` bytes a second each
//! way. It also counts the bytes that cross it, and can break a connection the ways real
//! links break ([`Fault`]: a FIN, a reset, or silence after so many bytes). No kernel
//! support needed (no netem).
//!
//! Bounded: a connection limit, a bounded queue per direction (the sender waits, as TCP
//! would), everything stopped when the proxy is dropped.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::Result;

/// How slow the link is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Round-trip time the proxy adds (half each way).
    pub rtt: Duration,
    /// Bytes a second each way; `None`: as fast as loopback.
    pub bandwidth: Option<u64>,
}

impl Link {
    /// As fast as loopback: only counting.
    pub const FAST: Link = Link {
        rtt: Duration::ZERO,
        bandwidth: None,
    };

    /// `rtt` and `mbit` megabits a second.
    pub fn new(rtt_ms: u64, mbit: Option<u64>) -> Link {
        Link {
            rtt: Duration::from_millis(rtt_ms),
            bandwidth: mbit.map(|m| m * 1_000_000 / 8),
        }
    }
}

/// How a link breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Both ends get a FIN (the peer closed).
    Fin,
    /// Both ends get a reset.
    Rst,
    /// Nothing more crosses either way, and nothing says so (a dead route, a sleeping
    /// laptop): only a keepalive or a timeout can tell.
    Stall,
}

/// Which way the bytes that trigger a [`Fault`] go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// Client to target (an upload).
    Up,
    /// Target to client.
    Down,
}

/// Break the first `connections` connections once `after` bytes went `way`: exactly
/// `after` bytes arrive, then the link breaks as `cut` says. Later connections pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub after: u64,
    pub way: Way,
    pub cut: Cut,
    pub connections: usize,
}

/// The most connections at once.
const MAX_CONNECTIONS: usize = 256;
/// Chunks queued per direction before the reader waits.
const QUEUE: usize = 1024;

/// A running proxy from `127.0.0.1:port()` to `127.0.0.1:<target>`.
pub struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Bytes client → target, and target → client.
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<std::sync::Weak<Conn>>>>,
    /// Connections a fault broke so far.
    broken: Arc<AtomicUsize>,
    fault: Option<Fault>,
    acceptor: Option<thread::JoinHandle<()>>,
}

/// One proxied connection: both sockets, and whether (how) it was broken.
struct Conn {
    client: TcpStream,
    server: TcpStream,
    fault: Option<Fault>,
    /// 0: passing; 1: cut (FIN or reset); 2: stalled.
    state: std::sync::atomic::AtomicU8,
    broken: Arc<AtomicUsize>,
}

impl Conn {
    fn cut(&self) -> bool {
        self.state.load(Ordering::SeqCst) != 0
    }

    fn stalled(&self) -> bool {
        self.state.load(Ordering::SeqCst) == 2
    }

    fn break_as(&self, cut: Cut) {
        self.broken.fetch_add(1, Ordering::SeqCst);
        match cut {
            Cut::Fin => {
                self.state.store(1, Ordering::SeqCst);
                let _ = self.client.shutdown(Shutdown::Both);
                let _ = self.server.shutdown(Shutdown::Both);
            }
            Cut::Rst => {
                self.state.store(1, Ordering::SeqCst);
                // An abortive close once the last descriptor goes: the readers wake (no
                // FIN is sent by a read shutdown) and every thread lets go of its copy.
                for s in [&self.client, &self.server] {
                    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                    let _ = s.shutdown(Shutdown::Read);
                }
            }
            Cut::Stall => self.state.store(2, Ordering::SeqCst),
        }
    }

    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

impl Proxy {
    /// Listen on a free loopback port; forward to `127.0.0.1:target` over `link`.
    pub fn start(target: u16, link: Link) -> Result<Proxy> {
        Proxy::start_dropping(target, link, 0)
    }

    /// The same, but the first `drop_first` connections are closed as soon as they are
    /// accepted, as sshd does to connections beyond its `MaxStartups`.
    pub fn start_dropping(target: u16, link: Link, drop_first: usize) -> Result<Proxy> {
        Proxy::launch(target, link, drop_first, None)
    }

    /// A fast link that breaks as `fault` says.
    pub fn start_faulty(target: u16, fault: Fault) -> Result<Proxy> {
        Proxy::launch(target, Link::FAST, 0, Some(fault))
    }

    fn launch(target: u16, link: Link, drop_first: usize, fault: Option<Fault>) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let conns: Arc<Mutex<Vec<std::sync::Weak<Conn>>>> = Arc::default();
        let broken = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let (stop, up, down, conns, broken) =
                (stop.clone(), up.clone(), down.clone(), conns.clone(), broken.clone());
            thread::spawn(move || {
                let (mut dropped, mut accepted) = (0, 0);
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    if dropped < drop_first {
                        dropped += 1;
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    if live.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    accepted += 1;
                    let conn = Arc::new(Conn {
                        client,
                        server,
                        fault: fault.filter(|f| accepted <= f.connections),
                        state: Default::default(),
                        broken: broken.clone(),
                    });
                    if let Ok(mut all) = conns.lock() {
                        all.retain(|c| c.strong_count() > 0);
                        all.push(Arc::downgrade(&conn));
                    }
                    live.fetch_add(2, Ordering::SeqCst);
                    for way in [Way::Up, Way::Down] {
                        let (from, to, count) = match way {
                            Way::Up => (conn.client.try_clone(), conn.server.try_clone(), up.clone()),
                            Way::Down => (conn.server.try_clone(), conn.client.try_clone(), down.clone()),
                        };
                        if let (Ok(from), Ok(to)) = (from, to) {
                            let live = live.clone();
                            pipe(from, to, link, count, conn.clone(), way, move || {
                                live.fetch_sub(1, Ordering::SeqCst);
                            });
                        }
                    }
                }
            })
        };
        Ok(Proxy {
            port,
            stop,
            up,
            down,
            conns,
            broken,
            fault,
            acceptor: Some(acceptor),
        })
    }

    /// Break every connection open now as `cut` says (later ones pass).
    pub fn break_all(&self, cut: Cut) {
        if let Ok(all) = self.conns.lock() {
            for conn in all.iter().filter_map(std::sync::Weak::upgrade) {
                if !conn.cut() {
                    conn.break_as(cut);
                }
            }
        }
    }

    /// The fault this proxy injects, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// How many connections a fault broke so far.
    pub fn broken(&self) -> usize {
        self.broken.load(Ordering::SeqCst)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Bytes that went from clients to the target.
    pub fn bytes_up(&self) -> u64 {
        self.up.load(Ordering::SeqCst)
    }

    /// Bytes that went from the target to clients.
    pub fn bytes_down(&self) -> u64 {
        self.down.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor, and end every connection.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Ok(all) = self.conns.lock() {
            for conn in all.iter().filter_map(std::sync::Weak::upgrade) {
                conn.close();
            }
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One direction: a reader stamps what arrives; a sender delivers each chunk half a
/// round trip later, no faster than the bandwidth, and breaks the connection where its
/// fault says.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    link: Link,
    count: Arc<AtomicU64>,
    conn: Arc<Conn>,
    way: Way,
    done: impl FnOnce() + Send + 'static,
) {
    let (tx, rx) = mpsc::sync_channel::<(Instant, Vec<u8>)>(QUEUE);
    thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping the sender lets the writer finish what is queued, then close.
    });
    thread::spawn(move || {
        let one_way = link.rtt / 2;
        // When the link is free again (bandwidth).
        let mut free_at = Instant::now();
        // Bytes this way may still carry before the fault breaks the link.
        let mut budget = conn.fault.filter(|f| f.way == way).map(|f| f.after);
        for (arrived, chunk) in rx {
            let mut at = arrived + one_way;
            if let Some(rate) = link.bandwidth {
                let start = at.max(free_at);
                let takes = Duration::from_secs_f64(chunk.len() as f64 / rate as f64);
                free_at = start + takes;
                at = free_at;
            }
            let now = Instant::now();
            if at > now {
                thread::sleep(at - now);
            }
            if conn.stalled() {
                continue;
            }
            if conn.cut() {
                break;
            }
            let mut chunk = &chunk[..];
            let breaks = budget.is_some_and(|left| chunk.len() as u64 >= left);
            if let Some(left) = budget.as_mut() {
                let n = chunk.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                chunk = &chunk[..n];
                *left -= n as u64;
            }
            if to.write_all(chunk).is_err() {
                break;
            }
            count.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            if breaks && let Some(fault) = conn.fault {
                budget = None;
                conn.break_as(fault.cut);
            }
        }
        if !conn.cut() {
            let _ = to.shutdown(Shutdown::Write);
        }
        done();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server behind the proxy: a round trip takes the link's RTT, and bytes
    /// are counted each way.
    #[test]
    fn delays_and_counts() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap().port();
        thread::spawn(move || {
            if let Ok((mut s, _)) = echo.accept() {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        });
        let proxy = Proxy::start(target, Link::new(100, None)).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        let started = Instant::now();
        c.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
        // At least the RTT: the proxy cannot be faster than it is told to be.
        assert!(started.elapsed() >= Duration::from_millis(100));
        drop(c);
        // Counted once written on: by now, or very soon.
        let deadline = Instant::now() + Duration::from_secs(10);
        while (proxy.bytes_up(), proxy.bytes_down()) != (4, 4) {
            assert!(Instant::now() < deadline, "{} {}", proxy.bytes_up(), proxy.bytes_down());
            thread::yield_now();
        }
    }
}
