//! The client's `ws://` URL parser.
//!
//! Whatever it accepts must be self-consistent (a path that starts with
//! `/`, no fragment, a non-empty host), must parse back to itself from its
//! own parts, and, when free of control characters, must render an upgrade
//! request that the server's parser accepts with the same path.
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

    let again = WsUrl::parse(&format!("ws://{}{}", url.authority, url.path));
    assert_eq!(again.as_ref().ok(), Some(&url), "{text:?}");

    if (url.authority.clone() + &url.path)
        .chars()
        .any(char::is_control)
    {
        return;
    }
    let request = handshake::client_request(&url.authority, &url.path, KEY, &[], &[]);
    let parsed = handshake::parse_request(&request, &HandshakeConfig::default());
    match parsed {
        Ok(Some((req, len))) => {
            assert_eq!(len, request.len());
            let sent: String = url.path.chars().filter(|c| *c != ' ').collect();
            assert_eq!(req.path, sent);
        }
        // A URL the client accepts may still be more than a server takes
        // (a head over 8 KiB, bytes httparse refuses in a target): refused
        // cleanly, never half-parsed.
        Ok(None) => panic!("rendered request is incomplete: {request:?}"),
        Err(e) => assert!(matches!(e.status, 400 | 431), "{e}"),
    }
});
