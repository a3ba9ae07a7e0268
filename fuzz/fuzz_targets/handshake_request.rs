//! The server's handshake state machine, `ServerHandshake`, fed what a
//! client sent in arbitrary reads.
//!
//! Byte 0 picks the policy (head limit, origin allow-list, subprotocols,
//! an application answering plain HTTP), bytes 1-8 seed the cut, the rest
//! is the client's bytes. The step reached must be the same whether the
//! bytes come whole, in a seeded cut or a byte at a time (with the
//! `HeadScan` kept between reads, as the transport does); nothing over the
//! head limit is ever waited on; a refusal carries a documented status and
//! is a complete HTTP response; an upgrade's head is exactly the one
//! httparse finds, and its `101` carries the right accept value and is
//! accepted by our own client parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::handshake::{self, HandshakeConfig, HeadScan, ServerHandshake, ServerStep};
use wsloop::ws::http::{HttpRequest, HttpResponse};
use wsloop::ws::UpgradeRequest;
use wsloop_fuzz::{chunks, http};

/// Streams at most this long are also fed one byte at a time.
const BYTEWISE_MAX: usize = 1024;

/// A step with what it says, comparable between runs.
#[derive(Debug, PartialEq)]
enum Step {
    NeedMore,
    Answered(Vec<u8>),
    Rejected(u16, String, Vec<u8>),
    Upgraded(Vec<u8>, usize, UpgradeRequest),
}

fuzz_target!(|data: &[u8]| {
    let (head, buf) = chunks::header::<9>(data);
    let config = config_from(head[0]);
    let plain_http = head[0] & 8 != 0;
    let seed = u64::from_le_bytes(head[1..9].try_into().unwrap());
    let handshake = ServerHandshake::new(&config);

    let whole = step_of(handshake.receive(buf, |h| answer(plain_http, h)));
    check(&whole, buf, &config);
    let mut cuts = vec![chunks::split(buf, seed)];
    if buf.len() <= BYTEWISE_MAX {
        cuts.push(buf.chunks(1).collect());
    }
    for cut in cuts {
        let mut scan = HeadScan::default();
        let mut fed = 0;
        let mut step = Step::NeedMore;
        for piece in cut {
            fed += piece.len();
            step = step_of(
                handshake.receive_scanned(&buf[..fed], &mut scan, |h| answer(plain_http, h)),
            );
            if step != Step::NeedMore {
                break;
            }
            // What the transport holds while waiting stays within the limit.
            assert!(fed <= config.max_head, "waited on {fed} bytes");
        }
        assert_eq!(step, whole, "the step depends on the cut");
    }
});

fn step_of(step: ServerStep) -> Step {
    match step {
        ServerStep::NeedMore => Step::NeedMore,
        ServerStep::Answered { response, status } => {
            assert_eq!(http::response(&response).status, status);
            Step::Answered(response)
        }
        ServerStep::Rejected { error, response } => {
            assert_eq!(response, error.to_response());
            Step::Rejected(error.status, error.reason, response)
        }
        ServerStep::Upgraded {
            response,
            head_len,
            request,
        } => Step::Upgraded(response, head_len, request),
    }
}

fn check(step: &Step, buf: &[u8], config: &HandshakeConfig) {
    match step {
        Step::NeedMore => assert!(buf.len() <= config.max_head, "kept {} bytes", buf.len()),
        Step::Answered(response) => assert_eq!(http::response(response).status, 200),
        Step::Rejected(status, reason, response) => {
            assert!(!reason.is_empty());
            let parsed = http::response(response);
            assert_eq!(parsed.status, *status);
            match status {
                400 | 403 | 431 => {}
                405 => assert_eq!(parsed.header("Allow"), Some(&b"GET"[..])),
                426 => assert_eq!(parsed.header("Sec-WebSocket-Version"), Some(&b"13"[..])),
                other => panic!("undocumented status {other}"),
            }
        }
        Step::Upgraded(response, head_len, request) => {
            assert!(*head_len <= buf.len() && *head_len <= config.max_head);
            assert_eq!(http::request_head_len(buf), Some(*head_len));
            assert_eq!(request.method, "GET");
            let accept = http::accept_for(&request.key);
            assert_eq!(request.accept, accept);
            let parsed = http::response(response);
            assert_eq!(parsed.status, 101);
            assert_eq!(parsed.head_len, response.len());
            assert_eq!(
                parsed.header("Sec-WebSocket-Accept"),
                Some(accept.as_bytes())
            );
            assert!(parsed.header("Sec-WebSocket-Extensions").is_none());
            if let Some(p) = &request.subprotocol {
                assert!(config.subprotocols.contains(p));
            }
            let (resp, len) = handshake::parse_response(response, &request.key)
                .expect("our client refuses our 101")
                .expect("our 101 is incomplete");
            assert_eq!(len, response.len());
            assert_eq!(resp.subprotocol, request.subprotocol);
        }
    }
}

/// With plain HTTP on, the application answers `/plain` itself.
fn answer(plain_http: bool, head: &HttpRequest) -> Option<HttpResponse> {
    (plain_http && head.path_only() == "/plain").then(|| HttpResponse::text(200, "plain"))
}

/// Bit 0: a 256-byte head limit instead of the default; bit 1: an origin
/// allow-list; bit 2: two subprotocols.
fn config_from(policy: u8) -> HandshakeConfig {
    HandshakeConfig {
        max_head: if policy & 1 != 0 {
            256
        } else {
            handshake::DEFAULT_MAX_HEAD
        },
        allowed_origins: (policy & 2 != 0).then(|| vec!["http://example.com".into()]),
        subprotocols: if policy & 4 != 0 {
            vec!["chat".into(), "superchat".into()]
        } else {
            Vec::new()
        },
        ..HandshakeConfig::default()
    }
}
