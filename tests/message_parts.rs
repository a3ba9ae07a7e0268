//! Large messages taken in parts (`Handler::parts_from`) and sent on as
//! fragments (`WebSocket::send_fragment`): the echo of such a message
//! starts before the message has all arrived, joins into the message at
//! an independent peer (tungstenite, which reassembles and checks UTF-8
//! itself), keeps pings answered between parts, and stops at the first
//! invalid byte of a text message with a 1007.

mod common;

use std::io::Write;
use std::sync::mpsc;

use common::peer::{connect_big, send_fragmented_with_pings};
use common::raw::{self, Raw, BINARY, CLOSE, PING, PONG, TEXT};
use common::{mixed_text, pattern};
use tungstenite::Message as TMessage;
use wsloop::{Config, Handler, Message, MessagePart, RunningServer, Server, WebSocket};

/// The line this file's echo takes messages in parts from.
const PARTS_FROM: usize = 64 * 1024;

/// Echoes small messages whole and large ones part by part; any send that
/// fails panics, so the connection closes with 1011 and the test sees it.
struct PartsEcho;

impl Handler for PartsEcho {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        assert!(msg.len() < PARTS_FROM, "a large message came whole");
        ws.send(msg).expect("echo");
    }

    fn parts_from(&self) -> usize {
        PARTS_FROM
    }

    fn on_message_part(&mut self, ws: &mut WebSocket<'_>, part: MessagePart<'_>) {
        ws.send_fragment(part.opcode(), part.as_bytes(), part.is_last())
            .expect("echo of a part");
    }
}

fn serve() -> RunningServer<PartsEcho> {
    Server::spawn("127.0.0.1:0".parse().unwrap(), Config::default(), || {
        PartsEcho
    })
    .unwrap()
}

/// A client frame header (masked with a zero key, so the payload goes on
/// the wire as it is) for a frame of `len` bytes.
fn masked_header(first: u8, len: usize) -> Vec<u8> {
    let mut head = vec![first, 0x80 | 127];
    head.extend_from_slice(&(len as u64).to_be_bytes());
    head.extend_from_slice(&[0; 4]);
    head
}

#[test]
fn the_echo_of_a_large_message_starts_before_the_message_has_all_arrived() {
    let server = serve();
    let mut raw = Raw::open(server.handle.local_addr());
    let data = pattern(11, 4 << 20);
    let first_half = 2 << 20;
    let mut writer = raw.stream.try_clone().unwrap();
    let (go_on, go) = mpsc::channel::<()>();
    let sender = {
        let data = data.clone();
        std::thread::spawn(move || {
            writer.write_all(&masked_header(0x80 | BINARY, data.len()))?;
            writer.write_all(&data[..first_half])?;
            // The rest only once the echo of the first half has come back:
            // a server that waited for the whole message would never echo.
            go.recv().expect("the reader gave up");
            writer.write_all(&data[first_half..])
        })
    };
    let mut echoed = Vec::new();
    let mut frames = Vec::new();
    let mut released = false;
    loop {
        let frame = raw::read_frame(&mut raw.stream)
            .expect("read")
            .expect("a frame before EOF");
        frames.push((frame.opcode, frame.fin, frame.payload.len()));
        echoed.extend_from_slice(&frame.payload);
        if !released && echoed.len() >= first_half / 2 {
            released = true;
            go_on.send(()).unwrap();
        }
        if frame.fin {
            break;
        }
    }
    sender.join().unwrap().expect("write");
    assert!(released);
    assert!(echoed == data, "the echo differs from the message");
    // One message: a binary frame, then continuations, the last with FIN.
    assert_eq!(frames[0].0, BINARY);
    assert!(frames.len() > 2, "{frames:?}");
    assert!(frames[1..].iter().all(|f| f.0 == 0), "{frames:?}");
    assert!(frames[..frames.len() - 1].iter().all(|f| !f.1));
}

#[test]
fn messages_in_parts_join_at_an_independent_peer_with_pings_between() {
    let server = serve();
    let mut ws = connect_big(server.handle.local_addr());

    // One frame of text, part boundaries inside characters.
    let text = mixed_text(3 * 1024 * 1024 + 3);
    ws.send(TMessage::text(text.clone())).unwrap();
    match ws.read().unwrap() {
        TMessage::Text(back) => assert!(back.as_str() == text, "text echo differs"),
        other => panic!("unexpected {other:?}"),
    }

    // Fragmented binary with pings between fragments; a small message
    // after it comes whole.
    let data = pattern(5, 5 * 300 * 1024);
    send_fragmented_with_pings(&mut ws, &data, 300 * 1024);
    ws.send(TMessage::text("small")).unwrap();
    let mut pongs = Vec::new();
    let mut messages = Vec::new();
    while messages.len() < 2 {
        match ws.read().unwrap() {
            TMessage::Pong(p) => pongs.push(p.to_vec()),
            TMessage::Binary(b) => messages.push(b.to_vec()),
            TMessage::Text(t) => messages.push(t.as_bytes().to_vec()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(messages[0] == data, "binary echo differs");
    assert_eq!(messages[1], b"small");
    assert_eq!(pongs, (0..4).map(|i| vec![i; 3]).collect::<Vec<_>>());
    ws.close(None).unwrap();
}

#[test]
fn bad_utf8_deep_in_a_text_message_in_parts_ends_it_with_1007() {
    let server = serve();
    let mut raw = Raw::open(server.handle.local_addr());
    let mut payload = mixed_text(3 << 20).into_bytes();
    let bad_at = 2 << 20;
    payload[bad_at] = 0xFF;
    let mut writer = raw.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // The server stops reading at the bad byte and closes: the end of
        // this write may fail, which is the server's right.
        let _ = writer.write_all(&masked_header(0x80 | TEXT, payload.len()));
        let _ = writer.write_all(&payload);
    });
    let mut echoed = Vec::new();
    let code = loop {
        let frame = raw::read_frame(&mut raw.stream)
            .expect("read")
            .expect("a close frame before EOF");
        if frame.opcode == CLOSE {
            break frame.close_code();
        }
        assert!(!frame.fin, "the message may not end");
        echoed.extend_from_slice(&frame.payload);
    };
    sender.join().unwrap();
    assert_eq!(code, Some(1007));
    // What was echoed is the message's valid start, and no more of it.
    let sent = mixed_text(3 << 20).into_bytes();
    assert!(echoed.len() <= bad_at, "{} bytes echoed", echoed.len());
    assert!(echoed.len() > PARTS_FROM, "{} bytes echoed", echoed.len());
    assert!(echoed == sent[..echoed.len()]);
}

#[test]
fn a_ping_between_fragments_of_a_message_in_parts_is_answered_in_order() {
    let server = serve();
    let mut raw = Raw::open(server.handle.local_addr());
    let data = pattern(9, 200 * 1024);
    raw.stream
        .write_all(&raw::frame_with(BINARY, true, &data[..100 * 1024]))
        .unwrap();
    raw.send(PING, b"between").unwrap();
    raw.stream
        .write_all(&raw::frame_with(0x80, true, &data[100 * 1024..]))
        .unwrap();
    let mut echoed = Vec::new();
    let mut pong_after = None;
    loop {
        let frame = raw::read_frame(&mut raw.stream).unwrap().unwrap();
        match frame.opcode {
            PONG => {
                assert_eq!(frame.payload, b"between");
                pong_after = Some(echoed.len());
            }
            BINARY | 0 => echoed.extend_from_slice(&frame.payload),
            other => panic!("unexpected opcode {other}"),
        }
        if frame.fin && frame.opcode != PONG {
            break;
        }
    }
    assert!(echoed == data);
    // The pong went out after the first fragment's echo had begun (its
    // parts are sent as they arrive) and before the message ended.
    let after = pong_after.expect("a pong");
    assert!(after > 0 && after <= 100 * 1024, "pong after {after} bytes");
}

#[test]
fn echoes_in_parts_reach_a_late_reader_whole_and_in_order() {
    // The peer writes large messages without reading until its writes
    // stall: by then the server's socket was full, writes of parts lent
    // from its read buffer ended short, what the kernel did not take was
    // copied into the queue before the next read, and the watermarks
    // paused reading from the peer. Then it reads while the rest is written.
    let server = serve();
    let mut raw = Raw::open(server.handle.local_addr());
    let message = |i: u64| pattern(20 + i, 4_000_000 + i as usize * 7919);
    let writer = raw::write_until_stalled(
        raw.stream.try_clone().unwrap(),
        move |i| {
            let m = message(i);
            let mut bytes = masked_header(0x80 | BINARY, m.len());
            bytes.extend_from_slice(&m);
            bytes
        },
        1,
        3,
        100,
    );
    let mut current = Vec::new();
    let mut i = 0;
    while i < writer.total {
        let frame = raw::read_frame(&mut raw.stream)
            .expect("read")
            .expect("a frame before EOF");
        assert!(
            matches!(frame.opcode, BINARY | 0),
            "opcode {}",
            frame.opcode
        );
        assert_eq!(frame.opcode == BINARY, current.is_empty());
        current.extend_from_slice(&frame.payload);
        if frame.fin {
            assert!(current == message(i), "message {i} differs");
            current.clear();
            i += 1;
        }
    }
    writer.thread.join().unwrap();
}

/// [`PartsEcho`] that broadcasts a note when a message's first part
/// arrives, while its own echo of that message is under way.
struct NotingEcho;

impl Handler for NotingEcho {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        PartsEcho.on_message(ws, msg);
    }

    fn parts_from(&self) -> usize {
        PARTS_FROM
    }

    fn on_message_part(&mut self, ws: &mut WebSocket<'_>, part: MessagePart<'_>) {
        if part.is_first() {
            ws.broadcast(Message::Text("a note"));
        }
        PartsEcho.on_message_part(ws, part);
    }
}

#[test]
fn a_message_sent_to_a_connection_inside_its_fragmented_echo_waits_for_the_end() {
    // The broadcast reaches this very connection while the echo's first
    // fragment is out: sent then, it would break the message in two
    // (RFC 6455 5.4). It must come whole, right after the echo.
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), Config::default(), || {
        NotingEcho
    })
    .unwrap();
    let mut ws = connect_big(server.handle.local_addr());
    for round in 0..3u64 {
        let data = pattern(30 + round, 1 << 20);
        ws.send(TMessage::binary(data.clone())).unwrap();
        match ws.read().unwrap() {
            TMessage::Binary(back) => assert!(back == data, "echo {round} differs"),
            other => panic!("expected the echo first, got {other:?}"),
        }
        match ws.read().unwrap() {
            TMessage::Text(note) => assert_eq!(note.as_str(), "a note"),
            other => panic!("expected the note, got {other:?}"),
        }
    }
    ws.close(None).unwrap();
}
