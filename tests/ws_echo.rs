//! `wsloop`'s WebSocket server against an independent client: tungstenite.

mod common;

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::{Bytes, Message as TMessage};

use common::pattern;
use common::peer::connect_big;
use common::raw::{self, Raw};
use common::Echo;

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 16 << 20];

#[test]
fn echoes_binary_messages_of_every_length_form() {
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(i as u64, len);
        ws.send(TMessage::Binary(Bytes::from(data.clone())))
            .unwrap();
        match ws.read().unwrap() {
            TMessage::Binary(back) => assert!(back == data, "binary {len} bytes differ"),
            other => panic!("expected binary echo of {len} bytes, got {other:?}"),
        }
    }
    ws.close(None).unwrap();
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn echoes_text_messages_of_every_length_form() {
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    for &len in &SIZES {
        // Multi-byte characters, so a wrong split would be noticed.
        let text: String = "aé€😀"
            .chars()
            .cycle()
            .scan(0, |n, c| {
                *n += c.len_utf8();
                (*n <= len).then_some(c)
            })
            .collect();
        ws.send(TMessage::text(text.clone())).unwrap();
        match ws.read().unwrap() {
            TMessage::Text(back) => assert!(
                back.as_str() == text,
                "text of {} bytes differs",
                text.len()
            ),
            other => panic!("expected text echo, got {other:?}"),
        }
    }
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn reassembles_fragmented_messages_with_pings_between_fragments() {
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    let parts = ["Hello, ", "fragmented ", "wörld"];
    ws.send(TMessage::Frame(Frame::message(
        parts[0],
        OpCode::Data(Data::Text),
        false,
    )))
    .unwrap();
    ws.send(TMessage::Ping(Bytes::from_static(b"between")))
        .unwrap();
    ws.send(TMessage::Frame(Frame::message(
        parts[1],
        OpCode::Data(Data::Continue),
        false,
    )))
    .unwrap();
    ws.send(TMessage::Frame(Frame::message(
        parts[2],
        OpCode::Data(Data::Continue),
        true,
    )))
    .unwrap();
    let mut got_pong = false;
    loop {
        match ws.read().unwrap() {
            TMessage::Pong(p) => {
                assert_eq!(&p[..], b"between");
                got_pong = true;
            }
            TMessage::Text(t) => {
                assert_eq!(t.as_str(), parts.concat());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        got_pong,
        "the ping between fragments must be answered before the message completes"
    );

    // A fragmented binary message of 1 MiB in 1000-byte pieces.
    let data = pattern(9, 1 << 20);
    let chunks: Vec<&[u8]> = data.chunks(1000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 {
            OpCode::Data(Data::Binary)
        } else {
            OpCode::Data(Data::Continue)
        };
        ws.send(TMessage::Frame(Frame::message(
            chunk.to_vec(),
            opcode,
            i == chunks.len() - 1,
        )))
        .unwrap();
    }
    match ws.read().unwrap() {
        TMessage::Binary(back) => assert!(back == data),
        other => panic!("unexpected {other:?}"),
    }
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn answers_ping_with_the_same_payload() {
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    for payload in [&b""[..], b"x", &[7u8; 125][..]] {
        ws.send(TMessage::Ping(Bytes::copy_from_slice(payload)))
            .unwrap();
        match ws.read().unwrap() {
            TMessage::Pong(p) => assert_eq!(&p[..], payload),
            other => panic!("expected pong, got {other:?}"),
        }
    }
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn close_is_echoed_with_code_and_the_server_closes_tcp() {
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    let frame = CloseFrame {
        code: 4000.into(),
        reason: "done here".into(),
    };
    ws.close(Some(frame)).unwrap();
    let reply = match ws.read() {
        Ok(TMessage::Close(reply)) => reply,
        other => panic!("expected the close reply, got {other:?}"),
    };
    assert_eq!(reply.map(|f| u16::from(f.code)), Some(4000));
    // After the closing handshake the server closes the TCP connection.
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the connection to close, got {other:?}"),
    }
    common::wait_until("on_close counted", || {
        wsloop::WsCounters::get(&server.handle.counters().closed) == 1
    });
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn server_initiated_close_reaches_the_client_with_its_code() {
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    // Exchange one message so the connection is surely open server-side.
    ws.send(TMessage::text("hi")).unwrap();
    ws.read().unwrap();
    let conns = server.handle.connections().unwrap();
    assert_eq!(conns.len(), 1);
    server.handle.close(conns[0].id, 4001, "bye").unwrap();
    match ws.read().unwrap() {
        TMessage::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4001);
            assert_eq!(frame.reason.as_str(), "bye");
        }
        other => panic!("expected close, got {other:?}"),
    }
    // tungstenite replies to the close; then the server drops the connection.
    ws.flush().ok();
    common::wait_until("connection gone", || server.handle.loop_stats().open == 0);
    drop(ws);
    server.stop().unwrap();
}

/// Message sizes on either side of the size the server frames echoes in
/// place in its read buffer, and of each length form.
fn pipelined_sizes() -> impl Iterator<Item = usize> {
    (0..300).map(|i| [600, 1024, 100, 511, 512, 4000, 70_000, 126, 2048][i % 9] + i % 5)
}

#[test]
fn pipelined_echoes_keep_their_order_with_pongs_between() {
    // Everything is written before anything is read, so many frames
    // arrive in one read: their echoes are framed in place one after
    // another, and the pongs the session owes must land between them in
    // the order the pings came.
    let server = Echo::serve();
    let mut ws = connect_big(server.handle.local_addr());
    let mut expected = Vec::new();
    for (i, len) in pipelined_sizes().enumerate() {
        let data = pattern(i as u64, len);
        let message = if i % 4 == 0 {
            TMessage::text(String::from_utf8_lossy(&data).into_owned())
        } else {
            TMessage::Binary(Bytes::from(data))
        };
        ws.write(message.clone()).unwrap();
        expected.push(message);
        if i % 7 == 3 {
            let ping = Bytes::from(format!("ping {i}"));
            ws.write(TMessage::Ping(ping.clone())).unwrap();
            expected.push(TMessage::Pong(ping));
        }
    }
    ws.flush().unwrap();
    for (i, want) in expected.iter().enumerate() {
        let got = ws.read().unwrap();
        assert!(
            &got == want,
            "message {i}: {} bytes, expected {}",
            got.len(),
            want.len()
        );
    }
    ws.close(None).unwrap();
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn echoes_reach_a_late_reader_whole_and_in_order() {
    // The client writes without reading until its writes stall: by then
    // the server's socket was full, writes of echoes framed in its read
    // buffer ended short, what the kernel did not take was copied before
    // the buffer took the next read, and the watermarks paused reading
    // from the client. Then it reads while the rest is written.
    let server = Echo::serve();
    let mut reader = Raw::open(server.handle.local_addr());
    let message = |i: u64| pattern(i, 600 + (i as usize * 37) % 1400);
    // Several frames per write, as a client that pipelines sends them; 8,000
    // more (about 10 MB) after the stall are read while they are written.
    let writer = raw::write_until_stalled(
        reader.stream.try_clone().unwrap(),
        move |i| raw::masked_frame(raw::BINARY, &message(i)),
        16,
        8_000,
        400_000,
    );
    for i in 0..writer.total {
        let (opcode, payload) = reader.recv().expect("an echo");
        assert_eq!(opcode, raw::BINARY, "message {i}");
        assert!(payload == message(i), "message {i} differs");
    }
    writer.thread.join().unwrap();
    drop(reader);
    server.stop().unwrap();
}
