//! A TCP proxy between the evaluator and Jaeger's query service that the
//! test can cut: while cut, open connections are shut down and new ones are
//! closed at once, so the trace store is unreachable without stopping the
//! shared Jaeger.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    stop: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
    refused: AtomicU64,
    forwarded: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct CutProxy {
    /// `http://127.0.0.1:PORT`, to use instead of the upstream URL.
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl CutProxy {
    /// Proxies a loopback port to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream.parse().expect("upstream host:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if state.cut.load(Ordering::SeqCst) {
                    state.refused.fetch_add(1, Ordering::SeqCst);
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                state.forwarded.fetch_add(1, Ordering::SeqCst);
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    let mut open = state.open.lock().expect("proxy lock");
                    open.retain(|s| s.peer_addr().is_ok());
                    open.extend([c, s]);
                }
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Self {
            url: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    /// Cuts (`true`) or restores (`false`) the connection to the store.
    pub fn set_cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
        if cut {
            let mut open = self.shared.open.lock().expect("proxy lock");
            for stream in open.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Connections closed while cut.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections forwarded.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` on a thread of its own, then half-closes `to`.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.set_cut(true);
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}
