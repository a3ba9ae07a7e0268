//! The client's parser of the server's `101` answer.
//!
//! The input is what a server sent in reply to a request made with a fixed
//! key. A response is judged by its own bytes only, an incomplete one is
//! never held beyond the head limit, and whatever is accepted really is a
//! `101` that answers our key and claims no extension.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::handshake::{self, DEFAULT_MAX_HEAD};

/// The RFC 6455 example key (its accept value is in the seed corpus).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|buf: &[u8]| {
    match handshake::parse_response(buf, KEY) {
        Ok(None) => assert!(buf.len() <= DEFAULT_MAX_HEAD),
        Ok(Some((resp, len))) => {
            assert!(len <= buf.len());
            assert_eq!(resp.status, 101);
            let accept = resp.header("Sec-WebSocket-Accept").expect("accept");
            assert_eq!(accept.trim_ascii(), handshake::accept_key(KEY).as_bytes());
            assert!(resp.header("Sec-WebSocket-Extensions").is_none());
            let alone = handshake::parse_response(&buf[..len], KEY);
            assert_eq!(alone.ok().flatten(), Some((resp, len)));
            let cut = handshake::parse_response(&buf[..len - 1], KEY);
            assert!(cut.is_ok_and(|r| r.is_none()), "a cut head must wait");
        }
        Err(e) => {
            assert_eq!(e.status, 0);
            assert!(!e.reason.is_empty());
        }
    }
});
