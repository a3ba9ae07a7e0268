//! Accepting when the process has run out of file descriptors.
//!
//! This is a test binary of its own because it exhausts the descriptor
//! table of the whole process: any other test running beside it would fail
//! to open sockets.

mod common;

use std::fs::File;
use std::io::Write;
use std::time::Instant;

use common::logs::{capture_logs, log_lines};
use common::raw::{close_payload, Raw, CLOSE, TEXT};
use common::wait_until;
use common::Echo;
use wsloop::reactor::ACCEPT_BACKOFF;
use wsloop::{Config, Server};

/// Lowers this process's soft descriptor limit, so exhausting it takes a
/// few hundred files rather than twenty thousand.
fn limit_descriptors(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

/// With every descriptor in use and a connection waiting in the backlog:
///
/// - the server keeps serving the connection it already has;
/// - it does not spin: each failed accept is followed by a real pause
///   ([`ACCEPT_BACKOFF`]), which the test checks from below on the clock
///   (a busy loop would pile up failed accepts in microseconds), and the
///   loop turns at most a few times per failed accept (a loop woken over
///   and over by the readable listener would turn thousands of times);
///   both checks count events, so a slow machine cannot fail them;
/// - it logs the condition once, however many accepts fail;
/// - once descriptors are free again it accepts the waiting connection,
///   which then completes its handshake.
#[test]
fn out_of_descriptors_the_server_pauses_accepting_without_spinning() {
    capture_logs();
    let config = Config {
        ping_interval: None,
        ..Config::default()
    };
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::tolerant).unwrap();
    let addr = server.handle.local_addr();
    let mut open = Raw::open(addr);

    limit_descriptors(512);
    let mut hoard = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => hoard.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("unexpected error while exhausting descriptors: {e}"),
        }
    }
    // One descriptor for the client socket; the server has none to accept it.
    hoard.pop();
    let mut waiting = Raw::connect(addr);
    waiting
        .stream
        .write_all(&common::raw::request(addr))
        .unwrap();

    wait_until("a failed accept", || {
        server.handle.loop_stats().accept_fd_errors >= 1
    });
    // The clock readings bracket the two snapshots, so `elapsed` covers
    // every failure counted between them but the first.
    let since = Instant::now();
    let before = server.handle.loop_stats();
    let retries = 5;
    wait_until("several retries", || {
        server.handle.loop_stats().accept_fd_errors >= before.accept_fd_errors + retries
    });
    let after = server.handle.loop_stats();
    let elapsed = since.elapsed();
    let failed = after.accept_fd_errors - before.accept_fd_errors;
    let turns = after.turns - before.turns;
    assert!(
        // Half the backoff per retry leaves room for where in its turn
        // each failure fell; a busy loop would be thousands of times faster.
        elapsed >= ACCEPT_BACKOFF / 2 * (failed as u32 - 1),
        "{failed} failed accepts in {elapsed:?}: not backing off"
    );
    assert!(
        turns <= 3 * failed + 3,
        "{turns} loop turns for {failed} failed accepts: spinning"
    );
    assert_eq!(after.open, 1, "the waiting connection was accepted");

    // The open connection is still served while accepting is paused.
    open.send(TEXT, b"still here").unwrap();
    assert_eq!(open.recv(), Some((TEXT, b"still here".to_vec())));

    let warnings = log_lines(&["WARN", "accept:", "pausing accept"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    drop(hoard);
    let head = waiting.read_http_head().expect("handshake response");
    assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
    waiting.send(TEXT, b"accepted at last").unwrap();
    assert_eq!(waiting.recv(), Some((TEXT, b"accepted at last".to_vec())));
    assert_eq!(log_lines(&["accepting connections again"]).len(), 1);
    assert_eq!(log_lines(&["WARN", "accept:"]).len(), 1);

    for mut raw in [open, waiting] {
        raw.send(CLOSE, &close_payload(1000)).unwrap();
        assert_eq!(raw.recv_close().map(|(c, _)| c), Some(1000));
    }
    server.stop().unwrap();
}
