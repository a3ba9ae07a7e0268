//! `ws://` and `wss://` URLs, parsed by hand: the grammar needed here is small enough
//! that a general URL crate would add more than it saves.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use super::ClientError;
use crate::ws::ClientRequest;

/// The parts of a `ws[s]://host[:port][/path][?query]` URL a client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`: the connection runs over TLS.
    pub secure: bool,
    /// Host name or address, without brackets for IPv6.
    pub host: String,
    /// Port (80, or 443 for `wss://`, when the URL has none).
    pub port: u16,
    /// Request target: path plus query, at least `/`.
    pub path: String,
    /// The `Host` header value: the authority as written in the URL.
    pub authority: String,
}

impl WsUrl {
    /// Parses `url` (`ws://` or `wss://`).
    pub fn parse(url: &str) -> Result<WsUrl, ClientError> {
        let bad = |why: &str| ClientError::InvalidUrl(format!("{url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected ws://host:port/path"))?;
        let secure = scheme.eq_ignore_ascii_case("wss");
        if !secure && !scheme.eq_ignore_ascii_case("ws") {
            return Err(bad("the scheme must be ws:// or wss://"));
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // A fragment is never sent to the server.
        let path = path.split('#').next().unwrap_or_default();
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        if authority.is_empty() {
            return Err(bad("missing host"));
        }
        // Either would end up in the request head: a CR or LF in the Host
        // header gets the line dropped, and a space or control byte in the
        // request line gets a 400. Refuse them here, where the cause is clear.
        if authority.chars().any(is_forbidden) {
            return Err(bad("a space or control character in the host"));
        }
        if path.chars().any(is_forbidden) {
            return Err(bad("a space or control character in the path"));
        }
        if authority.contains('@') {
            return Err(bad("user information is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None | Some("") if secure => 443,
            None | Some("") => 80,
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        Ok(WsUrl {
            secure,
            host: host.to_string(),
            port,
            path,
            authority: authority.to_string(),
        })
    }

    /// Resolves the host to socket addresses (DNS for names).
    pub fn socket_addrs(&self) -> Result<Vec<SocketAddr>, ClientError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| ClientError::InvalidUrl(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        if addrs.is_empty() {
            return Err(ClientError::InvalidUrl(format!(
                "{} resolves to no address",
                self.host
            )));
        }
        Ok(addrs)
    }
}

/// Characters a URL must percent-encode to be sent in a request head.
fn is_forbidden(c: char) -> bool {
    c == ' ' || c.is_control()
}

impl WsUrl {
    /// The handshake parameters for an event-loop client connection
    /// ([`crate::WsProtocol::client`]) to this URL.
    pub fn client_request(&self, subprotocols: &[&str]) -> ClientRequest {
        ClientRequest {
            host: self.authority.clone(),
            path: self.path.clone(),
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let u = WsUrl::parse("ws://127.0.0.1:9001/chat?room=1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 9001));
        assert_eq!(u.path, "/chat?room=1");
        assert_eq!(u.authority, "127.0.0.1:9001");
        let u = WsUrl::parse("ws://localhost").unwrap();
        assert_eq!((u.port, u.path.as_str(), u.secure), (80, "/", false));
        let u = WsUrl::parse("wss://example.com/x").unwrap();
        assert_eq!((u.port, u.secure), (443, true));
        assert_eq!(u.to_string(), "wss://example.com/x");
        let u = WsUrl::parse("WS://[::1]:81?x#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 81, "/?x")
        );
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        for bad in [
            "http://x/",
            "127.0.0.1:9001",
            "ws://",
            "ws://h:port/",
            "ws://[::1/",
            "ws://ho\r\nst:80/",
            "ws://a b/",
            "ws://h/pa th",
            "ws://h/x\u{7f}",
            "ws://h/?q=\t",
        ] {
            assert!(
                matches!(WsUrl::parse(bad), Err(ClientError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }
}
