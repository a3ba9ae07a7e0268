//! The client's `ws://` and `wss://` URL parser.
//!
//! Whatever it accepts must be self-consistent (a path that starts with
//! `/`, no fragment, a non-empty host), must parse back to itself from its
//! own parts, must hold no space or control character, and must render an
//! upgrade request that the server's parser accepts with the same path
//! and host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::client::WsUrl;
use wsloop::ws::handshake::{self, HandshakeConfig};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(url) = WsUrl::parse(text) else {
        return;
    };
    assert!(url.path.starts_with('/'), "{url:?}");
    assert!(!url.path.contains('#'), "{url:?}");
    assert!(!url.host.is_empty(), "{url:?}");
    assert!(!url.authority.contains(['@', '/', '?', '#']), "{url:?}");

    let scheme = if url.secure { "wss" } else { "ws" };
    let again = WsUrl::parse(&format!("{scheme}://{}{}", url.authority, url.path));
    assert_eq!(again.as_ref().ok(), Some(&url), "{text:?}");

    // Nothing that would break or be dropped from the request head.
    let forbidden = |c: char| c == ' ' || c.is_control();
    assert!(!url.authority.contains(forbidden), "{url:?}");
    assert!(!url.path.contains(forbidden), "{url:?}");
    let request = handshake::client_request(&url.authority, &url.path, KEY, &[], &[]);
    let parsed = handshake::parse_request(&request, &HandshakeConfig::default());
    match parsed {
        Ok(Some((req, len))) => {
            assert_eq!(len, request.len());
            assert_eq!(req.path, url.path);
            assert_eq!(req.header("Host"), Some(url.authority.as_bytes()));
        }
        // A URL the client accepts may still be more than a server takes
        // (a head over 8 KiB, bytes httparse refuses in a path): refused
        // cleanly, never half-parsed.
        Ok(None) => panic!("rendered request is incomplete: {request:?}"),
        Err(e) => assert!(matches!(e.status, 400 | 431), "{e}"),
    }
});
