//! The opening handshake (RFC 6455 section 4): an HTTP/1.1 `GET` with
//! `Upgrade: websocket`, answered by `101 Switching Protocols`.
//!
//! This module is the one home of the handshake, for both roles, and like
//! the rest of the core it does no I/O:
//!
//! - [`ServerHandshake`] (in `server.rs`) is fed the bytes received so far
//!   and answers "need more", "answered as plain HTTP", "rejected (status,
//!   reason, bytes to send)" or "upgraded (bytes to send, where the frames
//!   start, the negotiated [`UpgradeRequest`])". Between parsing the head and
//!   validating the upgrade it gives the application a chance to answer
//!   plain HTTP.
//! - [`ClientHandshake`] (in `client.rs`) renders the request for a
//!   [`ClientRequest`] and checks the server's answer the same way.
//!
//! Subprotocols are chosen here; extensions are negotiated by the
//! [`Extension`](super::extension::Extension)s in [`HandshakeConfig`].
//! The lower-level functions ([`parse_request`], [`response_101`],
//! [`client_request`], [`parse_response`]) stay public for benchmarks and
//! for tests that need a raw request or response.
//!
//! Both directions report the length of the HTTP head. A peer may send its
//! first frames right behind the head in the same TCP segment; the caller
//! must keep `buf[head_len..]` and feed it to the session rather than drop it.

mod client;
mod server;

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use super::extension::{ExtensionParams, Extensions};
use super::headers::{self, Headers};
use super::http::reason_phrase;

pub use client::{client_request, parse_response, verify_subprotocol};
pub use client::{ClientHandshake, ClientRequest, ClientStep};
pub use server::{parse_head, parse_request, response_101, select_subprotocol, validate_upgrade};
pub use server::{HeadScan, ServerHandshake, ServerStep};

/// The GUID the RFC appends to the client key before hashing.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Default cap on the size of a request or response head, in bytes.
pub const DEFAULT_MAX_HEAD: usize = 8192;

/// How many header lines a head may have; more is answered with 431.
const MAX_HEADERS: usize = 64;

/// Handshake policy: what a server accepts, and the extensions either role
/// negotiates.
#[derive(Clone, Debug)]
pub struct HandshakeConfig {
    /// Largest request head accepted; beyond it the answer is 431.
    pub max_head: usize,
    /// If set, the `Origin` header must be one of these (ASCII
    /// case-insensitive); a missing `Origin` is then refused too (403).
    pub allowed_origins: Option<Vec<String>>,
    /// Subprotocols the server speaks, most preferred first.
    pub subprotocols: Vec<String>,
    /// Extensions negotiated, most preferred first (none by default: every
    /// offer is declined, and a client offers nothing).
    pub extensions: Extensions,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            max_head: DEFAULT_MAX_HEAD,
            allowed_origins: None,
            subprotocols: Vec::new(),
            extensions: Vec::new(),
        }
    }
}

/// A failed handshake: on the server side, the HTTP error to answer with.
///
/// On the client side there is nothing to answer, so `status` is 0 and only
/// `reason` matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeError {
    /// HTTP status code to send (0 for client-side errors).
    pub status: u16,
    /// One-line explanation, also used as the response body.
    pub reason: String,
    /// Extra response headers the status calls for (e.g. `Allow: GET`).
    pub headers: Vec<(String, String)>,
}

impl HandshakeError {
    /// An error answered with `status` and `reason`.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        HandshakeError {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header line to the error response.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn client(reason: impl Into<String>) -> Self {
        Self::new(0, reason)
    }

    /// Renders a complete HTTP error response with a plain-text body. The
    /// connection is to be closed after sending it.
    pub fn to_response(&self) -> Vec<u8> {
        let body_len = self.reason.len() + 1;
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            body_len
        )
        .into_bytes();
        headers::write(
            &mut out,
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
        out.extend_from_slice(b"\r\n");
        // The reason is ours, but keep the body one line even so.
        out.extend(
            self.reason
                .bytes()
                .map(|b| if b == b'\n' { b' ' } else { b }),
        );
        out.push(b'\n');
        out
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status == 0 {
            write!(f, "handshake failed: {}", self.reason)
        } else {
            write!(f, "handshake failed ({}): {}", self.status, self.reason)
        }
    }
}

impl std::error::Error for HandshakeError {}

/// The upgrade request that opened a connection, with what the handshake
/// settled. Both roles fill it truthfully: a server with the request it
/// received, a client with the request it sent (and then `subprotocol` and
/// `extensions` are what the server chose).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// Always `GET`.
    pub method: String,
    /// The request target, e.g. `/chat?room=1`.
    pub path: String,
    /// All header lines in order, names as sent.
    pub headers: Headers,
    /// The client's `Sec-WebSocket-Key`.
    pub key: String,
    /// The `Sec-WebSocket-Accept` value that answers `key`.
    pub accept: String,
    /// The subprotocol agreed on: the first of the server's that the client offered.
    pub subprotocol: Option<String>,
    /// The extensions agreed on, with their parameters, in the order the
    /// server listed them.
    pub extensions: Vec<ExtensionParams>,
}

/// The former name of [`UpgradeRequest`], kept so handlers written against
/// it (`fn on_open(&mut self, ws, request: &Request)`) still compile.
pub type Request = UpgradeRequest;

impl UpgradeRequest {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        headers::find(&self.headers, name)
    }
}

/// A validated `101` answer from a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Always 101 once validated.
    pub status: u16,
    /// All header lines in order, names as sent.
    pub headers: Headers,
    /// The subprotocol the server chose, if any. The caller should check it
    /// is one it offered (see [`verify_subprotocol`]).
    pub subprotocol: Option<String>,
}

impl Response {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        headers::find(&self.headers, name)
    }
}

/// Computes `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)). This proves
/// the server understood the WebSocket request rather than being a cache
/// or an unrelated HTTP server replaying a response.
///
/// The hash runs on the CPU's SHA instructions where it has them (the
/// `sha1` crate picks them at run time), which halves the cost of the
/// accept key, once the largest single cost of an upgrade
/// (`handshake/accept_key` in benches/codec.rs).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// A fresh random `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    fastrand::fill(&mut nonce);
    BASE64.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn rfc_accept_key_example() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn error_response_rendering() {
        let err =
            HandshakeError::new(426, "bad version").with_header("Sec-WebSocket-Version", "13");
        let text = String::from_utf8(err.to_response()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
             Connection: close\r\nSec-WebSocket-Version: 13\r\n\r\nbad version\n"
        );
    }

    #[test]
    fn client_and_server_agree() {
        let key = generate_key();
        assert_eq!(BASE64.decode(&key).unwrap().len(), 16);
        assert_ne!(key, generate_key());

        let request = client_request("localhost:9001", "/x", &key, &["chat"], &[("X-A", "1")]);
        let config = HandshakeConfig {
            subprotocols: vec!["chat".into()],
            ..Default::default()
        };
        let (req, _) = parse_request(&request, &config).unwrap().unwrap();
        assert_eq!(req.path, "/x");
        assert_eq!(req.header("host"), Some(&b"localhost:9001"[..]));
        assert_eq!(req.header("x-a"), Some(&b"1"[..]));

        let mut reply = response_101(&req, req.subprotocol.as_deref(), &[]);
        let head = reply.len();
        reply.extend_from_slice(&[0x81, 0x00]);
        let (resp, n) = parse_response(&reply, &key).unwrap().unwrap();
        assert_eq!(n, head);
        assert_eq!(resp.subprotocol.as_deref(), Some("chat"));
        assert!(verify_subprotocol(&resp, &["chat"]).is_ok());
        assert!(verify_subprotocol(&resp, &["other"]).is_err());
        for cut in 0..head {
            assert_eq!(parse_response(&reply[..cut], &key), Ok(None));
        }
    }
}
