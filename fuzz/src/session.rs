//! The sans-IO session fed arbitrary bytes in arbitrary pieces.
//!
//! Input layout: byte 0 picks the limits, bytes 1-8 seed the cut, the rest
//! is the byte stream from the peer. The stream is fed once whole, then in
//! two seeded cuts, then a byte at a time when it is short, each time
//! through the caller contract in `wsloop::ws::session`'s docs. Every run
//! must produce the same events and the same frames; each run on its own
//! must respect the invariants in [`check_run`]. One more run, in the first
//! seeded cut, takes the steps as the server adapter does
//! ([`run_framed`]): the same events again, and every echo framed in place
//! the very frame `Session::send` writes for its message. And one, in the
//! second seeded cut, takes messages from a seeded size on in parts
//! ([`run_parts`]): joined, the parts make the same events again.

use wsloop::ws::close;
use wsloop::ws::frame::{Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use wsloop::ws::reader::EventReader;
use wsloop::ws::{Event, Limits, Message, Payload, Role, SendError, Session};

use crate::chunks;
use crate::wire::{self, Frame};

/// Message size limits the fuzzer chooses from: the edges of the length
/// classes, tiny limits that every frame crosses, and a realistic one.
const MESSAGE_LIMITS: [usize; 8] = [0, 1, 125, 126, 1000, 65_535, 65_536, 1 << 20];

/// Streams at most this long are also fed one byte at a time.
const BYTEWISE_MAX: usize = 512;

/// What one run of a stream through a session produced.
struct Run {
    events: Vec<Event<'static>>,
    frames: Vec<Frame>,
    output_len: usize,
}

/// Runs the checks on one fuzz input for a session playing `role`.
pub fn check(role: Role, data: &[u8]) {
    let (head, stream) = chunks::header::<9>(data);
    let limits = limits_from(head[0]);
    let seed = u64::from_le_bytes(head[1..9].try_into().unwrap());

    let whole = run(role, limits, [stream]);
    check_run(role, limits, stream.len(), &whole);
    let mut cuts = vec![
        chunks::split(stream, seed),
        chunks::split(stream, seed.rotate_left(32) ^ 0x5555),
    ];
    if stream.len() <= BYTEWISE_MAX {
        cuts.push(stream.chunks(1).collect());
    }
    let framed = run_framed(role, limits, cuts[0].iter().copied());
    assert_eq!(framed, whole.events, "events depend on framing echoes");
    let parts_from = usize::from(head[1]) * 4;
    let parts = run_parts(role, limits, parts_from, cuts[1].iter().copied());
    assert_eq!(parts.events, whole.events, "events depend on taking parts");
    assert_eq!(parts.frames, whole.frames, "output depends on taking parts");
    for cut in cuts {
        let other = run(role, limits, cut);
        assert_eq!(other.events, whole.events, "events depend on the cut");
        assert_eq!(other.frames, whole.frames, "output depends on the cut");
    }
}

/// Byte 0: bits 0-2 pick the message limit, bit 3 halves the frame limit.
fn limits_from(byte: u8) -> Limits {
    let max_message_size = MESSAGE_LIMITS[usize::from(byte & 7)];
    let max_frame_size = if byte & 8 != 0 {
        max_message_size / 2
    } else {
        max_message_size
    };
    Limits {
        max_message_size,
        max_frame_size,
    }
}

/// Feeds `pieces` as successive reads, keeping only the unconsumed tail
/// between reads, as the transport does.
fn run<'a>(role: Role, limits: Limits, pieces: impl IntoIterator<Item = &'a [u8]>) -> Run {
    let mut session = Session::new(role, limits);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        let mut pos = 0;
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(calls <= buf.len() + 2, "read stopped making progress");
            let (n, event) = session.read(&mut buf[pos..]);
            pos += n;
            match event {
                Some(event) => events.push(event.into_owned()),
                None if n == 0 => break,
                None => {}
            }
        }
        buf.drain(..pos);
        // The session buffers payload itself; all a caller keeps is the
        // start of a header.
        assert!(
            buf.len() < MAX_HEADER_LEN,
            "caller left holding {}",
            buf.len()
        );
        session.take_pending(&mut out);
    }
    assert_after_end(&mut session, &events);
    Run {
        frames: wire::decode_all(role, &out),
        output_len: out.len(),
        events,
    }
}

/// Feeds `pieces` as the server adapter reads them: a whole message first
/// with its echo framed in place where the session builds one
/// (`EventReader::next_framed`), every other step through `next`. Each
/// framed echo, checked once the read is done, must be what `send` writes
/// for the message. Returns the events.
fn run_framed<'a>(
    role: Role,
    limits: Limits,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Event<'static>> {
    let mut session = Session::new(role, limits);
    let mut sender = Session::new(Role::Server, limits);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        let base = buf.as_ptr() as usize;
        // Per framed echo: where it lies in `buf`, and the frame expected.
        let mut echoes = Vec::new();
        let mut reader = EventReader::new(&mut buf);
        loop {
            if let Some((taken, framed)) = reader.next_framed(&mut session) {
                let event = match taken {
                    Ok(message) => {
                        if let Some(f) = framed {
                            assert_eq!(role, Role::Server, "a client framed an echo");
                            assert!(f.is(&message));
                            let mut expected = Vec::new();
                            sender
                                .send(message.opcode(), message.as_bytes(), &mut expected)
                                .expect("a message within the limits can be sent");
                            echoes.push((f.frame_at() - base, expected));
                        }
                        message_event(message)
                    }
                    Err(error) => {
                        assert!(framed.is_none(), "an error came with an echo");
                        error
                    }
                };
                events.push(event);
                continue;
            }
            match reader.next(&mut session) {
                Some((_, Some(event))) => events.push(event.into_owned()),
                Some((_, None)) => {}
                None => break,
            }
        }
        let consumed = reader.consumed();
        for (at, expected) in echoes {
            assert_eq!(
                &buf[at..at + expected.len()],
                &expected[..],
                "echo framed in place"
            );
        }
        buf.drain(..consumed);
    }
    events
}

/// Feeds `pieces` to a session that takes messages of at least
/// `parts_from` bytes in parts, checking each part as it comes (its marks,
/// text valid so far), and joins them: the events as a session taking
/// whole messages would give them. A message cut short by an error or a
/// close leaves no event of its own, as it would not have whole.
fn run_parts<'a>(
    role: Role,
    limits: Limits,
    parts_from: usize,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Run {
    let mut session = Session::new(role, limits);
    session.set_parts_from(parts_from);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut open: Option<(Opcode, Vec<u8>)> = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        let mut reader = EventReader::new(&mut buf);
        while let Some((_, event)) = reader.next(&mut session) {
            let Some(event) = event else { continue };
            let Event::Part(part) = event else {
                if matches!(event, Event::Close { .. } | Event::Error { .. }) {
                    open = None;
                } else {
                    assert!(
                        matches!(event, Event::Ping(_) | Event::Pong(_)) || open.is_none(),
                        "a message inside a message's parts"
                    );
                }
                events.push(event.into_owned());
                continue;
            };
            assert_eq!(part.is_first(), open.is_none(), "part marks out of order");
            assert!(!part.is_empty() || part.is_last(), "an empty part that is not the last");
            let (kind, bytes) = open.get_or_insert_with(|| (part.opcode(), Vec::new()));
            assert_eq!(*kind, part.opcode());
            bytes.extend_from_slice(part.as_bytes());
            if *kind == Opcode::Text {
                // Valid so far: at most an unfinished character at the end.
                if let Err(e) = std::str::from_utf8(bytes) {
                    assert!(e.error_len().is_none(), "a text part is not UTF-8");
                    assert!(!part.is_last(), "a text message ends inside a character");
                }
            }
            if part.is_last() {
                let (kind, bytes) = open.take().unwrap_or((Opcode::Binary, Vec::new()));
                let payload = Payload::Owned(bytes);
                events.push(match kind {
                    Opcode::Text => Event::Text(payload),
                    _ => Event::Binary(payload),
                });
            }
        }
        let consumed = reader.consumed();
        buf.drain(..consumed);
        assert!(buf.len() < MAX_HEADER_LEN, "caller left holding {}", buf.len());
        session.take_pending(&mut out);
    }
    Run {
        frames: wire::decode_all(role, &out),
        output_len: out.len(),
        events,
    }
}

/// A whole message as the event `Session::read` gives for it.
fn message_event(message: Message<'_>) -> Event<'static> {
    let payload = Payload::Owned(message.as_bytes().to_vec());
    match message.opcode() {
        Opcode::Text => Event::Text(payload),
        _ => Event::Binary(payload),
    }
}

/// Once the session reported a close or an error it must refuse to send.
fn assert_after_end(session: &mut Session, events: &[Event<'static>]) {
    let ended = matches!(
        events.last(),
        Some(Event::Close { .. } | Event::Error { .. })
    );
    assert_eq!(ended, session.close_received() || session.is_failed());
    if ended {
        let mut out = Vec::new();
        assert_eq!(
            session.send(Opcode::Text, b"late", &mut out),
            Err(SendError::Closed)
        );
        assert!(out.is_empty());
    }
}

/// The invariants of one run, whatever the input.
fn check_run(role: Role, limits: Limits, input_len: usize, run: &Run) {
    let mut pings = Vec::new();
    for (i, event) in run.events.iter().enumerate() {
        let last = i + 1 == run.events.len();
        match event {
            Event::Text(p) => {
                assert!(p.len() <= limits.max_message_size);
                assert!(std::str::from_utf8(p).is_ok(), "text event is not UTF-8");
            }
            Event::Binary(p) => assert!(p.len() <= limits.max_message_size),
            Event::Ping(p) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                pings.push(p.to_vec());
            }
            Event::Pong(p) => assert!(p.len() <= MAX_CONTROL_PAYLOAD),
            Event::Part(_) => panic!("a part from a session that takes messages whole"),
            Event::Close { code, reason } => {
                assert!(last, "event after the peer's close");
                assert!(*code == close::NO_STATUS || close::is_valid_received_code(*code));
                assert!(reason.len() <= close::MAX_REASON_LEN);
            }
            Event::Error { code, .. } => {
                assert!(last, "event after a protocol error");
                assert!(
                    matches!(
                        *code,
                        close::PROTOCOL_ERROR | close::INVALID_DATA | close::TOO_BIG
                    ),
                    "unexpected failure code {code}"
                );
            }
        }
    }

    // Output: pongs answering the pings in order (some of them, if we
    // closed meanwhile), then at most one close, nothing after it.
    let mut pongs = Vec::new();
    for (i, frame) in run.frames.iter().enumerate() {
        assert!(frame.fin);
        match frame.opcode {
            Opcode::Pong => pongs.push(frame.payload.clone()),
            Opcode::Close => {
                assert_eq!(i + 1, run.frames.len(), "frame after our close");
                wire::assert_valid_close_payload(&frame.payload);
            }
            other => panic!("session sent {other:?} on its own"),
        }
    }
    assert!(pings.starts_with(&pongs), "pongs do not echo the pings");
    // Nothing was closed locally, so the last event decides our close:
    // the echo of the peer's code (empty for "no status") or the error's.
    let expected_close = match run.events.last() {
        Some(Event::Close { code, .. }) if *code == close::NO_STATUS => Some(Vec::new()),
        Some(Event::Close { code, .. }) => Some(code.to_be_bytes().to_vec()),
        Some(Event::Error { code, .. }) => Some(code.to_be_bytes().to_vec()),
        _ => None,
    };
    let sent_close = run
        .frames
        .last()
        .filter(|f| f.opcode == Opcode::Close)
        .map(|f| f.payload[..f.payload.len().min(2)].to_vec());
    assert_eq!(
        sent_close, expected_close,
        "our close does not fit the events"
    );

    // Every byte we write answers a byte we read: a pong is its ping with
    // another header (a client's pong adds a 4-byte mask to a 2-byte ping
    // header, at most 3x), plus one close frame of at most 14 + 125 bytes.
    let factor = if role == Role::Client { 3 } else { 1 };
    let bound = factor * input_len + MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD;
    assert!(run.output_len <= bound, "{} output bytes", run.output_len);
}
