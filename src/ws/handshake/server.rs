//! The server's half of the opening handshake: [`ServerHandshake`] and the
//! parsing, validation and rendering it is made of.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::{accept_key, HandshakeConfig, HandshakeError, UpgradeRequest, MAX_HEADERS};
use crate::ws::extension::{self, ExtensionParams};
use crate::ws::headers::{self, Headers};
use crate::ws::http::{HttpRequest, HttpResponse};

/// The server side of the opening handshake, as a sans-IO step function.
///
/// It keeps no state between calls: until the request head is complete it
/// consumes nothing, and the caller feeds it the same bytes again with
/// more appended (the transport keeps unconsumed input anyway). Once it
/// returns anything but [`ServerStep::NeedMore`] the handshake is over.
///
/// The steps, in this order:
/// 1. parse the request head (431 when too large, 400 when malformed);
/// 2. offer the head to the application, which may answer it as plain
///    HTTP (a page, a health check, a refusal);
/// 3. validate it as an upgrade ([`validate_upgrade`]) and negotiate the
///    subprotocol and extensions.
///
/// ```
/// use wsloop::ws::handshake::{HandshakeConfig, ServerHandshake, ServerStep};
///
/// let config = HandshakeConfig::default();
/// let request = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let handshake = ServerHandshake::new(&config);
/// assert!(matches!(handshake.receive(&request[..20], |_| None), ServerStep::NeedMore));
/// match handshake.receive(request, |_| None) {
///     ServerStep::Upgraded { head_len, request: req, .. } => {
///         assert_eq!(head_len, request.len());
///         assert_eq!(req.path, "/chat");
///     }
///     _ => unreachable!(),
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ServerHandshake<'c> {
    config: &'c HandshakeConfig,
}

/// What one [`ServerHandshake::receive`] step decided.
#[derive(Debug)]
pub enum ServerStep {
    /// The request head is incomplete: nothing consumed, feed more.
    NeedMore,
    /// The application answered the request as plain HTTP: send
    /// `response`, then close.
    Answered {
        /// The rendered HTTP response.
        response: Vec<u8>,
        /// Its status, for the log.
        status: u16,
    },
    /// The request is no acceptable upgrade: send `response`, then close.
    Rejected {
        /// Why, with the status.
        error: HandshakeError,
        /// The rendered HTTP error response.
        response: Vec<u8>,
    },
    /// The upgrade is accepted: send `response` (the 101); frames start at
    /// `buf[head_len..]`.
    Upgraded {
        /// The rendered `101 Switching Protocols`.
        response: Vec<u8>,
        /// Length of the request head; what follows belongs to the frames.
        head_len: usize,
        /// The request, with the subprotocol and extensions agreed on.
        request: UpgradeRequest,
    },
}

impl<'c> ServerHandshake<'c> {
    /// A handshake under `config`'s policy.
    pub fn new(config: &'c HandshakeConfig) -> Self {
        ServerHandshake { config }
    }

    /// Runs the handshake over the bytes received so far. `answer_http`
    /// sees every complete head before it is judged as an upgrade and may
    /// answer it instead (`None` goes on with the upgrade).
    pub fn receive(
        &self,
        buf: &[u8],
        answer_http: impl FnOnce(&HttpRequest) -> Option<HttpResponse>,
    ) -> ServerStep {
        self.receive_scanned(buf, &mut HeadScan::default(), answer_http)
    }

    /// [`receive`](Self::receive) for a caller that keeps a [`HeadScan`]
    /// between reads: only the bytes not searched yet are looked at, so a
    /// head that arrives a byte at a time costs linear time, not quadratic.
    /// The step is the same as `receive` on the same bytes.
    pub fn receive_scanned(
        &self,
        buf: &[u8],
        scan: &mut HeadScan,
        answer_http: impl FnOnce(&HttpRequest) -> Option<HttpResponse>,
    ) -> ServerStep {
        let (head, head_len) = match scan.head(buf, self.config) {
            Ok(None) => return ServerStep::NeedMore,
            Ok(Some(parsed)) => parsed,
            Err(error) => return rejected(error),
        };
        if let Some(answer) = answer_http(&head) {
            return ServerStep::Answered {
                response: answer.to_bytes(head.method == "HEAD"),
                status: answer.status,
            };
        }
        match validate_upgrade(head, self.config) {
            Ok(request) => ServerStep::Upgraded {
                response: response_101(&request, request.subprotocol.as_deref(), &[]),
                head_len,
                request,
            },
            Err(error) => rejected(error),
        }
    }
}

/// How far a request head has been searched for its end, kept between
/// reads of one connection.
///
/// Without it every read would parse the head from its first byte again:
/// the CPU attack of RUSTSEC-2023-0065, bounded here by the head limit but
/// still quadratic in it. With it, each byte is searched once, the request
/// line is parsed once it is complete (so garbage is refused early), and
/// the whole head once its blank line is there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadScan {
    /// Bytes of the buffer searched so far.
    scanned: usize,
    /// Where the line being searched starts.
    line_start: usize,
    /// End of the request line, past its LF. Empty lines before it, which
    /// HTTP tolerates, are not it.
    request_line_end: Option<usize>,
    /// The request line parsed without error.
    request_line_ok: bool,
    /// End of the head, past its blank line.
    head_end: Option<usize>,
    /// Bytes of the request line's method checked so far, so that bytes
    /// which can never start an HTTP request (a TLS ClientHello, noise)
    /// are refused at once, not after a whole line or the head limit.
    method_checked: usize,
    /// The method's closing space was seen.
    method_done: bool,
}

impl HeadScan {
    /// The request head at the start of `buf`, judged as [`parse_head`]
    /// would but in an order that depends on the bytes only, never on how
    /// they were cut into reads: a bad request line within the limit is
    /// 400, then a head that is or must be longer than the limit is 431.
    fn head(
        &mut self,
        buf: &[u8],
        config: &HandshakeConfig,
    ) -> Result<Option<(HttpRequest, usize)>, HandshakeError> {
        self.search(buf);
        let max = config.max_head;
        self.check_method(buf, max)?;
        // A whole head within the limit is judged by its one full parse
        // below, request line first; parsing the line alone as well would
        // only repeat that work.
        let head_fits = self.head_end.is_some_and(|end| end <= max);
        if let Some(end) = self.request_line_end.filter(|_| !head_fits) {
            if end <= max && !self.request_line_ok {
                parse_head(&buf[..end], config)?;
                self.request_line_ok = true;
            }
        }
        let head_len = match self.head_end {
            Some(end) if end <= max => end,
            _ if buf.len() > max => return Err(too_large()),
            _ => return Ok(None),
        };
        match parse_head(&buf[..head_len], config)? {
            Some(parsed) => Ok(Some(parsed)),
            None => Err(HandshakeError::new(400, "malformed HTTP request head")),
        }
    }

    /// Checks the bytes of the method not checked yet: HTTP token
    /// characters up to the first space (line ends are the search's).
    /// Only bytes of the request line within the head limit are looked at,
    /// so the verdict never depends on how the bytes were cut into reads.
    fn check_method(&mut self, buf: &[u8], max: usize) -> Result<(), HandshakeError> {
        let end = self
            .request_line_end
            .unwrap_or(buf.len())
            .min(buf.len())
            .min(max);
        let from = self.method_checked.min(end);
        for &b in &buf[from..end] {
            if self.method_done {
                break;
            }
            match b {
                b' ' => self.method_done = true,
                b'\r' | b'\n' => {}
                b if is_token_char(b) => {}
                _ => {
                    return Err(HandshakeError::new(
                        400,
                        "malformed HTTP request: invalid token",
                    ))
                }
            }
        }
        self.method_checked = end;
        Ok(())
    }

    /// Searches the bytes not seen yet for the request line's end and the
    /// blank line that ends the head (CRLF or a bare LF, as httparse takes).
    fn search(&mut self, buf: &[u8]) {
        if buf.len() < self.scanned {
            // Not the same buffer grown: start over rather than misread.
            *self = HeadScan::default();
        }
        while self.head_end.is_none() {
            let Some(i) = memchr::memchr(b'\n', &buf[self.scanned..]) else {
                self.scanned = buf.len();
                return;
            };
            let lf = self.scanned + i;
            let line = &buf[self.line_start..lf];
            self.scanned = lf + 1;
            self.line_start = lf + 1;
            if !matches!(line, b"" | b"\r") {
                self.request_line_end.get_or_insert(lf + 1);
            } else if self.request_line_end.is_some() {
                self.head_end = Some(lf + 1);
            }
        }
    }
}

/// RFC 9110 `tchar`: what a method may be made of.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn rejected(error: HandshakeError) -> ServerStep {
    ServerStep::Rejected {
        response: error.to_response(),
        error,
    }
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
) -> Result<Option<(UpgradeRequest, usize)>, HandshakeError> {
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
        headers: Headers::own(parsed.headers),
    };
    Ok(Some((head, head_len)))
}

/// Checks that a parsed head is a valid upgrade request. Checks run in
/// this order, each with its own status: method GET (405), HTTP/1.1 (400),
/// `Upgrade: websocket` (400), `Connection: upgrade` (400), a key of 16
/// base64 bytes (400), version 13 (426), origin allow-list (403), then the
/// extension offer when extensions are configured (400 if malformed).
pub fn validate_upgrade(
    head: HttpRequest,
    config: &HandshakeConfig,
) -> Result<UpgradeRequest, HandshakeError> {
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

    if !headers::has_token(&headers, "Upgrade", "websocket") {
        return Err(HandshakeError::new(400, "missing Upgrade: websocket"));
    }
    if !headers::has_token(&headers, "Connection", "upgrade") {
        return Err(HandshakeError::new(400, "missing Connection: upgrade"));
    }
    let key = match headers::single(&headers, "Sec-WebSocket-Key") {
        Some(key) if is_valid_key(key) => String::from_utf8_lossy(key).into_owned(),
        Some(_) => return Err(HandshakeError::new(400, "invalid Sec-WebSocket-Key")),
        None => return Err(HandshakeError::new(400, "missing Sec-WebSocket-Key")),
    };
    if headers::single(&headers, "Sec-WebSocket-Version") != Some(b"13") {
        return Err(
            HandshakeError::new(426, "unsupported Sec-WebSocket-Version, expected 13")
                .with_header("Sec-WebSocket-Version", "13"),
        );
    }
    if let Some(allowed) = &config.allowed_origins {
        let origin = headers::find(&headers, "Origin").map(<[u8]>::trim_ascii);
        let permitted = origin.is_some_and(|origin| {
            allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin))
        });
        if !permitted {
            return Err(HandshakeError::new(403, "origin not allowed"));
        }
    }

    let offered = headers::all(&headers, "Sec-WebSocket-Protocol").flat_map(headers::tokens);
    let subprotocol = select_subprotocol(&config.subprotocols, offered).map(str::to_owned);
    let extensions = extension::negotiate(
        &config.extensions,
        headers::all(&headers, "Sec-WebSocket-Extensions"),
    )
    .map_err(|reason| HandshakeError::new(400, reason))?;

    let accept = accept_key(&key);
    Ok(UpgradeRequest {
        method,
        path,
        headers,
        key,
        accept,
        subprotocol,
        extensions,
    })
}

/// Picks the first of the server's protocols (in the server's order of
/// preference) that the client offered; matching is case-sensitive.
pub fn select_subprotocol<'s, 'c, S: AsRef<str>>(
    server_prefs: &'s [S],
    client_offer: impl IntoIterator<Item = &'c [u8]>,
) -> Option<&'s str> {
    if server_prefs.is_empty() {
        return None;
    }
    let offered: Vec<&[u8]> = client_offer.into_iter().collect();
    server_prefs
        .iter()
        .map(AsRef::as_ref)
        .find(|p| offered.contains(&p.as_bytes()))
}

/// Renders the `101 Switching Protocols` answer to `req`, naming the chosen
/// subprotocol if any and the extensions `req` agreed on. Extra headers
/// with CR or LF in them are dropped, as they would let a value inject
/// headers of its own.
pub fn response_101(
    req: &UpgradeRequest,
    selected_subprotocol: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    let extensions = ExtensionParams::render_list(&req.extensions);
    let extensions =
        (!req.extensions.is_empty()).then_some(("Sec-WebSocket-Extensions", extensions.as_str()));
    let protocol = selected_subprotocol.map(|p| ("Sec-WebSocket-Protocol", p));
    let lines = [("Sec-WebSocket-Accept", req.accept.as_str())]
        .into_iter()
        .chain(protocol)
        .chain(extensions)
        .chain(extra_headers.iter().copied())
        .map(|(n, v)| (n, v.as_bytes()));
    headers::write(&mut out, lines);
    out.extend_from_slice(b"\r\n");
    out
}

fn too_large() -> HandshakeError {
    HandshakeError::new(431, "request head too large")
}

/// A key must be base64 for exactly 16 bytes (RFC 6455 section 4.1).
fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes encode to 24 characters; checking first bounds the decode.
    // Decoded onto the stack: 24 characters need room for 18 bytes.
    let mut decoded = [0u8; 18];
    key.len() == 24 && BASE64.decode_slice(key, &mut decoded) == Ok(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::headers::tokens;

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

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

    #[test]
    fn the_application_sees_the_head_before_validation() {
        let config = HandshakeConfig::default();
        let handshake = ServerHandshake::new(&config);
        let post = b"POST /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        match handshake.receive(post, |head| {
            assert_eq!(head.path, "/healthz");
            Some(HttpResponse::text(200, "ok"))
        }) {
            ServerStep::Answered { status, response } => {
                assert_eq!(status, 200);
                assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
            }
            other => panic!("{other:?}"),
        }
        // Declined by the application, the same request is no upgrade.
        match handshake.receive(post, |_| None) {
            ServerStep::Rejected { error, response } => {
                assert_eq!(error.status, 405);
                assert_eq!(response, error.to_response());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upgrades_declining_extensions_and_keeps_what_follows() {
        let config = HandshakeConfig::default();
        let handshake = ServerHandshake::new(&config);
        for cut in 0..REQUEST.len() {
            let step = handshake.receive(&REQUEST[..cut], |_| panic!("head incomplete"));
            assert!(matches!(step, ServerStep::NeedMore), "cut {cut}");
        }
        let mut buf = REQUEST.to_vec();
        buf.extend_from_slice(&[0x81, 0x80]);
        let ServerStep::Upgraded {
            response,
            head_len,
            request,
        } = handshake.receive(&buf, |_| None)
        else {
            panic!("not upgraded");
        };
        assert_eq!(head_len, REQUEST.len());
        assert!(request.extensions.is_empty());
        let text = String::from_utf8(response).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 "));
        assert!(!text.contains("Extensions"), "{text}");
    }

    #[test]
    fn a_head_trickled_a_byte_at_a_time_is_searched_once() {
        let config = HandshakeConfig::default();
        let handshake = ServerHandshake::new(&config);
        let mut scan = HeadScan::default();
        for end in 1..REQUEST.len() {
            let step = handshake.receive_scanned(&REQUEST[..end], &mut scan, |_| None);
            assert!(matches!(step, ServerStep::NeedMore), "cut {end}");
            // Every byte is searched once: the scan ends where the input does.
            assert_eq!(scan.scanned, end);
        }
        let step = handshake.receive_scanned(REQUEST, &mut scan, |_| None);
        let ServerStep::Upgraded { head_len, .. } = step else {
            panic!("{step:?}");
        };
        assert_eq!(head_len, REQUEST.len());
    }

    #[test]
    fn the_scanned_verdict_does_not_depend_on_the_reads() {
        let config = HandshakeConfig {
            max_head: 64,
            ..Default::default()
        };
        let handshake = ServerHandshake::new(&config);
        let status = |buf: &[u8], step: usize| {
            let mut scan = HeadScan::default();
            for end in (step..buf.len()).step_by(step).chain([buf.len()]) {
                match handshake.receive_scanned(&buf[..end], &mut scan, |_| None) {
                    ServerStep::NeedMore => {}
                    ServerStep::Rejected { error, .. } => return Some(error.status),
                    other => panic!("{other:?}"),
                }
            }
            None
        };
        // A bad request line is refused once it is complete, before the head.
        assert_eq!(status(b"G\x01T / HTTP/1.1\r\nHost", 1), Some(400));
        // Leading empty lines are no end of the head.
        assert_eq!(status(b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: x", 1), None);
        // Bytes no method can hold (a TLS ClientHello) are refused at once,
        // before any line end, however the bytes were cut.
        for step in [1, 2, 3] {
            assert_eq!(status(b"\x16\x03\x01", step), Some(400), "step {step}");
        }
        // Past the limit, a head is 431 whether it was complete or not.
        let mut long = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        long.extend_from_slice(&[b'a'; 64]);
        for step in [1, 7, long.len()] {
            assert_eq!(status(&long, step), Some(431), "step {step}");
        }
        long.extend_from_slice(b"\r\nBad header\r\n\r\n");
        for step in [1, 7, long.len()] {
            assert_eq!(status(&long, step), Some(431), "step {step}");
        }
    }
}
