//! Independent checks of what the handshake renders: HTTP as httparse
//! reads it, and the accept value computed from the RFC's formula rather
//! than with the code under test.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// The GUID RFC 6455 appends to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)).
pub fn accept_for(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.digest().bytes())
}

/// A complete HTTP response as httparse reads it, with as many header
/// lines as our parsers allow (64): status, headers with their values,
/// and the length of the head.
pub struct Parsed {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub head_len: usize,
}

impl Parsed {
    /// The value of the first header called `name`, any case.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Parses `bytes` as a complete HTTP/1.1 response head, or panics: every
/// answer the server renders must be one.
pub fn response(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let status = resp.parse(bytes).expect("an answer that is not HTTP");
    let httparse::Status::Complete(head_len) = status else {
        panic!("an incomplete answer: {:?}", String::from_utf8_lossy(bytes));
    };
    Parsed {
        status: resp.code.expect("a status"),
        headers: resp
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        head_len,
    }
}

/// The length of the request head at the start of `buf` as httparse
/// alone finds it, if it is complete and well-formed.
pub fn request_head_len(buf: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    match httparse::Request::new(&mut headers).parse(buf) {
        Ok(httparse::Status::Complete(n)) => Some(n),
        _ => None,
    }
}
