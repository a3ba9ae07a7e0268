//! Transport semantics over real sockets, observed through a probe protocol
//! that records every callback and obeys commands sent from the test thread.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{pattern, spawn_server, wait_until, Running};
use wsloop::{ConnId, Context, Protocol};

/// What the probe saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Made(ConnId),
    Data(ConnId, Vec<u8>),
    Eof(ConnId),
    Lost(ConnId, Option<io::ErrorKind>),
    Pause(ConnId),
    Resume(ConnId),
    Timer(ConnId, u32),
    Command(ConnId, String),
}

type Log = Arc<Mutex<Vec<Seen>>>;

#[derive(Clone, Debug)]
enum Cmd {
    Write(usize),
    Limits(usize, Option<usize>),
    Close,
    Abort,
    WriteEof(Vec<u8>),
    Timer(u64, u32),
    Note(String),
}

struct Probe;

impl Probe {
    fn log(cx: &mut Context<'_, Self>, seen: Seen) {
        cx.shared().lock().unwrap().push(seen);
    }
}

impl Protocol for Probe {
    type Shared = Log;
    type Command = Cmd;

    fn connection_made(&mut self, cx: &mut Context<'_, Self>) {
        let id = cx.id();
        Self::log(cx, Seen::Made(id));
    }
    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let id = cx.id();
        Self::log(cx, Seen::Data(id, data.to_vec()));
        data.len()
    }
    fn eof_received(&mut self, cx: &mut Context<'_, Self>) -> bool {
        let id = cx.id();
        Self::log(cx, Seen::Eof(id));
        true // keep the half-open connection; tests decide
    }
    fn connection_lost(&mut self, cx: &mut Context<'_, Self>, error: Option<io::Error>) {
        let id = cx.id();
        Self::log(cx, Seen::Lost(id, error.map(|e| e.kind())));
    }
    fn pause_writing(&mut self, cx: &mut Context<'_, Self>) {
        let id = cx.id();
        Self::log(cx, Seen::Pause(id));
    }
    fn resume_writing(&mut self, cx: &mut Context<'_, Self>) {
        let id = cx.id();
        Self::log(cx, Seen::Resume(id));
    }
    fn timer_fired(&mut self, cx: &mut Context<'_, Self>, tag: u32) {
        let id = cx.id();
        Self::log(cx, Seen::Timer(id, tag));
    }
    fn command(&mut self, cx: &mut Context<'_, Self>, command: Cmd) {
        match command {
            Cmd::Write(n) => cx.write(&pattern(7, n)),
            Cmd::Limits(high, low) => cx.set_write_buffer_limits(high, low).unwrap(),
            Cmd::Close => cx.close(),
            Cmd::Abort => cx.abort(),
            Cmd::WriteEof(data) => {
                cx.write(&data);
                cx.write_eof();
            }
            Cmd::Timer(ms, tag) => {
                cx.set_timer(Duration::from_millis(ms), tag);
            }
            Cmd::Note(text) => {
                let id = cx.id();
                Self::log(cx, Seen::Command(id, text));
            }
        }
    }
}

fn start() -> (Running<Probe>, Log) {
    let log: Log = Arc::default();
    let shared = log.clone();
    (spawn_server(move || (shared, || Probe)), log)
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

/// Waits for the nth connection and returns its id.
fn nth_conn(log: &Log, n: usize) -> ConnId {
    let mut id = None;
    wait_until("connection_made", || {
        id = seen(log)
            .iter()
            .filter_map(|s| {
                if let Seen::Made(id) = s {
                    Some(*id)
                } else {
                    None
                }
            })
            .nth(n);
        id.is_some()
    });
    id.unwrap()
}

fn flow_events(log: &Log, id: ConnId) -> Vec<&'static str> {
    seen(log)
        .iter()
        .filter_map(|s| match s {
            Seen::Pause(c) if *c == id => Some("pause"),
            Seen::Resume(c) if *c == id => Some("resume"),
            _ => None,
        })
        .collect()
}

/// Waits until the flow events of `id` are exactly `expected`. The
/// callbacks run when the loop settles the connection, just after the
/// command that caused them, so they are waited for, not assumed.
fn expect_flow(log: &Log, id: ConnId, expected: &[&str]) {
    wait_until(&format!("flow events {expected:?}"), || {
        flow_events(log, id) == expected
    });
}

fn lost(log: &Log, id: ConnId) -> Option<Option<io::ErrorKind>> {
    seen(log).iter().find_map(|s| match s {
        Seen::Lost(c, e) if *c == id => Some(*e),
        _ => None,
    })
}

/// Sends a command and waits until the loop has handled it.
fn command(server: &Running<Probe>, log: &Log, id: ConnId, cmd: Cmd) {
    server.handle.send_to(id, cmd).unwrap();
    let marker = format!("{:?}", std::time::Instant::now());
    server
        .handle
        .send_to(id, Cmd::Note(marker.clone()))
        .unwrap();
    wait_until("command handled", || {
        seen(log).contains(&Seen::Command(id, marker.clone()))
    });
}

#[test]
fn limits_default_to_asyncio_values_and_reject_low_above_high() {
    let (server, _log) = start();
    let (tx, rx) = mpsc::channel();
    let _client = TcpStream::connect(server.addr).unwrap();
    wait_until("accepted", || server.handle.stats().open == 1);
    server
        .handle
        .run(move |lp| {
            let id = lp.connection_ids()[0];
            lp.with_conn(id, |_, cx| {
                let defaults = cx.write_buffer_limits();
                let rejected = cx.set_write_buffer_limits(100, Some(101)).is_err();
                let unchanged = cx.write_buffer_limits();
                cx.set_write_buffer_limits(1000, None).unwrap();
                tx.send((defaults, rejected, unchanged, cx.write_buffer_limits()))
                    .unwrap();
            });
        })
        .unwrap();
    let (defaults, rejected, unchanged, quarter) = rx.recv_timeout(common::DEADLINE).unwrap();
    assert_eq!((defaults.high, defaults.low), (64 * 1024, 16 * 1024));
    assert!(rejected, "low > high must be rejected");
    assert_eq!(unchanged, defaults, "a rejected call changes nothing");
    assert_eq!((quarter.high, quarter.low), (1000, 250));
}

#[test]
fn changing_limits_with_data_queued_pauses_and_resumes_per_the_rule() {
    let (server, log) = start();
    let mut client = TcpStream::connect(server.addr).unwrap();
    let id = nth_conn(&log, 0);

    // 32 MiB to a client that does not read: far more than the kernel buffers.
    command(&server, &log, id, Cmd::Write(32 << 20));
    expect_flow(&log, id, &["pause"]);
    wait_until("most of 32 MiB queued", || {
        server.handle.stats().queued > 16 << 20
    });

    // Raising both marks above the queue resumes the producer...
    command(&server, &log, id, Cmd::Limits(64 << 20, Some(32 << 20)));
    expect_flow(&log, id, &["pause", "resume"]);
    // ...lowering them under it pauses it again, once.
    command(&server, &log, id, Cmd::Limits(1024, None));
    expect_flow(&log, id, &["pause", "resume", "pause"]);
    command(&server, &log, id, Cmd::Limits(2048, None));
    // A later command's marker proves the loop went past the second change
    // without a second pause.
    command(&server, &log, id, Cmd::Note("after".into()));
    expect_flow(&log, id, &["pause", "resume", "pause"]);

    // Draining the queue resumes exactly once.
    let mut buf = vec![0; 1 << 20];
    let mut got = 0;
    while got < 32 << 20 {
        got += client.read(&mut buf).unwrap();
    }
    wait_until("resume after drain", || flow_events(&log, id).len() == 4);
    assert_eq!(
        flow_events(&log, id),
        ["pause", "resume", "pause", "resume"]
    );
}

#[test]
fn abort_drops_queued_data_and_reports_an_error() {
    let (server, log) = start();
    let mut client = TcpStream::connect(server.addr).unwrap();
    let id = nth_conn(&log, 0);
    server.handle.send_to(id, Cmd::Write(32 << 20)).unwrap();
    server.handle.send_to(id, Cmd::Abort).unwrap();
    wait_until("connection_lost", || lost(&log, id).is_some());
    assert_eq!(lost(&log, id), Some(Some(io::ErrorKind::ConnectionAborted)));

    // What the kernel had already taken may arrive; the rest is gone.
    let mut got = 0usize;
    let mut buf = vec![0; 1 << 20];
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < 32 << 20, "abort delivered everything ({got} bytes)");
    wait_until("slot released", || server.handle.stats().open == 0);
    assert_eq!(server.handle.stats().queued, 0);
}

#[test]
fn close_delivers_everything_queued_first() {
    let (server, log) = start();
    let mut client = TcpStream::connect(server.addr).unwrap();
    let id = nth_conn(&log, 0);
    server.handle.send_to(id, Cmd::Write(32 << 20)).unwrap();
    server.handle.send_to(id, Cmd::Close).unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), 32 << 20);
    assert!(back == pattern(7, 32 << 20));
    drop(client);
    wait_until("connection_lost", || lost(&log, id).is_some());
    assert_eq!(
        lost(&log, id),
        Some(None),
        "an orderly close reports no error"
    );
}

#[test]
fn write_eof_half_closes_and_the_peer_can_still_send() {
    let (server, log) = start();
    let mut client = TcpStream::connect(server.addr).unwrap();
    let id = nth_conn(&log, 0);
    server
        .handle
        .send_to(id, Cmd::WriteEof(b"bye for now".to_vec()))
        .unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).unwrap(); // returns at the server's EOF
    assert_eq!(back, b"bye for now");

    client.write_all(b"still here").unwrap();
    wait_until("data after write_eof", || {
        let data: Vec<u8> = seen(&log)
            .iter()
            .filter_map(|s| {
                if let Seen::Data(_, d) = s {
                    Some(d.clone())
                } else {
                    None
                }
            })
            .flatten()
            .collect();
        data == b"still here"
    });
    assert_eq!(lost(&log, id), None, "half-closed, not closed");

    client.shutdown(Shutdown::Write).unwrap();
    wait_until("closed once both sides are done", || {
        lost(&log, id).is_some()
    });
    assert!(seen(&log).contains(&Seen::Eof(id)));
    assert_eq!(lost(&log, id), Some(None));
}

#[test]
fn a_reused_slot_never_gets_the_previous_tenants_timer_or_command() {
    let (server, log) = start();
    let first = TcpStream::connect(server.addr).unwrap();
    let old = nth_conn(&log, 0);
    command(&server, &log, old, Cmd::Timer(300, 1));
    drop(first);
    wait_until("EOF from the first client", || {
        seen(&log).contains(&Seen::Eof(old))
    });
    server.handle.send_to(old, Cmd::Close).unwrap();
    wait_until("first connection lost", || lost(&log, old).is_some());
    wait_until("slot freed", || server.handle.stats().open == 0);

    let _second = TcpStream::connect(server.addr).unwrap();
    let new = nth_conn(&log, 1);
    assert_eq!(
        new.slot(),
        old.slot(),
        "the slab should reuse the freed slot"
    );
    assert_ne!(new.generation(), old.generation());

    // A command for the old tenant, and its timer coming due.
    server
        .handle
        .send_to(old, Cmd::Note("for the old tenant".into()))
        .unwrap();
    command(&server, &log, new, Cmd::Timer(1, 2));
    wait_until("new tenant's own timer", || {
        seen(&log).contains(&Seen::Timer(new, 2))
    });
    wait_until("old timer popped", || server.handle.stats().timers == 0);
    // Make sure the loop is past the old timer's deadline before looking.
    command(&server, &log, new, Cmd::Timer(400, 3));
    wait_until("later timer", || seen(&log).contains(&Seen::Timer(new, 3)));

    let log = seen(&log);
    assert!(
        !log.iter().any(|s| matches!(s, Seen::Timer(_, 1))),
        "stale timer fired: {log:?}"
    );
    assert!(
        !log.iter()
            .any(|s| matches!(s, Seen::Command(_, t) if t == "for the old tenant")),
        "stale command delivered"
    );
}

#[test]
fn a_command_from_another_thread_wakes_an_idle_loop() {
    let (server, _log) = start();
    // No connection, no timer: the loop sleeps in poll with no timeout, so
    // only the waker can get this task run.
    let (tx, rx) = mpsc::channel();
    let handle = server.handle.clone();
    std::thread::spawn(move || {
        handle
            .run(move |lp| tx.send(lp.open_connections()).unwrap())
            .unwrap();
    });
    assert_eq!(rx.recv_timeout(common::DEADLINE).unwrap(), 0);
}

#[test]
fn a_thread_faster_than_the_loop_is_held_back_by_a_bounded_queue() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use wsloop::MESSAGE_QUEUE_CAPACITY;

    let (server, _log) = start();
    // Hold the loop thread inside a task until released.
    let (release, held) = mpsc::channel::<()>();
    let (entered_tx, entered) = mpsc::channel();
    server
        .handle
        .run(move |_| {
            entered_tx.send(()).unwrap();
            held.recv().unwrap();
        })
        .unwrap();
    entered.recv_timeout(common::DEADLINE).unwrap();

    // A producer posts more tasks than the queue holds.
    let total = MESSAGE_QUEUE_CAPACITY + 1000;
    let (posted, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let producer = {
        let (handle, posted, ran) = (server.handle.clone(), posted.clone(), ran.clone());
        std::thread::spawn(move || {
            for _ in 0..total {
                let ran = ran.clone();
                handle
                    .run(move |_| {
                        ran.fetch_add(1, SeqCst);
                    })
                    .unwrap();
                posted.fetch_add(1, SeqCst);
            }
        })
    };
    wait_until("the queue to fill", || {
        posted.load(SeqCst) >= MESSAGE_QUEUE_CAPACITY
    });
    // While the loop is held nothing drains, so the producer cannot be past
    // the capacity, however long it has been running.
    assert!(posted.load(SeqCst) <= MESSAGE_QUEUE_CAPACITY);
    assert_eq!(ran.load(SeqCst), 0);

    release.send(()).unwrap();
    producer.join().unwrap();
    wait_until("every task ran", || ran.load(SeqCst) == total);
}
