//! The opening handshake (RFC 6455 section 4): an HTTP/1.1 `GET` with
//! `Upgrade: websocket`, answered by `101 Switching Protocols`.
//!
//! Server side: [`parse_request`] turns the bytes of a request head into an
//! owned [`Request`] (or an HTTP error to send back), and [`response_101`]
//! renders the answer. Client side: [`client_request`] renders the request
//! and [`parse_response`] checks the server's answer.
//!
//! Both parsers return the length of the HTTP head alongside the result.
//! A peer may send its first frames right behind the head in the same TCP
//! segment; the caller must keep `buf[head_len..]` and feed it to the
//! session rather than drop it.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::http::{reason_phrase, HttpRequest};

/// The GUID the RFC appends to the client key before hashing.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Default cap on the size of a request or response head, in bytes.
pub const DEFAULT_MAX_HEAD: usize = 8192;

/// How many header lines a head may have; more is answered with 431.
const MAX_HEADERS: usize = 64;

/// Server-side handshake policy.
#[derive(Clone, Debug)]
pub struct HandshakeConfig {
    /// Largest request head accepted; beyond it the answer is 431.
    pub max_head: usize,
    /// If set, the `Origin` header must be one of these (ASCII
    /// case-insensitive); a missing `Origin` is then refused too (403).
    pub allowed_origins: Option<Vec<String>>,
    /// Subprotocols the server speaks, most preferred first.
    pub subprotocols: Vec<String>,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            max_head: DEFAULT_MAX_HEAD,
            allowed_origins: None,
            subprotocols: Vec::new(),
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
    fn new(status: u16, reason: impl Into<String>) -> Self {
        HandshakeError {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Self {
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
        write_headers(
            &mut out,
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
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

/// A validated upgrade request, owned so it can outlive the read buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Always `GET` once validated.
    pub method: String,
    /// The request target, e.g. `/chat?room=1`.
    pub path: String,
    /// All header lines in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The client's `Sec-WebSocket-Key`.
    pub key: String,
    /// The `Sec-WebSocket-Accept` value that answers `key`.
    pub accept: String,
    /// The first of the server's subprotocols that the client offered.
    pub subprotocol: Option<String>,
}

impl Request {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }
}

/// A validated `101` answer from a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Always 101 once validated.
    pub status: u16,
    /// All header lines in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The subprotocol the server chose, if any. The caller should check it
    /// is one it offered (see [`verify_subprotocol`]).
    pub subprotocol: Option<String>,
}

impl Response {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }
}

/// Computes `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)). This proves
/// the server understood the WebSocket request rather than being a cache
/// or an unrelated HTTP server replaying a response.
pub fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha.digest().bytes())
}

/// Parses and validates an upgrade request at the start of `buf`:
/// [`parse_head`] then [`validate_upgrade`].
///
/// `Ok(None)` means the head is not complete yet. On success returns the
/// request and the length of its head; bytes after it belong to the
/// WebSocket stream.
pub fn parse_request(
    buf: &[u8],
    config: &HandshakeConfig,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    match parse_head(buf, config)? {
        None => Ok(None),
        Some((head, head_len)) => Ok(Some((validate_upgrade(head, config)?, head_len))),
    }
}

/// Parses an HTTP request head at the start of `buf`, without judging
/// whether it is a WebSocket upgrade (so an application may answer plain
/// HTTP first). `Ok(None)` means incomplete. Oversized heads get 431,
/// malformed ones 400.
pub fn parse_head(
    buf: &[u8],
    config: &HandshakeConfig,
) -> Result<Option<(HttpRequest, usize)>, HandshakeError> {
    let mut header_buf = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut header_buf);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > config.max_head {
                return Err(too_large());
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(too_large()),
        Err(e) => {
            return Err(HandshakeError::new(
                400,
                format!("malformed HTTP request: {e}"),
            ));
        }
    };
    if head_len > config.max_head {
        return Err(too_large());
    }
    let head = HttpRequest {
        method: parsed.method.unwrap_or_default().to_owned(),
        path: parsed.path.unwrap_or("/").to_owned(),
        version: parsed.version.unwrap_or_default(),
        headers: own_headers(parsed.headers),
    };
    Ok(Some((head, head_len)))
}

/// Checks that a parsed head is a valid upgrade request. Checks run in
/// this order, each with its own status: method GET (405), HTTP/1.1 (400),
/// `Upgrade: websocket` (400), `Connection: upgrade` (400), a key of 16
/// base64 bytes (400), version 13 (426), origin allow-list (403).
pub fn validate_upgrade(
    head: HttpRequest,
    config: &HandshakeConfig,
) -> Result<Request, HandshakeError> {
    let HttpRequest {
        method,
        path,
        version,
        headers,
    } = head;
    if method != "GET" {
        return Err(
            HandshakeError::new(405, "WebSocket upgrade requires GET").with_header("Allow", "GET")
        );
    }
    if version != 1 {
        return Err(HandshakeError::new(
            400,
            "WebSocket upgrade requires HTTP/1.1",
        ));
    }

    if !has_token(&headers, "Upgrade", "websocket") {
        return Err(HandshakeError::new(400, "missing Upgrade: websocket"));
    }
    if !has_token(&headers, "Connection", "upgrade") {
        return Err(HandshakeError::new(400, "missing Connection: upgrade"));
    }
    let key = match single_header(&headers, "Sec-WebSocket-Key") {
        Some(key) if is_valid_key(key) => String::from_utf8_lossy(key).into_owned(),
        Some(_) => return Err(HandshakeError::new(400, "invalid Sec-WebSocket-Key")),
        None => return Err(HandshakeError::new(400, "missing Sec-WebSocket-Key")),
    };
    if single_header(&headers, "Sec-WebSocket-Version") != Some(b"13") {
        return Err(
            HandshakeError::new(426, "unsupported Sec-WebSocket-Version, expected 13")
                .with_header("Sec-WebSocket-Version", "13"),
        );
    }
    if let Some(allowed) = &config.allowed_origins {
        let origin = find_header(&headers, "Origin").map(trim);
        let permitted = origin.is_some_and(|origin| {
            allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin))
        });
        if !permitted {
            return Err(HandshakeError::new(403, "origin not allowed"));
        }
    }

    let offered = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
        .flat_map(|(_, value)| tokens(value));
    let subprotocol = select_subprotocol(&config.subprotocols, offered).map(str::to_owned);

    let accept = accept_key(&key);
    Ok(Request {
        method,
        path,
        headers,
        key,
        accept,
        subprotocol,
    })
}

/// Picks the first of the server's protocols (in the server's order of
/// preference) that the client offered; matching is case-sensitive.
pub fn select_subprotocol<'s, 'c, S: AsRef<str>>(
    server_prefs: &'s [S],
    client_offer: impl IntoIterator<Item = &'c [u8]>,
) -> Option<&'s str> {
    let offered: Vec<&[u8]> = client_offer.into_iter().collect();
    server_prefs
        .iter()
        .map(AsRef::as_ref)
        .find(|p| offered.contains(&p.as_bytes()))
}

/// Renders the `101 Switching Protocols` answer to `req`, naming the chosen
/// subprotocol if any. Extra headers with CR or LF in them are dropped, as
/// they would let a value inject headers of its own.
pub fn response_101(
    req: &Request,
    selected_subprotocol: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    let protocol = selected_subprotocol.map(|p| ("Sec-WebSocket-Protocol", p));
    let headers = [("Sec-WebSocket-Accept", req.accept.as_str())]
        .into_iter()
        .chain(protocol)
        .chain(extra_headers.iter().copied());
    write_headers(&mut out, headers);
    out.extend_from_slice(b"\r\n");
    out
}

/// A fresh random `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    fastrand::fill(&mut nonce);
    BASE64.encode(nonce)
}

/// Renders a client upgrade request for `path` on `host`, offering the
/// given subprotocols. Unsafe extra headers (CR/LF) are dropped.
pub fn client_request(
    host: &str,
    path: &str,
    key: &str,
    subprotocols: &[&str],
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    let path = if path.is_empty() { "/" } else { path };
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend(path.bytes().filter(|b| !b.is_ascii_whitespace()));
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let protocols = subprotocols.join(", ");
    let offer =
        (!subprotocols.is_empty()).then_some(("Sec-WebSocket-Protocol", protocols.as_str()));
    let headers = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    .into_iter()
    .chain(offer)
    .chain(extra_headers.iter().copied());
    write_headers(&mut out, headers);
    out.extend_from_slice(b"\r\n");
    out
}

/// Parses and checks a server's answer to a request sent with
/// `expected_key`. `Ok(None)` means the head is incomplete; on success
/// returns the response and its head length (frames may follow it).
pub fn parse_response(
    buf: &[u8],
    expected_key: &str,
) -> Result<Option<(Response, usize)>, HandshakeError> {
    let mut header_buf = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut header_buf);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > DEFAULT_MAX_HEAD {
                return Err(HandshakeError::client("response head too large"));
            }
            return Ok(None);
        }
        Err(e) => {
            return Err(HandshakeError::client(format!(
                "malformed HTTP response: {e}"
            )));
        }
    };

    let status = parsed.code.unwrap_or_default();
    if status != 101 {
        return Err(HandshakeError::client(format!(
            "expected 101, got {status}"
        )));
    }
    let headers = own_headers(parsed.headers);
    if !has_token(&headers, "Upgrade", "websocket") {
        return Err(HandshakeError::client("missing Upgrade: websocket"));
    }
    if !has_token(&headers, "Connection", "upgrade") {
        return Err(HandshakeError::client("missing Connection: upgrade"));
    }
    match find_header(&headers, "Sec-WebSocket-Accept") {
        None => return Err(HandshakeError::client("missing Sec-WebSocket-Accept")),
        Some(accept) if trim(accept) != accept_key(expected_key).as_bytes() => {
            return Err(HandshakeError::client("Sec-WebSocket-Accept mismatch"));
        }
        Some(_) => {}
    }
    // We never offer extensions, so any the server claims are unusable.
    if find_header(&headers, "Sec-WebSocket-Extensions").is_some() {
        return Err(HandshakeError::client(
            "server selected an extension we did not offer",
        ));
    }
    let subprotocol = find_header(&headers, "Sec-WebSocket-Protocol")
        .map(|p| String::from_utf8_lossy(trim(p)).into_owned());
    Ok(Some((
        Response {
            status,
            headers,
            subprotocol,
        },
        head_len,
    )))
}

/// Checks that the subprotocol a server chose (if any) was one we offered,
/// as the RFC requires of clients.
pub fn verify_subprotocol(response: &Response, offered: &[&str]) -> Result<(), HandshakeError> {
    match &response.subprotocol {
        Some(chosen) if !offered.contains(&chosen.as_str()) => Err(HandshakeError::client(
            format!("server chose subprotocol {chosen:?}, which was not offered"),
        )),
        _ => Ok(()),
    }
}

fn too_large() -> HandshakeError {
    HandshakeError::new(431, "request head too large")
}

fn own_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect()
}

fn find_header<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// The trimmed value of a header that must appear exactly once; a repeated
/// key or version is ambiguous, so it counts as absent.
fn single_header<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    match (values.next(), values.next()) {
        (Some((_, v)), None) => Some(trim(v)),
        _ => None,
    }
}

/// Whether any header called `name` lists `token` in its comma-separated
/// value (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
fn has_token(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| tokens(v))
        .any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Splits a comma-separated header value into trimmed, non-empty tokens.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// A key must be base64 for exactly 16 bytes (RFC 6455 section 4.1).
fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes encode to 24 characters; checking first bounds the decode.
    key.len() == 24 && BASE64.decode(key).is_ok_and(|k| k.len() == 16)
}

/// Writes `Name: value\r\n` lines, skipping any that could split the head.
fn write_headers<'h>(out: &mut Vec<u8>, headers: impl Iterator<Item = (&'h str, &'h str)>) {
    for (name, value) in headers {
        let unsafe_byte = |b: u8| b == b'\r' || b == b'\n';
        if name.is_empty() || name.bytes().any(unsafe_byte) || value.bytes().any(unsafe_byte) {
            log::warn!("dropping header {name:?} containing CR/LF");
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request_with(lines: &[&str]) -> Vec<u8> {
        let mut s = String::from("GET /chat HTTP/1.1\r\n");
        for line in lines {
            s.push_str(line);
            s.push_str("\r\n");
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn good_lines() -> Vec<&'static str> {
        vec![
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Origin: http://example.com",
            "Sec-WebSocket-Protocol: chat, superchat",
            "Sec-WebSocket-Version: 13",
        ]
    }

    fn status_of(buf: &[u8], config: &HandshakeConfig) -> u16 {
        parse_request(buf, config).unwrap_err().status
    }

    fn without(name: &str) -> Vec<&'static str> {
        good_lines()
            .into_iter()
            .filter(|l| !l.starts_with(name))
            .collect()
    }

    fn replacing(name: &str, line: &'static str) -> Vec<&'static str> {
        let mut lines = without(name);
        lines.push(line);
        lines
    }

    #[test]
    fn rfc_accept_key_example() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn parses_rfc_example_request() {
        let buf = request_with(&good_lines());
        let config = HandshakeConfig {
            subprotocols: vec!["superchat".into(), "chat".into()],
            ..Default::default()
        };
        let (req, n) = parse_request(&buf, &config).unwrap().unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/chat");
        assert_eq!(req.key, KEY);
        assert_eq!(req.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(req.header("ORIGIN"), Some(&b"http://example.com"[..]));
        assert_eq!(req.header("x-missing"), None);
        // Server preference wins over the client's order.
        assert_eq!(req.subprotocol.as_deref(), Some("superchat"));
    }

    #[test]
    fn incomplete_head_at_every_length() {
        let buf = request_with(&good_lines());
        for cut in 0..buf.len() {
            assert_eq!(
                parse_request(&buf[..cut], &HandshakeConfig::default()),
                Ok(None),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn keeps_bytes_after_the_head() {
        let mut buf = request_with(&good_lines());
        let head = buf.len();
        buf.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]); // first frame
        let (_, n) = parse_request(&buf, &HandshakeConfig::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, head);
        assert_eq!(&buf[n..], &[0x81, 0x80, 1, 2, 3, 4]);
    }

    #[test]
    fn oversized_heads_are_431() {
        let config = HandshakeConfig {
            max_head: 100,
            ..Default::default()
        };
        // Incomplete and already past the limit.
        let mut partial = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        partial.extend_from_slice(&[b'a'; 200]);
        assert_eq!(status_of(&partial, &config), 431);
        // Complete but too long.
        assert_eq!(status_of(&request_with(&good_lines()), &config), 431);
        // Too many header lines.
        let many: Vec<String> = (0..100).map(|i| format!("X-H{i}: v")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let buf = request_with(&many);
        assert_eq!(status_of(&buf, &HandshakeConfig::default()), 431);
    }

    #[test]
    fn validation_order_and_statuses() {
        let config = HandshakeConfig::default();
        let post = String::from_utf8(request_with(&good_lines()))
            .unwrap()
            .replacen("GET", "POST", 1);
        let err = parse_request(post.as_bytes(), &config).unwrap_err();
        assert_eq!(err.status, 405);
        assert_eq!(err.headers, vec![("Allow".to_owned(), "GET".to_owned())]);

        let http10 = String::from_utf8(request_with(&good_lines()))
            .unwrap()
            .replacen("HTTP/1.1", "HTTP/1.0", 1);
        assert_eq!(status_of(http10.as_bytes(), &config), 400);
        assert_eq!(status_of(b"garbage\r\n\r\n", &config), 400);

        assert_eq!(status_of(&request_with(&without("Upgrade")), &config), 400);
        let bad = replacing("Upgrade", "Upgrade: h2c");
        assert_eq!(status_of(&request_with(&bad), &config), 400);
        let ok = replacing("Upgrade", "Upgrade: foo, WebSocket");
        assert!(parse_request(&request_with(&ok), &config).is_ok());

        assert_eq!(
            status_of(&request_with(&without("Connection")), &config),
            400
        );
        let bad = replacing("Connection", "Connection: keep-alive");
        assert_eq!(status_of(&request_with(&bad), &config), 400);
        let bad = replacing("Connection", "Connection: upgraded");
        assert_eq!(status_of(&request_with(&bad), &config), 400);
        let ok = replacing("Connection", "Connection: keep-alive, Upgrade");
        assert!(parse_request(&request_with(&ok), &config).is_ok());

        assert_eq!(
            status_of(&request_with(&without("Sec-WebSocket-Key")), &config),
            400
        );
        for bad_key in [
            "Sec-WebSocket-Key: not base64!!!!!!!!!!!!!",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ", // no padding
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZTE=", // 17 bytes
            "Sec-WebSocket-Key: c2hvcnQ=",               // 5 bytes
        ] {
            let bad = replacing("Sec-WebSocket-Key", bad_key);
            assert_eq!(status_of(&request_with(&bad), &config), 400, "{bad_key}");
        }

        let err =
            parse_request(&request_with(&without("Sec-WebSocket-Version")), &config).unwrap_err();
        assert_eq!(err.status, 426);
        assert_eq!(
            err.headers,
            vec![("Sec-WebSocket-Version".to_owned(), "13".to_owned())]
        );
        let bad = replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8");
        assert_eq!(status_of(&request_with(&bad), &config), 426);

        // An earlier failure wins over a later one.
        let both = replacing("Connection", "Connection: close");
        let both: Vec<_> = both
            .into_iter()
            .filter(|l| !l.starts_with("Sec-WebSocket-Version"))
            .collect();
        assert_eq!(status_of(&request_with(&both), &config), 400);
    }

    #[test]
    fn origin_allow_list() {
        let config = HandshakeConfig {
            allowed_origins: Some(vec!["http://example.com".into()]),
            ..Default::default()
        };
        assert!(parse_request(&request_with(&good_lines()), &config).is_ok());
        let other = replacing("Origin", "Origin: http://evil.example");
        assert_eq!(status_of(&request_with(&other), &config), 403);
        assert_eq!(status_of(&request_with(&without("Origin")), &config), 403);
        // Without a list, any origin (or none) is fine.
        let open = HandshakeConfig::default();
        assert!(parse_request(&request_with(&without("Origin")), &open).is_ok());
    }

    #[test]
    fn subprotocol_selection() {
        let server = ["b", "a"];
        let offer = |s: &'static str| tokens(s.as_bytes()).collect::<Vec<_>>();
        assert_eq!(select_subprotocol(&server, offer("a, b")), Some("b"));
        assert_eq!(select_subprotocol(&server, offer("a")), Some("a"));
        assert_eq!(select_subprotocol(&server, offer("c, B")), None);
        assert_eq!(select_subprotocol(&server, offer("")), None);
        let none: [&str; 0] = [];
        assert_eq!(select_subprotocol(&none, offer("a")), None);
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
    fn response_101_rendering() {
        let buf = request_with(&good_lines());
        let (req, _) = parse_request(&buf, &HandshakeConfig::default())
            .unwrap()
            .unwrap();
        let text = String::from_utf8(response_101(
            &req,
            Some("chat"),
            &[("X-Server", "wsloop"), ("X-Bad", "a\r\nInjected: 1")],
        ))
        .unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\
             X-Server: wsloop\r\n\r\n"
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

    #[test]
    fn client_rejects_bad_responses() {
        let reason = |buf: &str| parse_response(buf.as_bytes(), KEY).unwrap_err().reason;
        assert_eq!(
            reason("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            "expected 101, got 200"
        );
        assert_eq!(
            reason(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
            ),
            "Sec-WebSocket-Accept mismatch"
        );
        assert_eq!(
            reason("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
            "missing Sec-WebSocket-Accept"
        );
        assert_eq!(
            reason(
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            ),
            "missing Upgrade: websocket"
        );
        assert!(parse_response(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            KEY
        )
        .unwrap()
        .is_some());
    }
}
