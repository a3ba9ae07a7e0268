//! Legitimate clients keep getting exact echoes while, at the same time,
//! other clients misbehave in every way the server must survive.
//!
//! Everything is bounded: each hostile kind makes a fixed number of
//! attempts, each legitimate client sends a fixed number of messages, and
//! all threads are joined. Afterwards every connection is gone and each
//! kind of misbehaviour shows up in its counter exactly as often as it was
//! committed.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use common::raw::{masked_frame, Raw, BINARY, TEXT};
use common::Echo;
use common::{pattern, wait_until};
use tungstenite::Message as TMessage;
use wsloop::{Config, Server, WsCounters};

const LEGIT_CLIENTS: usize = 4;
const MESSAGES: usize = 150;
/// Attempts per hostile kind.
const ATTEMPTS: usize = 60;
const MAX_MESSAGE: usize = 64 * 1024;

/// Sends messages of many sizes (up to the limit) and checks each echo.
fn legit(addr: SocketAddr, seed: u64) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).expect("handshake");
    for i in 0..MESSAGES {
        let len = (pattern(seed * 1000 + i as u64, 2)[0] as usize * 257) % MAX_MESSAGE;
        let data = pattern(seed * 1000 + i as u64, len);
        let msg = if i % 3 == 0 {
            let text: String = data.iter().map(|b| (b'a' + b % 26) as char).collect();
            TMessage::text(text)
        } else {
            TMessage::binary(data)
        };
        ws.send(msg.clone()).unwrap();
        let back = loop {
            match ws.read().expect("echo") {
                TMessage::Ping(_) | TMessage::Pong(_) => continue,
                other => break other,
            }
        };
        assert_eq!(back, msg, "client {seed}, message {i}");
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

/// Not HTTP at all (a TLS-looking first byte and noise): answered 400.
fn garbage_before_handshake(addr: SocketAddr, i: usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let mut junk = vec![0x16, 0x03, 0x01];
    junk.extend(pattern(i as u64, 500));
    let _ = s.write_all(&junk);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
}

/// A frame announcing more than the message limit: closed with 1009.
fn oversized(addr: SocketAddr) {
    let mut raw = Raw::open(addr);
    let mut frame = masked_frame(BINARY, &vec![7u8; MAX_MESSAGE + 1]);
    frame.truncate(4096);
    let _ = raw.stream.write_all(&frame);
    assert_eq!(raw.recv_close().map(|(code, _)| code), Some(1009));
    raw.read_to_eof();
}

/// An unmasked client frame, a protocol violation: closed with 1002.
fn unmasked(addr: SocketAddr) {
    let mut raw = Raw::open(addr);
    let _ = raw
        .stream
        .write_all(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
    assert_eq!(raw.recv_close().map(|(code, _)| code), Some(1002));
    raw.read_to_eof();
}

/// Half a request each, then silence, all at once: every one is dropped
/// at the handshake timeout.
fn stallers(addr: SocketAddr) {
    let request = common::raw::request(addr);
    let mut all: Vec<Raw> = (0..ATTEMPTS).map(|_| Raw::connect(addr)).collect();
    for raw in &mut all {
        raw.stream.write_all(&request[..request.len() / 2]).unwrap();
    }
    for raw in &mut all {
        assert_eq!(raw.read_to_eof(), 0);
    }
}

/// Opens, starts a frame, and vanishes (FIN, or RST via `SO_LINGER` 0).
fn vanisher(addr: SocketAddr, i: usize) {
    let mut raw = Raw::open(addr);
    let frame = masked_frame(TEXT, b"never finished");
    raw.stream.write_all(&frame[..frame.len() / 2]).unwrap();
    if i.is_multiple_of(2) {
        raw.stream.shutdown(Shutdown::Both).unwrap();
    } else {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on our own socket with a valid option struct.
        unsafe {
            use std::os::fd::AsRawFd;
            libc::setsockopt(
                raw.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}

#[test]
fn legitimate_clients_are_served_exactly_while_others_misbehave() {
    let config = Config::default().with_max_message_size(MAX_MESSAGE);
    let config = Config {
        handshake_timeout: Some(Duration::from_millis(300)),
        close_timeout: Some(Duration::from_secs(2)),
        ..config
    };
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::tolerant).unwrap();
    let addr = server.handle.local_addr();

    let legits: Vec<_> = (0..LEGIT_CLIENTS)
        .map(|seed| thread::spawn(move || legit(addr, seed as u64 + 1)))
        .collect();
    let hostile: Vec<_> = (0..5)
        .map(|kind| {
            thread::spawn(move || {
                if kind == 3 {
                    return stallers(addr);
                }
                for i in 0..ATTEMPTS {
                    match kind {
                        0 => garbage_before_handshake(addr, i),
                        1 => oversized(addr),
                        2 => unmasked(addr),
                        _ => vanisher(addr, i),
                    }
                }
            })
        })
        .collect();
    for (i, t) in legits.into_iter().enumerate() {
        t.join()
            .unwrap_or_else(|_| panic!("legitimate client {i} failed"));
    }
    for t in hostile {
        t.join().expect("a hostile client saw the server misbehave");
    }

    wait_until("every connection gone", || {
        server.handle.loop_stats().open == 0
    });
    let c = server.handle.counters();
    let n = ATTEMPTS as u64;
    assert_eq!(WsCounters::get(&c.rejected), n, "400s");
    assert_eq!(
        WsCounters::get(&c.protocol_errors),
        2 * n,
        "1009s and 1002s"
    );
    assert_eq!(WsCounters::get(&c.timeouts), n, "stalled handshakes");
    assert_eq!(WsCounters::get(&c.handler_panics), 0);
    assert_eq!(
        WsCounters::get(&c.opened),
        LEGIT_CLIENTS as u64 + 3 * n,
        "legit + oversized + unmasked + vanishers"
    );
    assert_eq!(WsCounters::get(&c.closed), WsCounters::get(&c.opened));

    // Still healthy afterwards.
    legit(addr, 99);
    server.stop().unwrap();
}
