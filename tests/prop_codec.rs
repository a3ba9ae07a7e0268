//! Property tests of the frame codec and the session's reassembly.
//!
//! Three claims, each over generated inputs rather than hand-picked ones:
//!
//! - a frame header encodes and decodes to itself, for every opcode, every
//!   length class (7-bit, 16-bit and 64-bit lengths) and with or without a
//!   mask, and a cut header is always "incomplete", never an error;
//! - the messages one session sends (whole or fragmented, text or binary,
//!   with pings between the fragments) are exactly what its peer receives;
//! - that holds whatever the cut of the stream into reads.

use proptest::prelude::*;
use wsloop::ws::frame::{decode_header, FrameHeader, Opcode, MAX_HEADER_LEN};
use wsloop::ws::{Event, Limits, Role, Session};

/// Every opcode; control opcodes only as final frames, with short payloads.
fn opcode() -> impl Strategy<Value = Opcode> {
    prop_oneof![
        Just(Opcode::Continuation),
        Just(Opcode::Text),
        Just(Opcode::Binary),
        Just(Opcode::Close),
        Just(Opcode::Ping),
        Just(Opcode::Pong),
    ]
}

/// A length from each class the header encodes differently, with the edges
/// of each class drawn often.
fn payload_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..=125u64,
        Just(125u64),
        Just(126u64),
        126..=65_535u64,
        Just(65_535u64),
        Just(65_536u64),
        65_536..=(u64::MAX >> 1),
        Just(u64::MAX >> 1),
    ]
}

fn header() -> impl Strategy<Value = FrameHeader> {
    (
        opcode(),
        any::<bool>(),
        proptest::option::of(any::<[u8; 4]>()),
        payload_len(),
    )
        .prop_map(|(opcode, fin, mask, len)| {
            let control = opcode.is_control();
            FrameHeader {
                fin: fin || control,
                opcode,
                mask,
                payload_len: if control { len % 126 } else { len },
            }
        })
}

/// The header length the RFC mandates: the shortest length form, plus the
/// masking key.
fn expected_header_len(h: &FrameHeader) -> usize {
    let len = match h.payload_len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    len + if h.mask.is_some() { 4 } else { 0 }
}

/// A data message as the sender cuts it into frames, with the pings it
/// sends after some of the fragments.
#[derive(Clone, Debug)]
struct Message {
    text: bool,
    fragments: Vec<Vec<u8>>,
    pings_after: Vec<Option<Vec<u8>>>,
}

impl Message {
    fn payload(&self) -> Vec<u8> {
        self.fragments.concat()
    }
}

/// A payload of a size from each length class; large ones are rarer so a
/// run stays quick.
fn data_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0..=125usize,
        3 => 126..=65_535usize,
        1 => 65_536..=200_000usize,
    ]
}

/// A message of the given length, text (cut anywhere, even inside a code
/// point: the receiver must stitch UTF-8 across fragments) or binary.
fn message() -> impl Strategy<Value = Message> {
    (
        any::<bool>(),
        data_len(),
        any::<u64>(),
        proptest::collection::vec(0.0..1.0f64, 0..5),
    )
        .prop_map(|(text, len, seed, cut_at)| {
            let mut rng = fastrand::Rng::with_seed(seed);
            let payload = if text {
                let mut s = String::with_capacity(len);
                while s.len() < len {
                    s.push(char::from_u32(rng.u32(..0x11_0000)).unwrap_or('\u{e9}'));
                }
                s.into_bytes()
            } else {
                let mut bytes = vec![0u8; len];
                rng.fill(&mut bytes);
                bytes
            };
            let mut cuts: Vec<usize> = cut_at
                .iter()
                .map(|f| (f * payload.len() as f64) as usize)
                .collect();
            cuts.sort_unstable();
            let mut fragments = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([payload.len()]) {
                fragments.push(payload[start..cut].to_vec());
                start = cut;
            }
            let pings_after = fragments
                .iter()
                .map(|_| rng.bool().then(|| vec![rng.u8(..); rng.usize(..=125)]))
                .collect();
            Message {
                text,
                fragments,
                pings_after,
            }
        })
}

/// An owned, comparable form of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Other(String),
}

fn got(event: Event<'_>) -> Got {
    match event {
        Event::Text(p) => Got::Text(p.into_vec()),
        Event::Binary(p) => Got::Binary(p.into_vec()),
        Event::Ping(p) => Got::Ping(p.into_vec()),
        other => Got::Other(format!("{other:?}")),
    }
}

/// Has `sender` encode `messages`; returns the wire bytes and the events
/// the receiver must report for them, in order.
fn encode(sender: &mut Session, messages: &[Message]) -> (Vec<u8>, Vec<Got>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for m in messages {
        let kind = if m.text { Opcode::Text } else { Opcode::Binary };
        if m.fragments.len() == 1 {
            sender.send(kind, &m.fragments[0], &mut wire).unwrap();
        } else {
            let last = m.fragments.len() - 1;
            for (i, fragment) in m.fragments.iter().enumerate() {
                sender
                    .send_fragment(kind, fragment, i == last, &mut wire)
                    .unwrap();
                if let Some(ping) = m.pings_after[i].as_ref().filter(|_| i < last) {
                    sender.ping(ping, &mut wire).unwrap();
                    expected.push(Got::Ping(ping.clone()));
                }
            }
        }
        expected.push(if m.text {
            Got::Text(m.payload())
        } else {
            Got::Binary(m.payload())
        });
    }
    (wire, expected)
}

/// Feeds `pieces` to a receiver as successive reads, keeping only the
/// unconsumed tail between reads as the transport does.
fn receive<'a>(role: Role, pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<Got> {
    let mut session = Session::new(role, Limits::default());
    let mut buf = Vec::new();
    let mut events = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            let (n, event) = session.read(&mut buf[pos..]);
            pos += n;
            match event {
                Some(event) => events.push(got(event)),
                None if n == 0 => break,
                None => {}
            }
        }
        buf.drain(..pos);
        assert!(buf.len() < MAX_HEADER_LEN);
    }
    assert!(buf.is_empty(), "{} bytes never consumed", buf.len());
    events
}

/// Cuts `wire` at the given fractions of its length.
fn cut<'a>(wire: &'a [u8], fractions: &[f64]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = fractions
        .iter()
        .map(|f| (f * wire.len() as f64) as usize)
        .collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain([wire.len()]) {
        pieces.push(&wire[start..end]);
        start = end;
    }
    pieces
}

fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn header_encode_decode_is_identity(h in header()) {
        let (buf, len) = h.encode();
        prop_assert_eq!(len, expected_header_len(&h));
        let decoded = decode_header(&buf[..len], h.mask.is_some(), u64::MAX).unwrap();
        prop_assert_eq!(decoded, Some((h, len)));
        // Trailing payload bytes do not change the header.
        let mut longer = buf[..len].to_vec();
        longer.extend_from_slice(&[0xAB; 20]);
        let decoded = decode_header(&longer, h.mask.is_some(), u64::MAX).unwrap();
        prop_assert_eq!(decoded, Some((h, len)));
        for short in 0..len {
            let cut = decode_header(&buf[..short], h.mask.is_some(), u64::MAX);
            prop_assert_eq!(cut, Ok(None), "cut at {}", short);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sent_messages_are_received_unchanged(
        sender_role in role(),
        messages in proptest::collection::vec(message(), 1..6),
    ) {
        let mut sender = Session::new(sender_role, Limits::default());
        let (wire, expected) = encode(&mut sender, &messages);
        prop_assert_eq!(receive(peer(sender_role), [wire.as_slice()]), expected);
    }

    #[test]
    fn any_cut_of_the_stream_gives_the_same_messages(
        sender_role in role(),
        messages in proptest::collection::vec(message(), 1..6),
        fractions in proptest::collection::vec(0.0..1.0f64, 0..40),
    ) {
        let mut sender = Session::new(sender_role, Limits::default());
        let (wire, expected) = encode(&mut sender, &messages);
        let pieces = cut(&wire, &fractions);
        prop_assert_eq!(receive(peer(sender_role), pieces), expected);
    }

    #[test]
    fn small_streams_survive_byte_at_a_time_reads(
        sender_role in role(),
        messages in proptest::collection::vec(message(), 1..4)
            .prop_filter("short", |m| m.iter().map(|m| m.payload().len()).sum::<usize>() < 4096),
    ) {
        let mut sender = Session::new(sender_role, Limits::default());
        let (wire, expected) = encode(&mut sender, &messages);
        prop_assert_eq!(receive(peer(sender_role), wire.chunks(1)), expected);
    }
}
