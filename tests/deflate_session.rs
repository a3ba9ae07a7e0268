//! permessage-deflate in the session: RSV1 rules, compressed and fragmented
//! messages both ways, limits on the decompressed size, UTF-8 of inflated
//! text, and the shared compressor of a broadcast.

use wsloop::ws::deflate::{Compressor, CompressorSettings, DeflateParams, SharedCompressor};
use wsloop::ws::frame::{decode_header_deflate, FrameHeader, RSV1};
use wsloop::ws::{Event, Limits, Opcode, Payload, Role, Session};

fn params(window_bits: u8, no_context_takeover: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        server_max_window_bits: window_bits,
        client_max_window_bits: window_bits,
        level: 6,
        mem_level: 8,
        min_size: 16,
    }
}

fn session(role: Role, p: DeflateParams) -> Session {
    Session::with_deflate(role, Limits::default(), Some(p))
}

/// Feeds `wire` in chunks of at most `chunk` bytes, as a transport would,
/// and collects the events (owned).
fn feed(session: &mut Session, wire: &[u8], chunk: usize) -> Vec<Event<'static>> {
    let mut events = Vec::new();
    let mut buf = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            let (n, event) = session.read(&mut buf[pos..]);
            pos += n;
            match event {
                Some(e) => events.push(e.into_owned()),
                None if n == 0 => break,
                None => {}
            }
        }
        buf.drain(..pos);
    }
    events
}

/// One frame as a client sends it (masked), with RSV1 if `compressed`.
fn client_frame(fin: bool, opcode: u8, compressed: bool, payload: &[u8]) -> Vec<u8> {
    let key = [0x5a, 0x01, 0xc3, 0x7e];
    let header = FrameHeader {
        fin,
        opcode: Opcode::from_u8(opcode).unwrap(),
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut out = Vec::new();
    header.write_to(&mut out);
    if compressed {
        out[0] |= RSV1;
    }
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn compress(payload: &[u8]) -> Vec<u8> {
    let mut c = Compressor::new(CompressorSettings {
        level: 6,
        mem_level: 8,
        window_bits: 15,
        no_context_takeover: true,
    });
    let mut out = Vec::new();
    c.compress_message(payload, &mut out);
    out
}

fn error_code(events: &[Event<'_>]) -> Option<u16> {
    events.iter().find_map(|e| match e {
        Event::Error { code, .. } => Some(*code),
        _ => None,
    })
}

fn text(s: &str) -> Event<'static> {
    Event::Text(Payload::Owned(s.as_bytes().to_vec()))
}

fn chat_json(i: usize) -> String {
    format!(
        r#"{{"type":"message","room":"general","user":"user{}","text":"hello number {} from the chat","ts":{}}}"#,
        i % 7,
        i,
        1_700_000_000 + i
    )
}

#[test]
fn session_to_session_both_ways_every_window_and_context_rule() {
    let mut rng = fastrand::Rng::with_seed(7);
    for bits in 8..=15u8 {
        for no_context in [false, true] {
            let p = params(bits, no_context);
            for (sender_role, receiver_role) in
                [(Role::Client, Role::Server), (Role::Server, Role::Client)]
            {
                let mut sender = session(sender_role, p);
                let mut receiver = session(receiver_role, p);
                let mut wire = Vec::new();
                let mut expected = Vec::new();
                for i in 0..40 {
                    let msg = chat_json(i).repeat(1 + i % 5);
                    sender
                        .send(Opcode::Text, msg.as_bytes(), &mut wire)
                        .unwrap();
                    expected.push(text(&msg));
                }
                let binary: Vec<u8> = (0..3000).map(|_| rng.u8(..)).collect();
                sender.send(Opcode::Binary, &binary, &mut wire).unwrap();
                expected.push(Event::Binary(Payload::Owned(binary)));
                sender.send(Opcode::Text, b"tiny", &mut wire).unwrap();
                expected.push(text("tiny"));
                sender.send(Opcode::Text, b"", &mut wire).unwrap();
                expected.push(text(""));
                let plain: usize = expected
                    .iter()
                    .map(|e| match e {
                        Event::Text(p) | Event::Binary(p) => p.len(),
                        _ => 0,
                    })
                    .sum();
                for chunk in [1, 7, 1000, wire.len()] {
                    let mut r = session(receiver_role, p);
                    assert_eq!(
                        feed(&mut r, &wire, chunk),
                        expected,
                        "bits {bits} chunk {chunk}"
                    );
                }
                assert_eq!(feed(&mut receiver, &wire, wire.len()), expected);
                // Chat text compresses: far fewer bytes than sent. An 8-bit
                // window only entropy-codes (see ws::deflate), so less so.
                let most = if bits == 8 {
                    plain * 4 / 5
                } else {
                    plain * 2 / 3
                };
                assert!(wire.len() < most, "bits {bits}: {} of {plain}", wire.len());
            }
        }
    }
}

#[test]
fn rsv1_marks_compressed_messages_only() {
    let mut server = session(Role::Server, params(15, false));
    let mut out = Vec::new();
    server.send(Opcode::Text, b"short", &mut out).unwrap();
    assert_eq!(out[0] & RSV1, 0, "below min_size: uncompressed");
    out.clear();
    server
        .send(
            Opcode::Text,
            "long enough to compress ".repeat(4).as_bytes(),
            &mut out,
        )
        .unwrap();
    assert_eq!(out[0] & RSV1, RSV1);
    out.clear();
    server.ping(b"p", &mut out).unwrap();
    assert_eq!(out[0] & RSV1, 0, "never on control frames");
    // Without deflate nothing changes.
    let mut plain = Session::new(Role::Server, Limits::default());
    out.clear();
    plain
        .send(Opcode::Text, "x".repeat(1000).as_bytes(), &mut out)
        .unwrap();
    assert_eq!(out[0] & RSV1, 0);
    assert_eq!(out.len(), 4 + 1000);
}

#[test]
fn rsv1_violations_are_1002() {
    let p = params(15, false);
    let deflated = compress(b"hello");
    // RSV1 without deflate.
    let mut s = Session::new(Role::Server, Limits::default());
    assert_eq!(
        error_code(&feed(&mut s, &client_frame(true, 1, true, &deflated), 100)),
        Some(1002)
    );
    // RSV1 on a continuation frame.
    let mut s = session(Role::Server, p);
    let mut wire = client_frame(false, 1, true, &deflated[..2]);
    wire.extend(client_frame(true, 0, true, &deflated[2..]));
    assert_eq!(error_code(&feed(&mut s, &wire, 100)), Some(1002));
    // RSV1 on control frames.
    for op in [8, 9, 10] {
        let mut s = session(Role::Server, p);
        assert_eq!(
            error_code(&feed(&mut s, &client_frame(true, op, true, b""), 100)),
            Some(1002)
        );
    }
    // Corrupt deflate data.
    let mut s = session(Role::Server, p);
    assert_eq!(
        error_code(&feed(&mut s, &client_frame(true, 2, true, &[0xff; 8]), 100)),
        Some(1002)
    );
}

#[test]
fn fragmented_compressed_messages_both_directions() {
    let p = params(15, false);
    // Received: one compressed stream cut into frames, pings between them.
    let msg = "fragmented and compressed ".repeat(50);
    let deflated = compress(msg.as_bytes());
    let thirds = deflated.len() / 3;
    let mut wire = client_frame(false, 1, true, &deflated[..thirds]);
    wire.extend(client_frame(true, 9, false, b"ping"));
    wire.extend(client_frame(false, 0, false, &deflated[thirds..2 * thirds]));
    wire.extend(client_frame(false, 0, false, b""));
    wire.extend(client_frame(true, 0, false, &deflated[2 * thirds..]));
    for chunk in [1, 5, wire.len()] {
        let mut s = session(Role::Server, p);
        assert_eq!(
            feed(&mut s, &wire, chunk),
            vec![Event::Ping(Payload::Owned(b"ping".to_vec())), text(&msg)]
        );
    }

    // Sent: RSV1 only on the first frame, and the peer reassembles it.
    let mut client = session(Role::Client, p);
    let mut out = Vec::new();
    let parts = [
        "first part ".repeat(20),
        String::new(),
        "second part".repeat(30),
    ];
    client
        .send_fragment(Opcode::Text, parts[0].as_bytes(), false, &mut out)
        .unwrap();
    client.ping(b"between", &mut out).unwrap();
    client
        .send_fragment(Opcode::Text, parts[1].as_bytes(), false, &mut out)
        .unwrap();
    client
        .send_fragment(Opcode::Text, parts[2].as_bytes(), true, &mut out)
        .unwrap();
    client
        .send(Opcode::Text, parts[0].as_bytes(), &mut out)
        .unwrap();
    let mut rsv1 = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let (h, compressed, n) = decode_header_deflate(&out[at..], true, u64::MAX)
            .unwrap()
            .unwrap();
        rsv1.push((h.opcode, compressed));
        at += n + h.payload_len as usize;
    }
    assert_eq!(
        rsv1,
        vec![
            (Opcode::Text, true),
            (Opcode::Ping, false),
            (Opcode::Continuation, false),
            (Opcode::Continuation, false),
            (Opcode::Text, true),
        ]
    );
    let mut server = session(Role::Server, p);
    assert_eq!(
        feed(&mut server, &out, 3),
        vec![
            Event::Ping(Payload::Owned(b"between".to_vec())),
            text(&parts.concat()),
            text(&parts[0]),
        ]
    );
}

#[test]
fn inflated_text_is_checked_as_utf8() {
    let p = params(15, false);
    let bad = [b"valid prefix ".repeat(20).as_slice(), b"\xc0\xaf", b"tail"].concat();
    let mut s = session(Role::Server, p);
    assert_eq!(
        error_code(&feed(
            &mut s,
            &client_frame(true, 1, true, &compress(&bad)),
            9
        )),
        Some(1007)
    );
    // A code point cut at the end of the message.
    let mut s = session(Role::Server, p);
    let cut = compress("ends in the middle of é".as_bytes().split_last().unwrap().1);
    assert_eq!(
        error_code(&feed(&mut s, &client_frame(true, 1, true, &cut), 100)),
        Some(1007)
    );
    // The same bytes as binary are fine.
    let mut s = session(Role::Server, p);
    assert_eq!(
        feed(&mut s, &client_frame(true, 2, true, &compress(&bad)), 100),
        vec![Event::Binary(Payload::Owned(bad))]
    );
}

#[test]
fn decompressed_size_is_limited() {
    let p = params(15, false);
    let limits = Limits::new(10_000);
    // Exactly at the limit passes, one byte more is 1009.
    let mut s = Session::with_deflate(Role::Server, limits, Some(p));
    let exact = vec![b'a'; 10_000];
    assert_eq!(
        feed(&mut s, &client_frame(true, 2, true, &compress(&exact)), 50),
        vec![Event::Binary(Payload::Owned(exact))]
    );
    let mut s = Session::with_deflate(Role::Server, limits, Some(p));
    let over = compress(&[b'a'; 10_001]);
    assert!(over.len() < 100);
    assert_eq!(
        error_code(&feed(&mut s, &client_frame(true, 2, true, &over), 1000)),
        Some(1009)
    );
    // Fragments count together.
    let mut s = Session::with_deflate(Role::Server, limits, Some(p));
    let half = compress(&[b'b'; 6000]);
    let mut c = Compressor::new(CompressorSettings {
        level: 6,
        mem_level: 8,
        window_bits: 15,
        no_context_takeover: false,
    });
    let mut first = Vec::new();
    c.compress_fragment(&[b'b'; 6000], false, &mut first);
    let mut wire = client_frame(false, 2, true, &first);
    wire.extend(client_frame(true, 0, false, &half));
    assert_eq!(error_code(&feed(&mut s, &wire, 1000)), Some(1009));
}

#[test]
fn context_takeover_carries_between_messages() {
    // With context kept, a repeated message is sent as a short reference;
    // without, it costs the same every time.
    for (no_context, shrinks) in [(false, true), (true, false)] {
        let mut s = session(Role::Server, params(15, no_context));
        let msg = chat_json(1).repeat(3);
        let mut first = Vec::new();
        s.send(Opcode::Text, msg.as_bytes(), &mut first).unwrap();
        let mut second = Vec::new();
        s.send(Opcode::Text, msg.as_bytes(), &mut second).unwrap();
        assert_eq!(
            second.len() < first.len() / 2,
            shrinks,
            "{} vs {}",
            second.len(),
            first.len()
        );
    }
}

#[test]
fn incompressible_data_goes_out_plain_without_context() {
    let mut rng = fastrand::Rng::with_seed(3);
    let random: Vec<u8> = (0..4000).map(|_| rng.u8(..)).collect();
    let mut s = session(Role::Server, params(15, true));
    let mut out = Vec::new();
    s.send(Opcode::Binary, &random, &mut out).unwrap();
    assert_eq!(out[0] & RSV1, 0);
    assert_eq!(&out[4..], &random[..]);
    // With context kept it must stay compressed, and still decode.
    let mut s = session(Role::Server, params(15, false));
    let mut out = Vec::new();
    s.send(Opcode::Binary, &random, &mut out).unwrap();
    assert_eq!(out[0] & RSV1, RSV1);
    let mut client = session(Role::Client, params(15, false));
    assert_eq!(
        feed(&mut client, &out, 100),
        vec![Event::Binary(Payload::Owned(random))]
    );
}

#[test]
fn idle_release_frees_only_what_loses_nothing() {
    let msg = chat_json(2).repeat(4);
    let mut wire = Vec::new();
    let mut kept = session(Role::Client, params(15, false));
    kept.send(Opcode::Text, msg.as_bytes(), &mut wire).unwrap();
    assert!(!kept.release_idle_deflate(), "context kept: nothing may go");

    let mut free = session(Role::Client, params(15, true));
    free.send(Opcode::Text, msg.as_bytes(), &mut wire).unwrap();
    assert!(free.release_idle_deflate());
    // Created again on the next message, and still correct.
    free.send(Opcode::Text, msg.as_bytes(), &mut wire).unwrap();
    // The first frame in `wire` is `kept`'s; the rest are `free`'s.
    let mut server = session(Role::Server, params(15, true));
    let events = feed(&mut server, &wire[wire_split(&wire)..], 50);
    assert_eq!(events, vec![text(&msg), text(&msg)]);
    assert!(server.release_idle_deflate());
}

/// Where the second session's frames start in `wire` (after the first frame).
fn wire_split(wire: &[u8]) -> usize {
    let (h, _, n) = decode_header_deflate(wire, true, u64::MAX)
        .unwrap()
        .unwrap();
    n + h.payload_len as usize
}

#[test]
fn shared_compressor_serves_connections_it_fits() {
    let mut shared = SharedCompressor::new(6, 8, 15);
    let msg = chat_json(3).repeat(10);
    let payload = shared.compress(msg.as_bytes());
    assert!(payload.len() < msg.len() / 2);
    // Fits: no context kept on the server's side, full window.
    let server = session(Role::Server, params(15, true));
    let (header, n) = server
        .compressed_frame_header(Opcode::Text, payload.len(), &shared)
        .unwrap()
        .unwrap();
    // Two messages in a row decode, since each is self-contained.
    let mut wire = header[..n].to_vec();
    wire.extend_from_slice(&payload);
    wire.extend_from_slice(&header[..n]);
    wire.extend_from_slice(&payload);
    let mut client = session(Role::Client, params(15, true));
    assert_eq!(feed(&mut client, &wire, 64), vec![text(&msg), text(&msg)]);
    // Does not fit: context kept, a smaller window, or no deflate.
    for s in [
        session(Role::Server, params(15, false)),
        session(Role::Server, params(10, true)),
    ] {
        assert_eq!(
            s.compressed_frame_header(Opcode::Text, payload.len(), &shared),
            Ok(None)
        );
    }
    let plain = Session::new(Role::Server, Limits::default());
    assert_eq!(
        plain.compressed_frame_header(Opcode::Text, 3, &shared),
        Ok(None)
    );
    shared.release();
}

#[test]
fn random_compressed_frames_never_panic() {
    let mut rng = fastrand::Rng::with_seed(42);
    for round in 0..3000 {
        let mut wire = Vec::new();
        for _ in 0..rng.usize(1..4) {
            let len = rng.usize(0..48);
            let mut payload: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if round % 3 == 0 {
                // Start from a valid stream, then damage it.
                payload = compress(&payload);
                if !payload.is_empty() {
                    let at = rng.usize(..payload.len());
                    payload[at] ^= 1 << rng.u8(0..8);
                }
            }
            let opcode = [0u8, 1, 2, 9][rng.usize(..4)];
            wire.extend(client_frame(rng.bool(), opcode, rng.bool(), &payload));
        }
        let limits = Limits::new(rng.usize(1..4096));
        for no_context in [false, true] {
            let mut s = Session::with_deflate(Role::Server, limits, Some(params(15, no_context)));
            feed(&mut s, &wire, rng.usize(1..16));
        }
    }
}

#[test]
fn small_inflated_messages_get_small_buffers() {
    let msg = chat_json(5);
    let mut s = session(Role::Server, params(15, false));
    let wire = client_frame(true, 1, true, &compress(msg.as_bytes()));
    let mut buf = wire.clone();
    let (_, event) = s.read(&mut buf);
    match event {
        Some(Event::Text(Payload::Owned(v))) => {
            assert_eq!(v, msg.as_bytes());
            assert!(v.capacity() < 4096, "capacity {}", v.capacity());
        }
        other => panic!("unexpected {other:?}"),
    }
}
