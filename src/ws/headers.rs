//! Header lines of an HTTP/1.1 head: the one place they are looked up,
//! split into tokens and written out, for plain HTTP and the handshake alike.

use std::ops::Range;

/// Header lines in order, names as sent, values as raw bytes (a value need
/// not be UTF-8).
///
/// Every connection's upgrade request is kept in one of these, so it holds
/// all names in one string and all values in one buffer, with the ends of
/// each line's name and value: three allocations for a whole head, where a
/// pair of owned strings per line took two for every line (a browser sends
/// a dozen).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    names: String,
    values: Vec<u8>,
    /// Where each line's name and value end in `names` and `values`; each
    /// starts where the line before it ended.
    ends: Vec<(usize, usize)>,
}

impl Headers {
    /// No header lines.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.names.push_str(name);
        self.values.extend_from_slice(value.as_ref());
        self.ends.push((self.names.len(), self.values.len()));
    }

    /// How many header lines there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Removes every line.
    pub fn clear(&mut self) {
        self.names.clear();
        self.values.clear();
        self.ends.clear();
    }

    /// The lines in order, as (name, value).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + '_ {
        self.spans()
            .map(|(name, value)| (&self.names[name], &self.values[value]))
    }

    /// The values of the lines called `name` (ASCII case-insensitive), in
    /// order. Names are compared as bytes and a value is sliced only when
    /// its name matches: a handshake looks up half a dozen names in every
    /// request.
    fn matching<'h: 'n, 'n>(&'h self, name: &'n str) -> impl Iterator<Item = &'h [u8]> + 'n {
        let names = self.names.as_bytes();
        self.spans()
            .filter(move |(n, _)| names[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| &self.values[value])
    }

    /// Each line's name and value as ranges of `names` and `values`.
    fn spans(&self) -> impl ExactSizeIterator<Item = (Range<usize>, Range<usize>)> + '_ {
        let mut start = (0, 0);
        self.ends.iter().map(move |&end| {
            let (name_start, value_start) = std::mem::replace(&mut start, end);
            (name_start..end.0, value_start..end.1)
        })
    }

    /// Copies httparse's borrowed headers, sized once for all of them.
    pub(crate) fn own(parsed: &[httparse::Header<'_>]) -> Self {
        let names = parsed.iter().map(|h| h.name.len()).sum();
        let values = parsed.iter().map(|h| h.value.len()).sum();
        let mut headers = Headers {
            names: String::with_capacity(names),
            values: Vec::with_capacity(values),
            ends: Vec::with_capacity(parsed.len()),
        };
        for h in parsed {
            headers.push(h.name, h.value);
        }
        headers
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(name, value)| (name, String::from_utf8_lossy(value))),
            )
            .finish()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(lines: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in lines {
            headers.push(name.as_ref(), value);
        }
        headers
    }
}

/// The value of the first header called `name` (ASCII case-insensitive).
pub fn find<'h>(headers: &'h Headers, name: &str) -> Option<&'h [u8]> {
    headers.matching(name).next()
}

/// The values of every header called `name`, in order.
pub fn all<'h>(headers: &'h Headers, name: &'h str) -> impl Iterator<Item = &'h [u8]> + 'h {
    headers.matching(name)
}

/// The trimmed value of a header that must appear exactly once; a repeated
/// key or version is ambiguous, so it counts as absent.
pub fn single<'h>(headers: &'h Headers, name: &str) -> Option<&'h [u8]> {
    let mut values = headers.matching(name);
    match (values.next(), values.next()) {
        (Some(v), None) => Some(v.trim_ascii()),
        _ => None,
    }
}

/// Whether any header called `name` lists `token` in its comma-separated
/// value (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
pub fn has_token(headers: &Headers, name: &str, token: &str) -> bool {
    headers
        .matching(name)
        .flat_map(tokens)
        .any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Splits a comma-separated header value into trimmed, non-empty tokens.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Writes `Name: value\r\n` lines, skipping any that could split the head
/// (a CR or LF would let a value inject headers of its own).
pub fn write<'h>(out: &mut Vec<u8>, headers: impl IntoIterator<Item = (&'h str, &'h [u8])>) {
    // Every 101 goes through here; memchr2 checks a line in a few steps
    // where a byte loop took a dozen instructions per byte.
    let splits = |bytes: &[u8]| memchr::memchr2(b'\r', b'\n', bytes).is_some();
    for (name, value) in headers {
        if name.is_empty() || splits(name.as_bytes()) || splits(value) {
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
        lines.iter().copied().collect()
    }

    #[test]
    fn lines_keep_their_order_and_bytes() {
        let h = headers(&[("Host", "a"), ("", ""), ("X-Long", "some value")]);
        let lines: Vec<_> = h.iter().collect();
        assert_eq!(
            lines,
            [("Host", &b"a"[..]), ("", b""), ("X-Long", b"some value")]
        );
        assert_eq!(h.len(), 3);
        assert_eq!(
            format!("{h:?}"),
            r#"[("Host", "a"), ("", ""), ("X-Long", "some value")]"#
        );
        let mut copy = h.clone();
        assert_eq!(copy, h);
        copy.push("Y", [0xff]);
        assert_ne!(copy, h);
        assert_eq!(find(&copy, "y"), Some(&[0xff][..]));
        copy.clear();
        assert!(copy.is_empty() && copy.iter().next().is_none());
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
