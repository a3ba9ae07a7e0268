//! The hostile clients. Each runs on its own thread until the stop flag is
//! set, then closes its sockets and returns a [`Tally`] of what happened,
//! so the report shows each attack really ran and how the server answered.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use wsloop::ws::frame::Opcode;

use crate::raw;

/// Socket timeout for every attacker: longer than the server's handshake
/// timeout, so a verdict of the server is always seen.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How often a slowloris socket sends its next byte.
const TRICKLE: Duration = Duration::from_millis(200);

/// What an attack did: how often each outcome happened.
#[derive(Default, Debug)]
pub struct Tally {
    /// Outcome -> count.
    pub outcomes: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, outcome: impl Into<String>) {
        *self.outcomes.entry(outcome.into()).or_default() += 1;
    }

    /// Total number of outcomes recorded.
    pub fn attempts(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

/// What every attacker needs to know.
#[derive(Clone, Copy)]
pub struct Target {
    /// The server.
    pub addr: SocketAddr,
    /// The server's message size limit.
    pub max_message: usize,
}

fn stopped(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed)
}

/// Opens `count` connections, completes their handshakes and holds them
/// silently until the stop flag is set.
pub fn idle(t: Target, count: usize, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        if stopped(stop) {
            break;
        }
        match raw::open(t.addr, TIMEOUT) {
            Ok(s) => held.push(s),
            Err(e) => tally.add(format!("failed to open: {}", e.kind())),
        }
    }
    while !stopped(stop) {
        thread::sleep(Duration::from_millis(50));
    }
    for _ in &held {
        tally.add("held idle for the whole run");
    }
    tally
}

/// Slowloris before the upgrade: `count` sockets each sending the request
/// head one byte per [`TRICKLE`]. The server's handshake timeout must cut
/// them off; each one cut off is replaced by a new one.
pub fn slowloris_head(t: Target, count: usize, stop: &AtomicBool) -> Tally {
    let request = raw::upgrade_request();
    trickle(t, count, stop, &request, false)
}

/// Slowloris after the upgrade: a 1 KiB text frame, one byte at a time.
/// Nothing times out here (its bytes are traffic), but the server holds at
/// most the part received so far.
pub fn slowloris_frame(t: Target, count: usize, stop: &AtomicBool) -> Tally {
    let frame = raw::frame(true, Opcode::Text, 1024);
    trickle(t, count, stop, &frame, true)
}

/// Keeps `count` sockets trickling `bytes`, one byte per socket per turn.
fn trickle(t: Target, count: usize, stop: &AtomicBool, bytes: &[u8], upgrade: bool) -> Tally {
    let mut tally = Tally::default();
    let connect = || -> Option<TcpStream> {
        let s = if upgrade {
            raw::open(t.addr, TIMEOUT).ok()?
        } else {
            raw::connect(t.addr, TIMEOUT).ok()?
        };
        s.set_nonblocking(true).ok()?;
        Some(s)
    };
    let mut socks: Vec<(TcpStream, usize)> =
        (0..count).filter_map(|_| Some((connect()?, 0))).collect();
    while !stopped(stop) {
        let turn = Instant::now();
        for slot in socks.iter_mut() {
            let (s, sent) = slot;
            let mut scratch = [0u8; 256];
            let closed = match s.read(&mut scratch) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() != ErrorKind::WouldBlock,
            };
            let written = *sent < bytes.len() && s.write(&bytes[*sent..*sent + 1]).is_ok();
            if closed || (*sent < bytes.len() && !written) {
                tally.add(format!("cut off by the server after {} bytes", *sent));
                if let Some(fresh) = connect() {
                    *slot = (fresh, 0);
                }
                continue;
            }
            if written {
                *sent += 1;
            }
        }
        thread::sleep(TRICKLE.saturating_sub(turn.elapsed()));
    }
    for (_, sent) in &socks {
        tally.add(if *sent >= bytes.len() {
            "all bytes sent, still open".to_string()
        } else {
            "still trickling at the end".to_string()
        });
    }
    tally
}

/// Random bytes, either instead of a request head (expect an HTTP 4xx) or
/// right after a good handshake (expect a close frame with an error code).
pub fn garbage(t: Target, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    while !stopped(stop) {
        let upgrade = fastrand::bool();
        let mut junk = vec![0u8; fastrand::usize(1..16 * 1024)];
        fastrand::fill(&mut junk);
        let opened = if upgrade {
            raw::open(t.addr, TIMEOUT)
        } else {
            raw::connect(t.addr, TIMEOUT)
        };
        let Ok(mut s) = opened else {
            tally.add("connect failed");
            continue;
        };
        if s.write_all(&junk).is_err() {
            // The server may answer and close while we still send.
        }
        let outcome = if upgrade {
            match raw::read_close_code(&mut s) {
                Some(code) => format!("after upgrade: close {code}"),
                None => "after upgrade: no close frame".into(),
            }
        } else {
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            match answer.get(..12) {
                Some(status) => format!("before upgrade: {}", String::from_utf8_lossy(status)),
                None => "before upgrade: closed without an answer".into(),
            }
        };
        tally.add(outcome);
    }
    tally
}

/// Sends and never reads: large messages, or (with `pings`) a stream of
/// 125-byte pings, the ws-rs advisory's attack on the outgoing buffer. The
/// echoes or pongs pile up until the server's write queue passes its high
/// watermark and it stops reading, after which TCP itself blocks this
/// sender.
pub fn never_read(t: Target, pings: bool, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let Ok(mut s) = raw::open(t.addr, TIMEOUT) else {
        tally.add("connect failed");
        return tally;
    };
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let (mut sent, mut messages) = (0usize, 0u64);
    let mut frame = Vec::new();
    let mut at = 0;
    while !stopped(stop) {
        if at == frame.len() {
            frame = if pings {
                raw::frame(true, Opcode::Ping, 125)
            } else {
                let len = fastrand::usize(t.max_message / 4..=t.max_message);
                raw::frame(true, Opcode::Binary, len)
            };
            at = 0;
            messages += 1;
        }
        match s.write(&frame[at..]) {
            Ok(n) => {
                at += n;
                sent += n;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                tally.add(format!("write failed: {}", e.kind()));
                return tally;
            }
        }
    }
    tally.add(format!(
        "{}: stalled by backpressure after {} KiB ({messages} frames started)",
        if pings { "pings" } else { "messages" },
        sent / 1024 / 256 * 256
    ));
    raw::reset(s);
    tally
}

/// Connections that die with a TCP reset in the middle of a request head
/// or in the middle of a frame's payload.
pub fn resets(t: Target, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let request = raw::upgrade_request();
    while !stopped(stop) {
        if fastrand::u8(..4) == 0 {
            let Ok(mut s) = raw::connect(t.addr, TIMEOUT) else {
                tally.add("connect failed");
                continue;
            };
            let _ = s.write_all(&request[..fastrand::usize(1..request.len())]);
            raw::reset(s);
            tally.add("reset inside the request head");
        } else {
            let Ok(mut s) = raw::open(t.addr, TIMEOUT) else {
                tally.add("connect failed");
                continue;
            };
            let frame = raw::frame(true, Opcode::Binary, 32 * 1024);
            let _ = s.write_all(&frame[..fastrand::usize(1..frame.len())]);
            raw::reset(s);
            tally.add("reset inside a frame");
        }
    }
    tally
}

/// Opening handshakes as fast as one thread can make them, each followed
/// by a clean close.
pub fn handshake_flood(t: Target, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let close = {
        let mut f = raw::header(true, Opcode::Close, 2);
        let key: [u8; 4] = f[f.len() - 4..].try_into().unwrap();
        f.extend(1000u16.to_be_bytes().iter().zip(key).map(|(b, k)| b ^ k));
        f
    };
    while !stopped(stop) {
        let Ok(mut s) = raw::open(t.addr, TIMEOUT) else {
            tally.add("handshake failed");
            continue;
        };
        let code = s
            .write_all(&close)
            .ok()
            .and_then(|_| raw::read_close_code(&mut s));
        tally.add(match code {
            Some(code) => format!("handshake, then close {code}"),
            None => "handshake, then no close reply".into(),
        });
    }
    tally
}

/// Messages over the limit: one frame declaring more than the limit, a
/// 2^62-byte frame, and fragments that only together cross the limit.
/// Each must be refused with 1009 without the server buffering the excess.
pub fn oversized(t: Target, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let max = t.max_message as u64;
    let mut round = 0u64;
    while !stopped(stop) {
        round += 1;
        let Ok(mut s) = raw::open(t.addr, TIMEOUT) else {
            tally.add("connect failed");
            continue;
        };
        let (what, bytes) = match round % 3 {
            0 => (
                "one frame over the limit",
                raw::header(true, Opcode::Binary, max + 1),
            ),
            1 => (
                "a 2^62-byte frame",
                raw::header(true, Opcode::Text, 1 << 62),
            ),
            _ => {
                let half = t.max_message / 2;
                let mut b = raw::frame(false, Opcode::Binary, half);
                b.extend(raw::frame(false, Opcode::Continuation, half));
                b.extend(raw::frame(true, Opcode::Continuation, 1));
                ("fragments adding up past the limit", b)
            }
        };
        let code = s
            .write_all(&bytes)
            .ok()
            .and_then(|_| raw::read_close_code(&mut s));
        tally.add(match code {
            Some(code) => format!("{what}: close {code}"),
            None => format!("{what}: no close frame"),
        });
    }
    tally
}
