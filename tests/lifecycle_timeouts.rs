//! Timeouts of the connection lifecycle, observed from real loopback peers:
//! opening handshake, closing handshake, keepalive and idle.
//!
//! Each test sets its timeout short (hundreds of milliseconds), checks what
//! the peer sees (EOF, close code), and what the server counted and logged.
//! Elapsed time is only ever checked from below ("not before the
//! deadline"): an upper bound on wall-clock time would fail on a loaded
//! two-core machine, and the peer's read timeout ([`common::DEADLINE`])
//! already fails a server that never acts.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::logs::{capture_logs, log_lines};
use common::raw::{close_payload, Raw, BINARY, CLOSE, PING, TEXT};
use common::wait_until;
use common::Echo;
use tungstenite::Message as TMessage;
use wsloop::{Config, RunningServer, Server, WsCounters};

/// A config with every timer off, for tests to switch on what they test.
fn quiet_config() -> Config {
    Config {
        handshake_timeout: None,
        close_timeout: None,
        ping_interval: None,
        ping_timeout: None,
        idle_timeout: None,
        ..Config::default()
    }
}

fn start(config: Config) -> RunningServer<Echo> {
    capture_logs();
    Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::tolerant).expect("spawn server")
}

fn timeouts(server: &RunningServer<Echo>) -> u64 {
    WsCounters::get(&server.handle.counters().timeouts)
}

/// A client that connects and says nothing, and a slowloris that sends its
/// request one byte every 50 ms, are both cut off at the 400 ms handshake
/// deadline: each reads EOF without any response, and each gets exactly
/// one log line. While waiting, a silent connection holds no read buffer
/// (the loop reads into one shared buffer; see `reactor::READ_CHUNK`), only
/// its slab slot and one timer, which `loop_stats().timers` shows.
#[test]
fn opening_handshake_timeout_cuts_off_silent_and_slowloris_peers() {
    let timeout = Duration::from_millis(400);
    let server = start(Config {
        handshake_timeout: Some(timeout),
        ..quiet_config()
    });
    let addr = server.handle.local_addr();

    let started = Instant::now();
    let mut silent = Raw::connect(addr);
    let silent_name = silent.local();

    let mut slow = Raw::connect(addr);
    let slow_name = slow.local();
    let mut writer = slow.stream.try_clone().unwrap();
    let dribbler = thread::spawn(move || {
        // The whole request would take ~8 s at this pace; the server must
        // not wait for it. Stops at the first write error (the server hung
        // up) or after the whole request.
        let mut sent = 0;
        for byte in common::raw::request(addr) {
            if writer.write_all(&[byte]).is_err() {
                break;
            }
            sent += 1;
            thread::sleep(Duration::from_millis(50));
        }
        sent
    });

    // A snapshot taken once both were accepted (they may already be gone
    // again on a slow machine): each open connection holds exactly one
    // timer and nothing in any queue.
    let mut snapshot = server.handle.loop_stats();
    wait_until("both connections accepted", || {
        snapshot = server.handle.loop_stats();
        snapshot.total == 2
    });
    assert_eq!(snapshot.timers, snapshot.open);
    assert_eq!(snapshot.queued, 0);

    assert_eq!(silent.read_to_eof(), 0, "silent peer got bytes");
    assert!(started.elapsed() >= timeout, "silent peer cut off early");
    assert_eq!(slow.read_to_eof(), 0, "slowloris got a response");
    assert!(started.elapsed() >= timeout, "slowloris cut off early");
    let sent = dribbler.join().unwrap();
    assert!(
        sent < common::raw::request(addr).len(),
        "slowloris finished its request ({sent} bytes)"
    );

    wait_until("both connections gone", || {
        server.handle.loop_stats().open == 0
    });
    assert_eq!(timeouts(&server), 2);
    assert_eq!(WsCounters::get(&server.handle.counters().opened), 0);
    for name in [&silent_name, &slow_name] {
        let lines = log_lines(&[name, "opening handshake timed out"]);
        assert_eq!(lines.len(), 1, "log lines for {name}: {lines:?}");
    }
    server.stop().unwrap();
}

/// After `ServerHandle::close`, a raw peer that reads the close frame but
/// never answers is dropped once the 300 ms close timeout passes; a peer
/// that does answer is let go at once and costs no timeout.
#[test]
fn close_timeout_drops_a_peer_that_never_answers() {
    let timeout = Duration::from_millis(300);
    let server = start(Config {
        close_timeout: Some(timeout),
        ..quiet_config()
    });
    let addr = server.handle.local_addr();
    let mut mute = Raw::open(addr);
    let mute_name = mute.local();
    let mut polite = Raw::open(addr);
    let polite_name = polite.local();
    wait_until("two open", || {
        server.handle.connections().unwrap().len() == 2
    });

    let started = Instant::now();
    for info in server.handle.connections().unwrap() {
        server.handle.close(info.id, 1000, "bye").unwrap();
    }
    let (code, before) = polite.recv_close().expect("close frame");
    assert_eq!((code, before.len()), (1000, 0));
    polite.send(CLOSE, &close_payload(1000)).unwrap();
    polite.read_to_eof();

    let (code, _) = mute.recv_close().expect("close frame");
    assert_eq!(code, 1000);
    mute.read_to_eof();
    assert!(started.elapsed() >= timeout, "mute peer dropped early");

    wait_until("both gone", || server.handle.loop_stats().open == 0);
    assert_eq!(timeouts(&server), 1, "only the mute peer timed out");
    assert_eq!(
        log_lines(&[&mute_name, "closing handshake timed out"]).len(),
        1
    );
    assert!(log_lines(&[&polite_name, "timed out"]).is_empty());
    server.stop().unwrap();
}

/// A raw peer that never sends anything gets a keepalive ping after the
/// interval, and a 1011 close once the pong timeout passes without any
/// frame from it.
#[test]
fn keepalive_closes_a_peer_that_does_not_answer_pings() {
    let (interval, timeout) = (Duration::from_millis(200), Duration::from_millis(300));
    let server = start(Config {
        ping_interval: Some(interval),
        ping_timeout: Some(timeout),
        close_timeout: Some(Duration::from_millis(300)),
        ..quiet_config()
    });
    // Taken before the handshake, so it is no later than the server's start.
    let opened = Instant::now();
    let mut raw = Raw::open(server.handle.local_addr());
    let name = raw.local();
    let (op, payload) = raw.recv().expect("a ping");
    assert_eq!(op, PING);
    assert_eq!(payload, b"wsloop");
    assert!(opened.elapsed() >= interval, "pinged before the interval");
    // Pings may repeat while we stay silent; then the 1011 close comes.
    let (code, before) = raw.recv_close().expect("close frame");
    assert_eq!(code, 1011);
    assert!(before.iter().all(|(op, _)| *op == PING), "{before:?}");
    assert!(opened.elapsed() >= interval + timeout, "closed early");
    raw.send(CLOSE, &close_payload(1011)).unwrap();
    raw.read_to_eof();

    wait_until("gone", || server.handle.loop_stats().open == 0);
    assert_eq!(timeouts(&server), 1);
    assert_eq!(log_lines(&[&name, "no pong"]).len(), 1);
    server.stop().unwrap();
}

/// A tungstenite client that keeps reading (so it answers pings with pongs
/// by itself) stays open across twenty ping intervals of 100 ms; a peer
/// that did not answer would be closed one second after the first ping
/// (by which time at most about ten pings went out). A second
/// server with keepalive off (`0` on the command line) sends the same kind
/// of raw peer no ping at all over the same stretch.
#[test]
fn keepalive_keeps_a_responsive_peer_and_is_off_when_disabled() {
    let interval = Duration::from_millis(100);
    let server = start(Config {
        ping_interval: Some(interval),
        ping_timeout: Some(Duration::from_secs(1)),
        ..quiet_config()
    });
    let off = start(quiet_config());
    let mut silent = Raw::open(off.handle.local_addr());
    silent.stream.set_nonblocking(true).unwrap();

    let stream = TcpStream::connect(server.handle.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let url = format!("ws://{}/", server.handle.local_addr());
    let (mut ws, _) = tungstenite::client(url, stream).expect("handshake");
    let mut pings = 0;
    let start = Instant::now();
    while pings < 20 {
        match ws.read() {
            Ok(TMessage::Ping(p)) => {
                assert_eq!(p.as_ref(), b"wsloop");
                pings += 1;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Sends the pong queued by the last read, if any.
                let _ = ws.flush();
            }
            Err(e) => panic!("connection failed after {pings} pings: {e}"),
        }
        assert!(start.elapsed() < common::DEADLINE, "too few pings");
    }
    ws.send(TMessage::text("still here")).unwrap();
    loop {
        match ws.read().map_err(|e| e.to_string()) {
            Ok(TMessage::Text(t)) => {
                assert_eq!(t.as_str(), "still here");
                break;
            }
            Ok(TMessage::Ping(_)) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) if e.contains("Resource temporarily") || e.contains("timed out") => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(timeouts(&server), 0);

    // Twenty intervals went by; the keepalive-off server said nothing.
    let mut byte = [0u8; 1];
    let got = std::io::Read::read(&mut silent.stream, &mut byte);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "keepalive off, yet the server sent something: {got:?}"
    );
    assert_eq!(off.handle.loop_stats().timers, 0, "a timer is armed");
    drop((ws, silent));
    server.stop().unwrap();
    off.stop().unwrap();
}

/// With no message either way for the idle period, the server closes with
/// 1001, even though keepalive pings are being answered (they prove the
/// peer alive, not busy). A peer that sends a message every 100 ms stays
/// open well past the period.
#[test]
fn idle_timeout_closes_quiet_peers_and_spares_busy_ones() {
    let idle = Duration::from_millis(800);
    let server = start(Config {
        idle_timeout: Some(idle),
        ping_interval: Some(Duration::from_millis(100)),
        ping_timeout: Some(Duration::from_secs(5)),
        close_timeout: Some(Duration::from_secs(5)),
        ..quiet_config()
    });
    let addr = server.handle.local_addr();

    // Quiet but alive: tungstenite answers every ping while reading.
    let quiet_start = Instant::now();
    let stream = TcpStream::connect(addr).unwrap();
    let (mut quiet, _) = tungstenite::client(format!("ws://{addr}/"), stream).expect("handshake");
    let mut pings = 0;
    let code = loop {
        match quiet.read() {
            Ok(TMessage::Ping(_)) => pings += 1,
            Ok(TMessage::Close(Some(frame))) => break u16::from(frame.code),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(code, 1001);
    assert!(quiet_start.elapsed() >= idle, "closed early");
    assert!(pings >= 2, "keepalive was not running ({pings} pings)");
    // tungstenite answers the close; the server then ends TCP.
    loop {
        match quiet.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Our FIN lets the server release the connection now.
    drop(quiet);

    // Busy: a message every 100 ms, echoed, for two idle periods.
    let mut busy = Raw::open(addr);
    let busy_name = busy.local();
    let busy_start = Instant::now();
    let mut n = 0u32;
    while busy_start.elapsed() < 2 * idle {
        let msg = format!("tick {n}");
        busy.send(TEXT, msg.as_bytes()).unwrap();
        loop {
            let (op, payload) = busy.recv().expect("echo");
            if op == PING {
                busy.send(common::raw::PONG, &payload).unwrap();
                continue;
            }
            assert_eq!((op, payload), (TEXT, msg.clone().into_bytes()));
            break;
        }
        n += 1;
        thread::sleep(Duration::from_millis(100));
    }

    // The busy peer is the last one open.
    wait_until("quiet peer gone", || server.handle.loop_stats().open == 1);
    assert_eq!(timeouts(&server), 1, "{:?}", log_lines(&[]));
    assert!(log_lines(&[&busy_name, "idle"]).is_empty());
    assert_eq!(log_lines(&["idle for"]).len(), 1);
    busy.send(CLOSE, &close_payload(1000)).unwrap();
    let (code, _) = busy.recv_close().expect("close reply");
    assert_eq!(code, 1000);
    server.stop().unwrap();
}

/// A large frame trickled in more slowly than the idle timeout and the
/// ping timeout is activity and liveness all along. While the rest of such
/// a frame is awaited, the loop asks the kernel to hold the bytes back
/// until they are all there (`SO_RCVLOWAT`); before a timer fires it reads
/// what has come, so the timers see the frame progress. Without that read
/// the peer would look silent, and be closed, about 600 ms in.
#[test]
fn a_large_frame_trickled_past_the_timeouts_is_activity_all_along() {
    let idle = Duration::from_millis(600);
    let server = start(Config {
        idle_timeout: Some(idle),
        ping_interval: Some(Duration::from_millis(150)),
        ping_timeout: Some(Duration::from_millis(400)),
        close_timeout: Some(Duration::from_secs(5)),
        ..quiet_config()
    });
    let mut raw = Raw::open(server.handle.local_addr());
    let name = raw.local();
    let payload = common::pattern(17, 1 << 20);
    let wire = common::raw::masked_frame(BINARY, &payload);
    let started = Instant::now();
    // 16 KiB every 25 ms: about 1.6 s for the frame, more under load.
    for piece in wire.chunks(16 * 1024) {
        raw.stream.write_all(piece).unwrap();
        thread::sleep(Duration::from_millis(25));
    }
    assert!(started.elapsed() >= 2 * idle, "sent too fast to test");
    // Pings sent while the frame came are answered after it, as a peer
    // must: a control frame cannot go inside a data frame.
    loop {
        let (op, data) = raw.recv().expect("the echo");
        if op == PING {
            raw.send(common::raw::PONG, &data).unwrap();
            continue;
        }
        assert_eq!(op, BINARY);
        assert!(data == payload, "the echo differs");
        break;
    }
    assert_eq!(timeouts(&server), 0, "{:?}", log_lines(&[&name]));
    raw.send(CLOSE, &close_payload(1000)).unwrap();
    let (code, _) = raw.recv_close().expect("close reply");
    assert_eq!(code, 1000);
    server.stop().unwrap();
}
