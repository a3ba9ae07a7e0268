//! The server over TLS (`wss://`): python websockets as an independent
//! client (echo, messages of a few MiB, a client that does not read), and
//! peers that never complete a TLS handshake, dropped while others go on.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::logs::{capture_logs, log_lines};
use common::raw::{self, masked_frame, read_frame};
use common::tls::{python, tls_connect, TestPki};
use common::{wait_until, Echo, DEADLINE};
use wsloop::{Config, RunningServer, Server};

fn spawn_tls(pki: &TestPki, config: Config) -> RunningServer<Echo> {
    let config = config.with_tls(pki.acceptor());
    Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::strict).unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("wss://{addr}/")
}

/// Runs the python client in `mode` against a TLS echo server.
fn python_client_passes(mode: &str) {
    let pki = TestPki::new();
    let server = spawn_tls(&pki, Config::default());
    let addr = server.handle.local_addr();
    let ca = pki.ca_path().display().to_string();
    let mut client = python("wss_client.py", &[&url(addr), &ca, mode]);
    client.expect("ok");
    assert!(client.finish(), "python client failed in mode {mode}");
    server.stop().unwrap();
}

#[test]
fn python_websockets_echoes_over_tls() {
    python_client_passes("echo");
}

#[test]
fn python_websockets_large_messages_over_tls() {
    python_client_passes("large");
}

#[test]
fn wsloop_echo_over_tls_echoes_large_messages_part_by_part() {
    // The command's echo takes messages from 64 KiB in parts: over TLS
    // nothing is lent, each part is encrypted into the queue as it comes.
    let pki = TestPki::new();
    let (mut server, addr) = pki.wsloop("echo", &["--trace"]);
    let ca = pki.ca_path().display().to_string();
    // Uncompressed: a compressed message always comes whole.
    let mut client = python("wss_client.py", &[&url(addr), &ca, "large-uncompressed"]);
    client.expect("ok");
    assert!(client.finish(), "python client failed over TLS");
    server.expect("ws: decoded the last part of a text message");
    assert!(server.lines_with("(lent from the read)").is_empty());
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}

#[test]
fn a_tls_client_that_does_not_read_is_paused_and_resumed() {
    const COUNT: usize = 400;
    const SIZE: usize = 64 * 1024; // 25 MiB in all
    let pki = TestPki::new();
    let server = spawn_tls(&pki, Config::default());
    let h = server.handle.clone();
    let go = pki.dir.join("go");
    let ca = pki.ca_path().display().to_string();
    let (count, size) = (COUNT.to_string(), SIZE.to_string());
    let go_arg = go.display().to_string();
    let args = [
        url(h.local_addr()),
        ca,
        "backpressure".into(),
        count,
        size,
        go_arg,
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut client = python("wss_client.py", &args);

    wait_until("the server paused reading from the client", || {
        let s = h.loop_stats();
        s.pauses >= 1 && s.read_pauses >= 1
    });
    // While the client does not read, the server stops reading too: TCP
    // and TLS push back on the sender, most of the data is never taken in.
    let stalled_at = h.loop_stats().bytes_in;
    assert!(
        stalled_at < (COUNT * SIZE) as u64 / 2,
        "the server kept reading: {stalled_at} bytes"
    );
    std::fs::write(&go, b"").unwrap();
    client.expect("ok");
    assert!(client.finish(), "python client failed");

    let s = h.loop_stats();
    // Plaintext waiting for encryption plus ciphertext waiting for the
    // socket: the high watermark, the echoes of one read, one message.
    let bound = (64 * 1024 + wsloop::READ_CHUNK + SIZE + 64 * 1024) as u64;
    assert!(
        s.peak_queued <= bound,
        "peak queue {} over {bound}",
        s.peak_queued
    );
    wait_until("pauses and resumes balance", || {
        let s = h.loop_stats();
        s.resumes >= 1 && s.pauses == s.resumes
    });
    server.stop().unwrap();
}

/// A WebSocket over a blocking rustls stream, for checking the server
/// still serves while bad peers are around.
fn open_wss(pki: &TestPki, addr: SocketAddr) -> impl Read + Write {
    let mut stream = tls_connect(pki, addr);
    stream.write_all(&raw::request(addr)).unwrap();
    let head = raw::read_head(&mut stream).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

fn echo_once(ws: &mut (impl Read + Write), text: &str) {
    ws.write_all(&masked_frame(1, text.as_bytes())).unwrap();
    let frame = read_frame(ws).unwrap().expect("an echo");
    assert_eq!(frame.payload, text.as_bytes());
}

/// Reads until the server closes; returns how long that took.
fn closed_within(mut stream: TcpStream) -> Duration {
    let start = Instant::now();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => {}
        }
        assert!(start.elapsed() < DEADLINE, "the server never closed");
    }
}

#[test]
fn plaintext_garbage_and_slow_handshakes_are_dropped_while_others_go_on() {
    capture_logs();
    let pki = TestPki::new();
    let config = Config {
        handshake_timeout: Some(Duration::from_millis(500)),
        ..Config::default()
    };
    let server = spawn_tls(&pki, config);
    let addr = server.handle.local_addr();
    let mut good = open_wss(&pki, addr);
    echo_once(&mut good, "before");

    // Plain HTTP on the TLS port, and bytes that are no TLS at all.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.write_all(&raw::request(addr)).unwrap();
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage.write_all(&[0x42; 300]).unwrap();
    // A peer that connects and never says anything, and one that stops
    // halfway through its ClientHello: only the handshake timeout ends them.
    let silent = TcpStream::connect(addr).unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x01, 0x00, 0x01])
        .unwrap();

    echo_once(&mut good, "meanwhile");
    let peers = [plain.local_addr().unwrap(), garbage.local_addr().unwrap()];
    closed_within(plain);
    closed_within(garbage);
    for peer in peers {
        let peer = peer.to_string();
        wait_until("a log line for each bad handshake", || {
            !log_lines(&[&peer, "TLS handshake failed"]).is_empty()
        });
    }
    closed_within(silent);
    closed_within(half);
    echo_once(&mut good, "after");
    for peer in peers {
        let lines = log_lines(&[&format!("{peer}:")]);
        assert_eq!(lines.len(), 1, "one line per bad peer: {lines:?}");
    }
    assert_eq!(server.handle.loop_stats().open, 1);
    drop(good);
    server.stop().unwrap();
}
