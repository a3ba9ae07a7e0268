//! Header lines of an HTTP/1.1 head: the one place they are looked up,
//! split into tokens and written out, for plain HTTP and the handshake alike.

/// Header lines in order, names as sent, values as raw bytes (a value need
/// not be UTF-8).
pub type Headers = Vec<(String, Vec<u8>)>;

/// The value of the first header called `name` (ASCII case-insensitive).
pub fn find<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// The values of every header called `name`, in order.
pub fn all<'h>(
    headers: &'h [(String, Vec<u8>)],
    name: &'h str,
) -> impl Iterator<Item = &'h [u8]> + 'h {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// The trimmed value of a header that must appear exactly once; a repeated
/// key or version is ambiguous, so it counts as absent.
pub fn single<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice());
    match (values.next(), values.next()) {
        (Some(v), None) => Some(v.trim_ascii()),
        _ => None,
    }
}

/// Whether any header called `name` lists `token` in its comma-separated
/// value (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
pub fn has_token(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| tokens(v))
        .any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Splits a comma-separated header value into trimmed, non-empty tokens.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Copies httparse's borrowed headers into owned ones.
pub(crate) fn own(headers: &[httparse::Header<'_>]) -> Headers {
    headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect()
}

/// Writes `Name: value\r\n` lines, skipping any that could split the head
/// (a CR or LF would let a value inject headers of its own).
pub fn write<'h>(out: &mut Vec<u8>, headers: impl IntoIterator<Item = (&'h str, &'h [u8])>) {
    for (name, value) in headers {
        let unsafe_byte = |b: &u8| *b == b'\r' || *b == b'\n';
        if name.is_empty() || name.bytes().any(|b| unsafe_byte(&b)) || value.iter().any(unsafe_byte)
        {
            log::warn!("dropping header {name:?} containing CR/LF");
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        lines
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn lookup_is_case_insensitive_and_single_means_once() {
        let h = headers(&[("Host", "a"), ("X-Twice", "1"), ("x-twice", "2")]);
        assert_eq!(find(&h, "HOST"), Some(&b"a"[..]));
        assert_eq!(find(&h, "x-twice"), Some(&b"1"[..]));
        assert_eq!(single(&h, "host"), Some(&b"a"[..]));
        assert_eq!(single(&h, "X-Twice"), None);
        assert_eq!(find(&h, "missing"), None);
    }

    #[test]
    fn tokens_and_writing() {
        let h = headers(&[("Connection", "keep-alive, Upgrade")]);
        assert!(has_token(&h, "connection", "upgrade"));
        assert!(!has_token(&h, "connection", "close"));
        let mut out = Vec::new();
        write(&mut out, [("A", &b"1"[..]), ("B", &b"x\r\nC: 2"[..])]);
        assert_eq!(out, b"A: 1\r\n");
    }
}
