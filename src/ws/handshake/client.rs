//! The client's half of the opening handshake: [`ClientHandshake`], the
//! request it sends and the checks on the server's answer.

use std::sync::Arc;

use super::MAX_HEADERS;
use super::{accept_key, generate_key, HandshakeError, Response, UpgradeRequest, DEFAULT_MAX_HEAD};
use crate::ws::extension::{self, Extension, ExtensionParams, Extensions};
use crate::ws::headers::{self, Headers};

/// What a client asks for: the parameters of its upgrade request.
#[derive(Clone, Debug)]
pub struct ClientRequest {
    /// Value of the `Host` header.
    pub host: String,
    /// UpgradeRequest target, e.g. `/chat?room=1`.
    pub path: String,
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: Vec<String>,
}

/// The client side of the opening handshake, as a sans-IO state machine:
/// it holds the request it sent (with its random key), renders it with
/// [`ClientHandshake::request_bytes`], and judges the bytes received so
/// far with [`ClientHandshake::receive`].
///
/// ```
/// use wsloop::ws::handshake::{ClientHandshake, ClientRequest, ClientStep};
///
/// let target = ClientRequest { host: "localhost".into(), path: "/".into(), subprotocols: vec![] };
/// let handshake = ClientHandshake::new(&target, &[]);
/// assert!(handshake.request_bytes().starts_with(b"GET / HTTP/1.1\r\n"));
/// assert!(matches!(handshake.receive(b"HTTP/1.1 101 Switching"), ClientStep::NeedMore));
/// assert!(matches!(handshake.receive(b"HTTP/1.1 200 OK\r\n\r\n"), ClientStep::Failed(_)));
/// ```
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    /// The request as sent; `subprotocol` and `extensions` are filled from
    /// the answer.
    request: UpgradeRequest,
    /// Subprotocols offered, to hold the server's choice against.
    offered: Vec<String>,
    extensions: Extensions,
}

/// What one [`ClientHandshake::receive`] step decided.
// `Upgraded` is much the largest, and the one that matters: a step is
// returned once per connection and moved straight into it, where boxing
// the variant would cost an allocation per connect.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ClientStep {
    /// The response head is incomplete: nothing consumed, feed more.
    NeedMore,
    /// The server accepted; frames start at `buf[head_len..]`.
    Upgraded {
        /// Length of the response head.
        head_len: usize,
        /// The request we sent, with the subprotocol and extensions agreed on.
        request: UpgradeRequest,
        /// The server's answer.
        response: Response,
    },
    /// The server refused, or answered in a way we must not accept.
    Failed(HandshakeError),
}

impl ClientHandshake {
    /// A handshake for `target` with a fresh key, offering `extensions`.
    pub fn new(target: &ClientRequest, extensions: &[Arc<dyn Extension>]) -> Self {
        let key = generate_key();
        let offers: Vec<ExtensionParams> = extensions.iter().map(|e| e.offer()).collect();
        let offers = (!offers.is_empty()).then(|| ExtensionParams::render_list(&offers));
        let protocols: Vec<&str> = target.subprotocols.iter().map(String::as_str).collect();
        let headers = request_headers(&target.host, &key, &protocols, offers.as_deref(), &[]);
        let accept = accept_key(&key);
        ClientHandshake {
            request: UpgradeRequest {
                method: "GET".into(),
                path: clean_path(&target.path),
                headers,
                key,
                accept,
                subprotocol: None,
                extensions: Vec::new(),
            },
            offered: target.subprotocols.clone(),
            extensions: extensions.to_vec(),
        }
    }

    /// The request to send.
    pub fn request_bytes(&self) -> Vec<u8> {
        render_request(&self.request.path, &self.request.headers)
    }

    /// Judges the bytes received so far. Until the head is complete it
    /// consumes nothing: feed the same bytes again with more appended.
    pub fn receive(&self, buf: &[u8]) -> ClientStep {
        let (response, head_len) = match parse_response_head(buf, &self.request.key) {
            Ok(None) => return ClientStep::NeedMore,
            Ok(Some(parsed)) => parsed,
            Err(error) => return ClientStep::Failed(error),
        };
        let offered: Vec<&str> = self.offered.iter().map(String::as_str).collect();
        if let Err(error) = verify_subprotocol(&response, &offered) {
            return ClientStep::Failed(error);
        }
        let answered = headers::all(&response.headers, "Sec-WebSocket-Extensions");
        let extensions = match extension::check_answer(&self.extensions, answered) {
            Ok(agreed) => agreed,
            Err(reason) => return ClientStep::Failed(HandshakeError::client(reason)),
        };
        let request = UpgradeRequest {
            subprotocol: response.subprotocol.clone(),
            extensions,
            ..self.request.clone()
        };
        ClientStep::Upgraded {
            head_len,
            request,
            response,
        }
    }
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
    let headers = request_headers(host, key, subprotocols, None, extra_headers);
    render_request(&clean_path(path), &headers)
}

fn request_headers(
    host: &str,
    key: &str,
    subprotocols: &[&str],
    extensions: Option<&str>,
    extra: &[(&str, &str)],
) -> Headers {
    let protocols = subprotocols.join(", ");
    let offer =
        (!subprotocols.is_empty()).then_some(("Sec-WebSocket-Protocol", protocols.as_str()));
    let extensions = extensions.map(|e| ("Sec-WebSocket-Extensions", e));
    [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    .into_iter()
    .chain(offer)
    .chain(extensions)
    .chain(extra.iter().copied())
    .collect()
}

/// The request target as sent: never empty, no whitespace to split the line.
fn clean_path(path: &str) -> String {
    match path {
        "" => "/".into(),
        path => path.chars().filter(|c| !c.is_ascii_whitespace()).collect(),
    }
}

fn render_request(path: &str, lines: &Headers) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    headers::write(&mut out, lines.iter());
    out.extend_from_slice(b"\r\n");
    out
}

/// Parses and checks a server's answer to a request sent with
/// `expected_key` and no extension offer. `Ok(None)` means the head is
/// incomplete; on success returns the response and its head length
/// (frames may follow it).
pub fn parse_response(
    buf: &[u8],
    expected_key: &str,
) -> Result<Option<(Response, usize)>, HandshakeError> {
    let parsed = parse_response_head(buf, expected_key)?;
    if let Some((response, _)) = &parsed {
        let answered = headers::all(&response.headers, "Sec-WebSocket-Extensions");
        extension::check_answer(&[], answered).map_err(HandshakeError::client)?;
    }
    Ok(parsed)
}

/// [`parse_response`] without judging the extensions.
fn parse_response_head(
    buf: &[u8],
    expected_key: &str,
) -> Result<Option<(Response, usize)>, HandshakeError> {
    let mut header_buf = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut header_buf);
    // A head must fit in the limit, so one byte past it is all there is to
    // judge: a complete head that long is refused like an incomplete one,
    // and a fault further on cannot change the verdict.
    let seen = &buf[..buf.len().min(DEFAULT_MAX_HEAD + 1)];
    let head_len = match parsed.parse(seen) {
        Ok(httparse::Status::Complete(n)) if n <= DEFAULT_MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) => {
            return Err(HandshakeError::client("response head too large"));
        }
        Ok(httparse::Status::Partial) => {
            if seen.len() > DEFAULT_MAX_HEAD {
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
    let headers = Headers::own(parsed.headers);
    if !headers::has_token(&headers, "Upgrade", "websocket") {
        return Err(HandshakeError::client("missing Upgrade: websocket"));
    }
    if !headers::has_token(&headers, "Connection", "upgrade") {
        return Err(HandshakeError::client("missing Connection: upgrade"));
    }
    match headers::find(&headers, "Sec-WebSocket-Accept") {
        None => return Err(HandshakeError::client("missing Sec-WebSocket-Accept")),
        Some(accept) if accept.trim_ascii() != accept_key(expected_key).as_bytes() => {
            return Err(HandshakeError::client("Sec-WebSocket-Accept mismatch"));
        }
        Some(_) => {}
    }
    let subprotocol = headers::find(&headers, "Sec-WebSocket-Protocol")
        .map(|p| String::from_utf8_lossy(p.trim_ascii()).into_owned());
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

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

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
    use crate::ws::handshake::{HandshakeConfig, ServerHandshake, ServerStep};

    fn target(subprotocols: &[&str]) -> ClientRequest {
        ClientRequest {
            host: "localhost:9001".into(),
            path: "/x".into(),
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Runs our server handshake on the client's request, returning its 101.
    fn serve(request: &[u8], subprotocols: &[&str]) -> Vec<u8> {
        let config = HandshakeConfig {
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        match ServerHandshake::new(&config).receive(request, |_| None) {
            ServerStep::Upgraded { response, .. } => response,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn opens_with_an_honest_request() {
        let handshake = ClientHandshake::new(&target(&["chat"]), &[]);
        let mut reply = serve(&handshake.request_bytes(), &["chat"]);
        let head = reply.len();
        reply.extend_from_slice(&[0x81, 0x00]);
        for cut in 0..head {
            assert!(matches!(
                handshake.receive(&reply[..cut]),
                ClientStep::NeedMore
            ));
        }
        let ClientStep::Upgraded {
            head_len, request, ..
        } = handshake.receive(&reply)
        else {
            panic!("not upgraded");
        };
        assert_eq!(head_len, head);
        assert_eq!(request.path, "/x");
        assert_eq!(request.subprotocol.as_deref(), Some("chat"));
        assert_eq!(request.accept, accept_key(&request.key));
        assert_eq!(request.header("host"), Some(&b"localhost:9001"[..]));
    }

    #[test]
    fn refuses_a_subprotocol_or_extension_not_offered() {
        let handshake = ClientHandshake::new(&target(&[]), &[]);
        let reply = serve(&handshake.request_bytes(), &[]);
        let with = |line: &str| {
            let text = String::from_utf8(reply.clone()).unwrap();
            text.replacen("\r\n\r\n", &format!("\r\n{line}\r\n\r\n"), 1)
        };
        let reason = |reply: String| match handshake.receive(reply.as_bytes()) {
            ClientStep::Failed(e) => e.reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(with("Sec-WebSocket-Protocol: chat")).contains("not offered"));
        // A complete head over the limit is refused like an incomplete one.
        let padding = format!("X-Pad: {}", "a".repeat(DEFAULT_MAX_HEAD));
        assert_eq!(reason(with(&padding)), "response head too large");
        assert_eq!(
            reason(with("Sec-WebSocket-Extensions: permessage-deflate")),
            "server selected an extension we did not offer"
        );
    }
}
