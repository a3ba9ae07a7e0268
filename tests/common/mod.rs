//! The one support module of the integration tests: deadlines, a loop on
//! a thread, deterministic data, the echo handler ([`Echo`]), a raw-socket
//! WebSocket peer ([`raw`]), a log capture ([`logs`]) and child processes
//! ([`process`]).
#![allow(dead_code)]

pub mod browser;
mod echo;
pub mod logs;
pub mod peer;
pub mod process;
pub mod raw;
pub mod tls;

#[allow(unused_imports)] // not every test runs an echo server
pub use echo::Echo;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wsloop::{EventLoop, LoopHandle, Protocol};

/// How long any condition may take before a test gives up. Generous, because
/// CI machines have two cores and other work on them.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Waits until `cond` holds, polling; panics with `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > DEADLINE {
            panic!("timed out waiting for: {what}");
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// A loop running on its own thread, stopped when dropped.
pub struct Running<P: Protocol> {
    pub addr: SocketAddr,
    pub handle: LoopHandle<P>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<P: Protocol> Drop for Running<P> {
    fn drop(&mut self) {
        let _ = self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a loop on a thread, listening on an ephemeral loopback port.
/// `setup` builds the loop's shared state and protocol factory on that thread.
pub fn spawn_server<P, S, F>(setup: S) -> Running<P>
where
    P: Protocol,
    P::Command: Send,
    S: FnOnce() -> (P::Shared, F) + Send + 'static,
    F: FnMut() -> P + 'static,
{
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let (shared, factory) = setup();
        let mut lp = EventLoop::<P>::new(shared).expect("create loop");
        let addr = lp
            .listen("127.0.0.1:0".parse().unwrap(), factory)
            .expect("listen");
        tx.send((addr, lp.handle())).unwrap();
        lp.run().expect("loop failed");
    });
    let (addr, handle) = rx.recv().expect("loop thread died");
    Running {
        addr,
        handle,
        thread: Some(thread),
    }
}

/// An address that refuses connections for as long as the returned socket
/// lives. The socket is bound but not listening, so a connect gets a reset and
/// no other process can take the port meanwhile (a port merely closed again
/// could be taken by the next test that binds port 0).
pub fn refusing_addr() -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, addr)
}

/// Text of exactly `len` bytes made of 1- to 4-byte characters, so every
/// read or part boundary has a good chance of splitting one.
pub fn mixed_text(len: usize) -> String {
    let mut text = String::with_capacity(len);
    for c in "aé€😀".chars().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('.');
    }
    text
}

/// Deterministic pseudo-random bytes (xorshift), so expected data can be
/// regenerated instead of stored.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
