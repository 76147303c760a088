//! A TCP proxy on loopback that makes a link slow the way real networks are: each byte
//! arrives half a round trip after it was sent, at most `bandwidth` bytes a second each
//! way. It also counts the bytes that cross it. No kernel support needed (no netem).
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
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a free loopback port; forward to `127.0.0.1:target` over `link`.
    pub fn start(target: u16, link: Link) -> Result<Proxy> {
        Proxy::start_dropping(target, link, 0)
    }

    /// The same, but the first `drop_first` connections are closed as soon as they are
    /// accepted, as sshd does to connections beyond its `MaxStartups`.
    pub fn start_dropping(target: u16, link: Link, drop_first: usize) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let live = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let (stop, up, down, sockets) = (stop.clone(), up.clone(), down.clone(), sockets.clone());
            thread::spawn(move || {
                let mut dropped = 0;
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
                    if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone())
                        && let Ok(mut all) = sockets.lock()
                    {
                        all.extend([c, s]);
                    }
                    live.fetch_add(2, Ordering::SeqCst);
                    for (from, to, count) in [
                        (client.try_clone(), server.try_clone(), up.clone()),
                        (server.try_clone(), client.try_clone(), down.clone()),
                    ] {
                        if let (Ok(from), Ok(to)) = (from, to) {
                            let live = live.clone();
                            pipe(from, to, link, count, move || {
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
            sockets,
            acceptor: Some(acceptor),
        })
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
        if let Ok(all) = self.sockets.lock() {
            for socket in all.iter() {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One direction: a reader stamps what arrives; a sender delivers each chunk half a
/// round trip later, no faster than the bandwidth.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    link: Link,
    count: Arc<AtomicU64>,
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
            if to.write_all(&chunk).is_err() {
                break;
            }
            count.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
        let _ = to.shutdown(Shutdown::Write);
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
        thread::sleep(Duration::from_millis(200));
        assert_eq!((proxy.bytes_up(), proxy.bytes_down()), (4, 4));
    }
}
