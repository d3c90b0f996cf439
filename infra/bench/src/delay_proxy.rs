//! A TCP proxy on 127.0.0.1 that delays each direction by a fixed time: the client↔database
//! round trip of a network (this kernel has no `tc netem`). Bytes keep their order (one FIFO per
//! direction, each chunk due `delay` after it was read), Nagle is off on both sides
//! (`TCP_NODELAY`), and a chunk is forwarded as soon as it is due, whatever follows it.
//!
//! Threads, not tokio tasks: tokio's timer has a 1 ms granularity, so a 250 µs delay would
//! become 1–2 ms; `std::thread::sleep` (nanosleep) is precise to the timer slack (set to 1 ns on
//! the forwarding threads where the platform allows). Two threads per direction (a reader that
//! stamps, a writer that waits and writes), so 4 per connection: a few hundred sleeping threads
//! at the bench's pool sizes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A running proxy; it stops accepting when dropped (open connections end with their peers).
pub struct DelayProxy {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr, one_way: Duration) -> std::io::Result<DelayProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let _ = thread::Builder::new()
                        .name("delay-proxy-conn".into())
                        .spawn(move || {
                            if let Err(e) = serve(client, upstream, one_way) {
                                eprintln!("bench: delay proxy connection: {e}");
                            }
                        });
                }
            })?;
        Ok(DelayProxy { addr, stop })
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(client: TcpStream, upstream: SocketAddr, one_way: Duration) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (c2, s2) = (client.try_clone()?, server.try_clone()?);
    let up = thread::Builder::new()
        .name("delay-proxy-up".into())
        .spawn(move || pipe(c2, s2, one_way))?;
    pipe(server, client, one_way);
    let _ = up.join();
    Ok(())
}

/// The threads that forward a chunk wake on time only if the kernel does not coalesce their
/// timers: a 1 ns timer slack (Linux; elsewhere a no-op).
fn precise_timers() {
    // Best effort: the default 50 µs slack only adds to the delay.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read, in order. Ends at EOF
/// or on an error of either side, then half-closes `to` (or, when `to` failed, closes `from`
/// so the peer sees it).
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    precise_timers();
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let from_again = from.try_clone();
    let writer = thread::Builder::new()
        .name("delay-proxy-write".into())
        .spawn(move || {
            precise_timers();
            for (due, chunk) in rx {
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if to.write_all(&chunk).is_err() {
                    if let Ok(f) = &from_again {
                        let _ = f.shutdown(Shutdown::Both);
                    }
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    let Ok(writer) = writer else { return };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on 127.0.0.1: what it reads it writes back, until EOF.
    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for c in l.incoming() {
                let mut c = c.unwrap();
                thread::spawn(move || {
                    let mut r = c.try_clone().unwrap();
                    let _ = std::io::copy(&mut r, &mut c);
                });
            }
        });
        addr
    }

    #[test]
    fn bytes_arrive_in_order_and_each_direction_is_delayed() {
        let delay = Duration::from_millis(20);
        let proxy = DelayProxy::start(echo_server(), delay).unwrap();
        let mut c = TcpStream::connect(proxy.addr).unwrap();
        c.set_nodelay(true).unwrap();

        // A round trip through proxy → echo → proxy is at least two delays.
        let t0 = Instant::now();
        c.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).unwrap();
        let rtt = t0.elapsed();
        assert!(rtt >= 2 * delay, "round trip {rtt:?} < 2 × {delay:?}");
        assert!(rtt < 2 * delay + Duration::from_millis(200), "{rtt:?}");

        // Many small writes back to back (chunks due at different times) come back in order.
        let sent: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = c.try_clone().unwrap();
        let payload = sent.clone();
        let writer = thread::spawn(move || {
            for chunk in payload.chunks(997) {
                w.write_all(chunk).unwrap();
            }
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "bytes reordered or altered");
    }
}
