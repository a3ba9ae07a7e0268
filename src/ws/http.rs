//! Plain HTTP/1.1 on the WebSocket port: the request head every connection
//! starts with, and the response an application may answer it with instead
//! of upgrading (a page, a health check, a 404).
//!
//! Only what a WebSocket server needs: one request per connection, no
//! bodies in requests, the connection closed after the response.

use super::headers::{self, Headers};

/// A parsed HTTP request head, before any WebSocket validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/chat?room=1`.
    pub path: String,
    /// The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// All header lines in order, names as sent.
    pub headers: Headers,
}

impl HttpRequest {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        headers::find(&self.headers, name)
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// Whether the request asks for a WebSocket upgrade (it has an
    /// `Upgrade: websocket` header); such requests usually should be left
    /// to the WebSocket handshake.
    pub fn is_upgrade(&self) -> bool {
        headers::has_token(&self.headers, "Upgrade", "websocket")
    }
}

/// A complete HTTP response, sent before the connection closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Extra header lines (`Content-Length` and `Connection` are added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status`, a `Content-Type` and a body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A plain-text response (a line of text and a newline).
    pub fn text(status: u16, text: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", format!("{text}\n"))
    }

    /// An HTML page.
    pub fn html(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, "text/html; charset=utf-8", body)
    }

    /// `404 Not Found`.
    pub fn not_found() -> Self {
        Self::text(404, "not found")
    }

    /// Adds a header line.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Renders the response; header lines with CR or LF are dropped, as
    /// they would let a value inject headers of its own. `head_only`
    /// leaves the body out (the answer to `HEAD`).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.body.len()
        )
        .into_bytes();
        headers::write(
            &mut out,
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The standard phrase for the statuses a WebSocket server sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_response_and_drops_injected_headers() {
        let r = HttpResponse::text(200, "ok")
            .with_header("X-A", "1")
            .with_header("X-B", "x\r\nSet-Cookie: y");
        let text = String::from_utf8(r.to_bytes(false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\
             Content-Type: text/plain; charset=utf-8\r\nX-A: 1\r\n\r\nok\n"
        );
        assert!(String::from_utf8(r.to_bytes(true))
            .unwrap()
            .ends_with("\r\n\r\n"));
    }

    #[test]
    fn upgrade_detection_and_path() {
        let mut req = HttpRequest {
            method: "GET".into(),
            path: "/a?b=c".into(),
            version: 1,
            headers: [("upgrade", "h2c, WebSocket")].into_iter().collect(),
        };
        assert!(req.is_upgrade());
        assert_eq!(req.path_only(), "/a");
        req.headers.clear();
        assert!(!req.is_upgrade());
    }
}
