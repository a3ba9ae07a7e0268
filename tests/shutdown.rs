//! Graceful shutdown: SIGINT/SIGTERM to the `wsloop echo` binary, and
//! `RunningServer::stop` in-process.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::process::Process;
use common::raw::{close_payload, Raw, CLOSE, TEXT};
use common::wait_until;
use common::Echo;
use wsloop::{Config, Server, WsCounters};

/// The first signal makes the server stop accepting (a new connection is
/// refused), send close 1001 to every open connection, wait for the closing
/// handshakes (the polite peers answer and see EOF; the mute one is dropped
/// once the close timeout passes, so the exit comes no earlier than that)
/// and then exit with status 0.
fn graceful(signal: i32) {
    let close_timeout = Duration::from_millis(500);
    let (mut server, addr) =
        Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--close-timeout", "500ms"]);
    let mut polite: Vec<Raw> = (0..3).map(|_| Raw::open(addr)).collect();
    let mut mute = Raw::open(addr);
    for (i, raw) in polite.iter_mut().enumerate() {
        let text = format!("hello {i}");
        raw.send(TEXT, text.as_bytes()).unwrap();
        assert_eq!(raw.recv(), Some((TEXT, text.into_bytes())));
    }

    let signalled = Instant::now();
    server.signal(signal);
    for raw in &mut polite {
        let (code, before) = raw.recv_close().expect("close frame");
        assert_eq!((code, before.len()), (1001, 0));
        raw.send(CLOSE, &close_payload(1001)).unwrap();
    }
    // The listener closed before the first close frame went out.
    let refused = TcpStream::connect(addr).expect_err("still accepting");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    for raw in &mut polite {
        raw.read_to_eof();
    }
    assert_eq!(mute.recv_close().map(|(code, _)| code), Some(1001));
    mute.read_to_eof();

    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        signalled.elapsed() >= close_timeout,
        "did not wait for the mute peer"
    );
    assert_eq!(
        server
            .log_lines("shutting down: closing 4 connection(s) with 1001")
            .len(),
        1
    );
    assert_eq!(server.log_lines("closing handshake timed out").len(), 1);
}

#[test]
fn sigterm_closes_every_connection_with_1001_and_exits_0() {
    graceful(libc::SIGTERM);
}

#[test]
fn sigint_closes_every_connection_with_1001_and_exits_0() {
    graceful(libc::SIGINT);
}

/// A second signal during the graceful wait (here held open by a mute peer
/// and a 60 s close timeout) ends the process at once, with status 130.
#[test]
fn a_second_signal_exits_at_once_with_130() {
    let (mut server, addr) =
        Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--close-timeout", "60s"]);
    let mut mute = Raw::open(addr);
    server.signal(libc::SIGINT);
    // The close frame proves the first signal was handled.
    assert_eq!(mute.recv_close().map(|(code, _)| code), Some(1001));
    server.signal(libc::SIGINT);
    let status = server.wait();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(server.log_lines("second signal").len(), 1);
    // The process is gone, and with it the connection.
    mute.read_to_eof();
}

/// `RunningServer::stop` does the same in-process: 1001 to every
/// connection, stop accepting, and return once the closing handshakes are
/// done (the mute peer is dropped after the close timeout).
#[test]
fn running_server_stop_is_graceful() {
    let config = Config {
        close_timeout: Some(Duration::from_millis(300)),
        ..Config::default()
    };
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::tolerant).unwrap();
    let handle = server.handle.clone();
    let addr = handle.local_addr();
    let mut polite = Raw::open(addr);
    let mut mute = Raw::open(addr);
    wait_until("two open", || {
        handle
            .counters()
            .opened
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2
    });

    let stopper = thread::spawn(move || server.stop());
    let (code, _) = polite.recv_close().expect("close frame");
    assert_eq!(code, 1001);
    polite.send(CLOSE, &close_payload(1001)).unwrap();
    polite.read_to_eof();
    assert_eq!(mute.recv_close().map(|(code, _)| code), Some(1001));
    mute.read_to_eof();
    stopper.join().unwrap().expect("stop");

    assert!(TcpStream::connect(addr).is_err(), "still accepting");
    assert_eq!(WsCounters::get(&handle.counters().closed), 2);
    assert_eq!(WsCounters::get(&handle.counters().timeouts), 1);
    assert_eq!(handle.loop_stats().open, 0);
}
