//! The client's handshake state machine, `ClientHandshake`, fed what a
//! server answered, in arbitrary reads.
//!
//! Byte 0 picks the subprotocols offered, bytes 1-8 seed the cut, the rest
//! is the server's answer; the RFC 6455 example accept value in it stands
//! for the one that answers the handshake's own random key, so the fuzzer
//! can reach an upgrade. The step must be the same whatever the cut;
//! nothing over the head limit is waited on or accepted; an upgrade is a
//! `101` whose head is exactly what httparse finds, whose accept value
//! answers our key and whose subprotocol we offered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::handshake::{
    ClientHandshake, ClientRequest, ClientStep, UpgradeRequest, DEFAULT_MAX_HEAD,
};
use wsloop_fuzz::{chunks, http};

/// The accept value of the RFC 6455 example key.
const EXAMPLE_ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A step with what it says, comparable between runs.
#[derive(Debug, PartialEq)]
enum Step {
    NeedMore,
    Failed(u16, String),
    Upgraded(usize, Box<UpgradeRequest>),
}

fuzz_target!(|data: &[u8]| {
    let (head, answer) = chunks::header::<9>(data);
    let offered: Vec<String> = match head[0] & 3 {
        0 => vec![],
        1 => vec!["chat".into()],
        _ => vec!["chat".into(), "superchat".into()],
    };
    let seed = u64::from_le_bytes(head[1..9].try_into().unwrap());
    let target = ClientRequest {
        host: "example.com".into(),
        path: "/chat".into(),
        subprotocols: offered.clone(),
    };
    let handshake = ClientHandshake::new(&target, &[]);
    let key = sent_key(&handshake.request_bytes());
    let accept = http::accept_for(&key);
    let buf = substitute(answer, EXAMPLE_ACCEPT, accept.as_bytes());

    let whole = step_of(handshake.receive(&buf));
    let mut cuts = vec![chunks::split(&buf, seed)];
    if buf.len() <= 1024 {
        cuts.push(buf.chunks(1).collect());
    }
    for cut in cuts {
        let mut fed = 0;
        let mut step = Step::NeedMore;
        for piece in cut {
            fed += piece.len();
            step = step_of(handshake.receive(&buf[..fed]));
            if step != Step::NeedMore {
                break;
            }
            assert!(fed <= DEFAULT_MAX_HEAD, "waited on {fed} bytes");
        }
        assert_eq!(step, whole, "the step depends on the cut");
    }

    match whole {
        Step::NeedMore => assert!(buf.len() <= DEFAULT_MAX_HEAD),
        Step::Failed(status, reason) => {
            assert_eq!(status, 0);
            assert!(!reason.is_empty());
        }
        Step::Upgraded(head_len, request) => {
            assert!(head_len <= buf.len() && head_len <= DEFAULT_MAX_HEAD);
            let parsed = http::response(&buf[..head_len]);
            assert_eq!(parsed.head_len, head_len);
            assert_eq!(parsed.status, 101);
            let got = parsed.header("Sec-WebSocket-Accept").expect("accept");
            assert_eq!(got.trim_ascii(), accept.as_bytes());
            assert_eq!(request.key, key);
            assert!(request.extensions.is_empty());
            if let Some(p) = &request.subprotocol {
                assert!(offered.contains(p), "{p} was not offered");
            }
        }
    }
});

fn step_of(step: ClientStep) -> Step {
    match step {
        ClientStep::NeedMore => Step::NeedMore,
        ClientStep::Failed(e) => Step::Failed(e.status, e.reason),
        ClientStep::Upgraded {
            head_len, request, ..
        } => Step::Upgraded(head_len, Box::new(request)),
    }
}

/// The `Sec-WebSocket-Key` of the request we send.
fn sent_key(request: &[u8]) -> String {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut req = httparse::Request::new(&mut headers);
    assert!(req.parse(request).unwrap().is_complete());
    let key = req.headers.iter().find(|h| h.name == "Sec-WebSocket-Key");
    String::from_utf8(key.expect("a key").value.to_vec()).unwrap()
}

/// `buf` with every `from` replaced by `to` (of the same length).
fn substitute(buf: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = buf.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}
