//! Large frames: once a frame's header is known, the rest of its payload
//! is read straight into the message's buffer. These tests drive that path
//! from independent peers (tungstenite, and the RFC-only raw peer) with the
//! awkward cases: fragments each large enough to be read directly, pings
//! between them, a frame trickled in small writes, the next frame in the
//! same write as the end of a large one, and bad UTF-8 deep inside.

mod common;

use std::io::Write;

use common::peer::{connect_big, send_fragmented_with_pings};
use common::process::Process;
use common::raw::{self, Raw, BINARY, PING, PONG, TEXT};
use common::{mixed_text, pattern, Echo};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::{Bytes, Message as TMessage};

#[test]
fn large_fragments_with_pings_between_them_arrive_as_one_message() {
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    // Four fragments of 300 KiB: each is read mostly straight into the
    // message buffer, and the ping between them comes by the frame parser.
    let data = pattern(3, 4 * 300 * 1024);
    send_fragmented_with_pings(&mut ws, &data, 300 * 1024);
    let mut pongs = Vec::new();
    loop {
        match ws.read().unwrap() {
            TMessage::Pong(p) => pongs.push(p.to_vec()),
            TMessage::Binary(back) => {
                assert_eq!(back.len(), data.len());
                assert!(back == data, "the reassembled message differs");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pongs, vec![vec![0; 3], vec![1; 3], vec![2; 3]]);

    // The same for text, with fragment boundaries inside characters.
    let text = mixed_text(3 * 200 * 1024 + 1);
    let bytes = text.as_bytes();
    let cuts = [0, 200 * 1024 + 1, 400 * 1024 + 2, bytes.len()];
    for i in 0..3 {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        ws.send(TMessage::Frame(Frame::message(
            bytes[cuts[i]..cuts[i + 1]].to_vec(),
            OpCode::Data(opcode),
            i == 2,
        )))
        .unwrap();
    }
    match ws.read().unwrap() {
        TMessage::Text(back) => assert!(back.as_str() == text, "the text differs"),
        other => panic!("unexpected {other:?}"),
    }
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn a_large_frame_trickled_in_small_writes_is_echoed_exactly() {
    let server = Echo::serve();
    let mut raw = Raw::open(server.handle.local_addr());
    let payload = pattern(5, 1 << 20);
    let mut wire = raw::masked_frame(BINARY, &payload);
    // The next two frames ride in the same write as the large frame's end:
    // after the direct reads they must still be parsed, in order.
    wire.extend(raw::masked_frame(PING, b"after"));
    wire.extend(raw::masked_frame(TEXT, "ünd".as_bytes()));
    // Pieces of odd sizes, so direct reads end in the middle of the mask
    // cycle and of the server's own read sizes.
    let mut sizes = [7001usize, 65_537, 1, 300_000, 4093].iter().cycle();
    let mut at = 0;
    while at < wire.len() {
        let end = (at + sizes.next().unwrap()).min(wire.len());
        raw.stream.write_all(&wire[at..end]).unwrap();
        at = end;
    }
    assert_eq!(raw.recv(), Some((BINARY, payload)));
    assert_eq!(raw.recv(), Some((PONG, b"after".to_vec())));
    assert_eq!(raw.recv(), Some((TEXT, "ünd".as_bytes().to_vec())));
    drop(raw);
    server.stop().unwrap();
}

#[test]
fn bad_utf8_deep_in_a_large_text_frame_closes_with_1007() {
    let server = Echo::serve();
    let mut raw = Raw::open(server.handle.local_addr());
    let mut payload = mixed_text(512 * 1024).into_bytes();
    // Well past what the first read can hold, so the byte arrives by a
    // read into the message buffer.
    let at = 400 * 1024;
    payload[at..at + 4].copy_from_slice(&[b'a', 0xff, b'b', b'c']);
    raw.send(TEXT, &payload).unwrap();
    let (code, before) = raw.recv_close().expect("a close frame");
    assert_eq!(code, 1007, "invalid UTF-8 is close code 1007");
    assert!(before.is_empty(), "nothing is echoed of a bad message");
    assert_eq!(raw.read_to_eof(), 0);
    server.stop().unwrap();
}

#[test]
fn the_trace_shows_the_rest_of_a_large_frame_read_into_its_buffer_and_awaited() {
    // Messages whole: the message buffer's path, not the echo in parts.
    let (mut server, addr) = Process::wsloop(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--trace",
        "--parts-from",
        "0",
    ]);
    let mut ws = connect_big(addr);
    let data = pattern(11, 1 << 20);
    ws.send(TMessage::Binary(Bytes::from(data.clone())))
        .unwrap();
    match ws.read().unwrap() {
        TMessage::Binary(back) => assert!(back == data),
        other => panic!("unexpected {other:?}"),
    }
    let line = server.expect("bytes, into the protocol's buffer");
    assert!(line.contains("read: "), "{line}");
    server.expect("ws: decoded a binary message of 1048576 bytes -> handler");
    // 4 MiB cannot all be in the socket at the first read: the rest is
    // awaited with the low-water mark raised, at most 1 MiB at a time,
    // which goes back to one byte once the frame is in.
    let data = pattern(12, 4 << 20);
    ws.send(TMessage::Binary(Bytes::from(data.clone())))
        .unwrap();
    match ws.read().unwrap() {
        TMessage::Binary(back) => assert!(back == data),
        other => panic!("unexpected {other:?}"),
    }
    server.expect("ws: decoded a binary message of 4194304 bytes -> handler");
    let mut raised = server.lines_with("low-water mark: ");
    while !raised
        .last()
        .is_some_and(|l| l.ends_with("low-water mark: 1 byte"))
    {
        raised = server.expect_lines("low-water mark: ", raised.len() + 1);
    }
    let marks: Vec<usize> = raised
        .iter()
        .filter_map(|l| {
            l.split("low-water mark: ")
                .nth(1)?
                .strip_suffix(" bytes")?
                .parse()
                .ok()
        })
        .collect();
    assert!(!marks.is_empty(), "never raised: {raised:?}");
    assert!(
        marks.iter().all(|&m| (256 * 1024..=1 << 20).contains(&m)),
        "{marks:?}"
    );
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}

#[test]
fn the_trace_shows_the_echo_of_a_large_message_sent_part_by_part() {
    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--trace"]);
    let mut ws = connect_big(addr);
    let data = pattern(13, 1 << 20);
    ws.send(TMessage::Binary(Bytes::from(data.clone())))
        .unwrap();
    match ws.read().unwrap() {
        TMessage::Binary(back) => assert!(back == data),
        other => panic!("unexpected {other:?}"),
    }
    // Each read's share of the message goes back out before the next
    // read; nothing is read into a message buffer or awaited.
    server.expect("ws: decoded the first part of a binary message");
    server.expect("ws: decoded the last part of a binary message");
    server.expect("(the last): framed, lent");
    let parts = server.lines_with("part of a binary message");
    let fragments = server.lines_with("ws: send a fragment of ");
    assert!(parts.len() >= 2, "{parts:?}");
    assert_eq!(parts.len(), fragments.len());
    // The parts are lent from the read buffer, not copied.
    assert!(!server.lines_with("(lent from the read)").is_empty());
    assert!(server.lines_with("into the protocol's buffer").is_empty());
    assert!(server.lines_with("low-water mark: ").is_empty());
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}
