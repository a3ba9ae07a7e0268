//! `--trace`: one line per step of the loop, for every connection or for
//! one slot only.

mod common;

use common::process::Process;
use tungstenite::Message as TMessage;

/// Opens a WebSocket, echoes one message and closes it.
fn echo_once(addr: std::net::SocketAddr, text: &str) {
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
    ws.send(TMessage::text(text)).unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::text(text));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

#[test]
fn trace_all_walks_a_message_through_the_loop() {
    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--trace"]);
    echo_once(addr, "hello");
    // The steps of one echo, in the order the loop takes them.
    for step in [
        "accepted from",
        "event: token 0, generation 1: readable",
        "ws: handshake done (/) -> on_open",
        "flush: 129 bytes queued, 129 flushed, 0 left",
        "read: 11 bytes",
        "ws: decoded a text message of 5 bytes -> handler",
        "ws: send 5 bytes: framed, 7 bytes now queued",
        "flush: 7 bytes queued, 7 flushed, 0 left",
        "ws: decoded a close frame",
        "socket closed; connection_lost(None)",
        "slot freed",
    ] {
        let line = server.expect(step);
        assert!(line.starts_with("trace: #0.1 "), "{line}");
    }
    assert!(!server.log_lines("poll woke with").is_empty());
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}

#[test]
fn an_echo_of_512_bytes_or_more_is_lent_from_the_read_buffer() {
    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--trace"]);
    let text = "x".repeat(600);
    echo_once(addr, &text);
    // A 600-byte payload: a 4-byte server header in front, written by the
    // session into the read buffer, and the flush made before `settle`.
    for step in [
        "ws: decoded a text message of 600 bytes -> handler",
        "ws: send 600 bytes: framed in place, lent, 604 bytes now queued",
        "ws: frames consumed 608 of 608 bytes, 0 kept",
        "flush: 604 bytes queued, 604 flushed, 0 left (lent from the read)",
        "ws: decoded a close frame",
    ] {
        server.expect(step);
    }
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}

#[test]
fn trace_of_one_slot_leaves_the_others_out() {
    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--trace", "1"]);
    // Two connections at once take slots 0 and 1.
    let (mut first, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
    echo_once(addr, "second");
    first.send(TMessage::text("first")).unwrap();
    first.read().unwrap();
    drop(first);
    server.expect("#1.2 slot freed");
    server.signal(libc::SIGTERM);
    assert!(server.finish());
    let traced = server.log_lines("trace: ");
    assert!(traced
        .iter()
        .any(|l| l.contains("#1.2 ws: decoded a text message of 6 bytes")));
    let strays: Vec<_> = traced
        .iter()
        .filter(|l| !l.starts_with("trace: #1.2 ") && !l.starts_with("trace: poll woke"))
        .collect();
    assert!(strays.is_empty(), "lines about other slots: {strays:?}");
}

#[test]
fn every_worker_traces_and_names_itself() {
    let (mut server, addr) =
        Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--workers", "2", "--trace"]);
    for i in 0..4 {
        echo_once(addr, &format!("message {i}"));
    }
    let accepted = server.expect_lines("accepted from", 4);
    for line in &accepted {
        // "trace w<N>: #<slot>.<generation> accepted from ..": a worker's
        // connections have generation % workers == N.
        let rest = line.strip_prefix("trace w").expect(line);
        let (worker, rest) = rest.split_once(": #").expect(line);
        let generation = rest.split_once(' ').expect(line).0;
        let generation: u64 = generation.split_once('.').expect(line).1.parse().unwrap();
        assert_eq!(generation % 2, worker.parse::<u64>().unwrap(), "{line}");
    }
    // A stop wakes both loops, so both trace their own steps too.
    server.signal(libc::SIGTERM);
    assert!(server.finish());
    for worker in ["trace w0: poll woke", "trace w1: poll woke"] {
        assert!(!server.log_lines(worker).is_empty(), "no line {worker:?}");
    }
    assert!(server.log_lines("trace: ").is_empty());
}

#[test]
fn a_clean_close_ends_the_connection_in_the_turn_that_read_it() {
    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--trace"]);
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
    ws.send(TMessage::text("bye")).unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::text("bye"));
    ws.close(None).unwrap();
    // The client keeps its socket open and sends no FIN: the server, with
    // both close frames exchanged, closes without waiting for one.
    server.expect("#0.1 socket closed; connection_lost(None)");
    let lines = server.log_lines("trace: ");
    let from = lines
        .iter()
        .position(|l| l.contains("decoded a close frame"))
        .expect("the close frame was traced");
    let to = lines
        .iter()
        .position(|l| l.contains("socket closed"))
        .unwrap();
    let between = &lines[from..to];
    assert!(
        !between
            .iter()
            .any(|l| l.contains("poll woke") || l.contains("read: 0 bytes")),
        "the server waited for the client after the closing handshake: {between:#?}"
    );
    // The server's close reaches the client as the end of the stream.
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}
