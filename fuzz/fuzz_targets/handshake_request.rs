//! The server's request-head parser and upgrade validation.
//!
//! Byte 0 picks the policy (head limit, origin allow-list, subprotocols);
//! the rest is what a client sent. A head is judged by its own bytes only,
//! every refusal is a complete HTTP answer with a status the docs promise,
//! and every accepted upgrade gets a `101` that our own client accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::handshake::{self, HandshakeConfig, HandshakeError};

fuzz_target!(|data: &[u8]| {
    let Some((&policy, buf)) = data.split_first() else {
        return;
    };
    let config = config_from(policy);
    let head = match handshake::parse_head(buf, &config) {
        Ok(None) => {
            assert!(buf.len() <= config.max_head, "kept {} bytes", buf.len());
            return;
        }
        Ok(Some((head, len))) => {
            assert!(len <= buf.len() && len <= config.max_head);
            let alone = handshake::parse_head(&buf[..len], &config);
            assert_eq!(alone.ok().flatten(), Some((head.clone(), len)));
            let cut = handshake::parse_head(&buf[..len - 1], &config);
            assert!(cut.is_ok_and(|r| r.is_none()), "a cut head must wait");
            head
        }
        Err(e) => return assert_answer(&e, &[400, 431]),
    };
    let req = match handshake::validate_upgrade(head, &config) {
        Ok(req) => req,
        Err(e) => return assert_answer(&e, &[400, 403, 405, 426]),
    };
    assert_eq!(req.method, "GET");
    assert_eq!(req.accept, handshake::accept_key(&req.key));
    if let Some(p) = &req.subprotocol {
        assert!(config.subprotocols.contains(p));
    }
    let answer = handshake::response_101(&req, req.subprotocol.as_deref(), &[]);
    let (resp, len) = handshake::parse_response(&answer, &req.key)
        .expect("our client refuses our 101")
        .expect("our 101 is incomplete");
    assert_eq!(len, answer.len());
    assert_eq!(resp.subprotocol, req.subprotocol);
});

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
    }
}

/// A refusal must carry one of `statuses` and render as a complete HTTP
/// response with that status.
fn assert_answer(e: &HandshakeError, statuses: &[u16]) {
    assert!(statuses.contains(&e.status), "status {}", e.status);
    let bytes = e.to_response();
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    let parsed = resp.parse(&bytes).expect("error answer is valid HTTP");
    assert!(parsed.is_complete());
    assert_eq!(resp.code, Some(e.status));
}
