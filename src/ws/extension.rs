//! Extension negotiation in the opening handshake (RFC 6455 section 9).
//!
//! A client lists the extensions it would like in `Sec-WebSocket-Extensions`;
//! the server answers with those it accepts, each with its parameters. Each
//! extension this crate can speak is an [`Extension`]: it judges the
//! client's offers on the server side, and writes the offer and checks the
//! answer on the client side. The handshake does the parsing and rendering
//! of the header, so an extension deals only in [`ExtensionParams`].
//!
//! With an empty list the server declines every offer and the client offers
//! nothing and refuses any answer. The crate's one extension is
//! permessage-deflate ([`crate::ws::deflate::PerMessageDeflate`]); once a
//! connection opens, [`configure_session`] lets each agreed extension set
//! up the [`Session`].

use std::fmt;
use std::sync::Arc;

use super::session::Session;

/// One element of a `Sec-WebSocket-Extensions` header: an extension's name
/// and its parameters, e.g. `permessage-deflate; client_max_window_bits`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionParams {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; a parameter without `=value` has `None`.
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionParams {
    /// An element with no parameters.
    pub fn new(name: &str) -> Self {
        ExtensionParams {
            name: name.to_owned(),
            params: Vec::new(),
        }
    }

    /// The value of the parameter `name`: `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// Parses every element of the given header values, in order (RFC
    /// 6455 section 9.1): comma-separated extensions, each a token and then
    /// `;`-separated parameters, a parameter's value a token or a quoted
    /// string whose content is a token. Names are lowercased; empty list
    /// elements are skipped (RFC 7230 section 7).
    pub fn parse_list<'v>(
        values: impl IntoIterator<Item = &'v [u8]>,
    ) -> Result<Vec<ExtensionParams>, ExtensionError> {
        let mut out = Vec::new();
        for value in values {
            Lexer {
                bytes: value,
                pos: 0,
            }
            .list(&mut out)?;
        }
        Ok(out)
    }

    /// Renders a list of elements as one header value.
    pub fn render_list(list: &[ExtensionParams]) -> String {
        let rendered: Vec<String> = list.iter().map(ToString::to_string).collect();
        rendered.join(", ")
    }
}

impl fmt::Display for ExtensionParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (key, value) in &self.params {
            match value {
                Some(value) => write!(f, "; {key}={value}")?,
                None => write!(f, "; {key}")?,
            }
        }
        Ok(())
    }
}

/// One extension the endpoint can negotiate. Implementations are shared by
/// every connection of a loop, so they keep no per-connection state: what a
/// connection agreed to is the [`ExtensionParams`] the handshake reports.
pub trait Extension: fmt::Debug + Send + Sync {
    /// The extension token it answers to, e.g. `permessage-deflate`.
    fn name(&self) -> &str;

    /// Server side: the client's offers of this extension, in the client's
    /// order of preference. Returns the parameters to accept with (sent
    /// back in the response), or `None` to decline.
    fn accept(&self, offers: &[ExtensionParams]) -> Option<ExtensionParams>;

    /// Client side: the offer to send.
    fn offer(&self) -> ExtensionParams;

    /// Client side: checks the parameters the server accepted with;
    /// `Err(reason)` fails the handshake.
    fn check_answer(&self, answer: &ExtensionParams) -> Result<(), String>;

    /// Either side, once the connection opens: sets up the session to
    /// speak the extension as `agreed` (what the server's answer said).
    /// Extensions that change nothing in the framing keep the default.
    fn configure(&self, agreed: &ExtensionParams, session: &mut Session) {
        let _ = (agreed, session);
    }
}

/// Sets up `session` for every extension agreed on, by asking the one of
/// `ours` with that name. The adapter and both clients call it when a
/// connection opens.
pub fn configure_session(
    ours: &[Arc<dyn Extension>],
    agreed: &[ExtensionParams],
    session: &mut Session,
) {
    for params in agreed {
        if let Some(extension) = ours
            .iter()
            .find(|e| e.name().eq_ignore_ascii_case(&params.name))
        {
            extension.configure(params, session);
        }
    }
}

/// The extensions an endpoint speaks, in order of preference.
pub type Extensions = Vec<Arc<dyn Extension>>;

/// Server side: what to accept of the client's `Sec-WebSocket-Extensions`
/// values. With no extensions configured the header is not even parsed, so
/// a malformed offer is simply declined.
pub(crate) fn negotiate<'v>(
    ours: &[Arc<dyn Extension>],
    offered: impl IntoIterator<Item = &'v [u8]>,
) -> Result<Vec<ExtensionParams>, String> {
    let mut offered = offered.into_iter().peekable();
    if ours.is_empty() || offered.peek().is_none() {
        return Ok(Vec::new());
    }
    let offers = ExtensionParams::parse_list(offered).map_err(|e| e.to_string())?;
    let mut accepted = Vec::new();
    for extension in ours {
        let mine: Vec<ExtensionParams> = offers
            .iter()
            .filter(|o| o.name.eq_ignore_ascii_case(extension.name()))
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        if let Some(params) = extension.accept(&mine) {
            accepted.push(params);
        }
    }
    Ok(accepted)
}

/// Client side: checks the server's `Sec-WebSocket-Extensions` values
/// against what we offered; returns what was agreed.
pub(crate) fn check_answer<'v>(
    ours: &[Arc<dyn Extension>],
    answered: impl IntoIterator<Item = &'v [u8]>,
) -> Result<Vec<ExtensionParams>, String> {
    let mut answered = answered.into_iter().peekable();
    if answered.peek().is_none() {
        return Ok(Vec::new());
    }
    let not_offered = || "server selected an extension we did not offer".to_string();
    if ours.is_empty() {
        return Err(not_offered());
    }
    let answers = ExtensionParams::parse_list(answered).map_err(|e| e.to_string())?;
    for (i, answer) in answers.iter().enumerate() {
        if answers[..i].iter().any(|a| a.name == answer.name) {
            return Err(format!("server accepted {} twice", answer.name));
        }
        let extension = ours
            .iter()
            .find(|e| e.name().eq_ignore_ascii_case(&answer.name))
            .ok_or_else(not_offered)?;
        extension.check_answer(answer)?;
    }
    Ok(answers)
}

/// Why a `Sec-WebSocket-Extensions` value, or an extension's parameters,
/// cannot be accepted. For a client this fails the handshake; for a server
/// a malformed header is a 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionError(pub &'static str);

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ExtensionError {}

/// A cursor over one header value.
struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// Appends every element of the value to `out`.
    fn list(&mut self, out: &mut Vec<ExtensionParams>) -> Result<(), ExtensionError> {
        loop {
            self.skip_ows();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            let name = self.token().ok_or(ExtensionError("bad extension name"))?;
            let mut params = Vec::new();
            loop {
                self.skip_ows();
                match self.peek() {
                    None | Some(b',') => break,
                    Some(b';') => self.pos += 1,
                    Some(_) => return Err(ExtensionError("expected ';' or ','")),
                }
                self.skip_ows();
                let param = self
                    .token()
                    .ok_or(ExtensionError("bad extension parameter"))?;
                self.skip_ows();
                let value = if self.peek() == Some(b'=') {
                    self.pos += 1;
                    self.skip_ows();
                    Some(if self.peek() == Some(b'"') {
                        self.quoted()?
                    } else {
                        self.token().ok_or(ExtensionError("bad parameter value"))?
                    })
                } else {
                    None
                };
                params.push((param.to_ascii_lowercase(), value));
            }
            out.push(ExtensionParams {
                name: name.to_ascii_lowercase(),
                params,
            });
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// A token (RFC 7230 tchar+), or `None` if there is none here.
    fn token(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| ascii_string(&self.bytes[start..self.pos]))
    }

    /// A quoted string; RFC 6455 requires its content, unescaped, to be a
    /// token, so anything else is refused here.
    fn quoted(&mut self) -> Result<String, ExtensionError> {
        self.pos += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ExtensionError("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let escaped = self
                        .bytes
                        .get(self.pos + 1)
                        .copied()
                        .ok_or(ExtensionError("unterminated quoted string"))?;
                    out.push(escaped);
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        if out.is_empty() || !out.iter().copied().all(is_tchar) {
            return Err(ExtensionError("quoted parameter value is not a token"));
        }
        Ok(ascii_string(&out))
    }
}

/// An RFC 7230 tchar: a visible ASCII character that is not a separator.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Token bytes are ASCII, so this never loses anything.
fn ascii_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `x-test` with whatever it was offered, but only `ok` answers.
    #[derive(Debug)]
    struct Probe;

    impl Extension for Probe {
        fn name(&self) -> &str {
            "x-test"
        }
        fn accept(&self, offers: &[ExtensionParams]) -> Option<ExtensionParams> {
            offers.first().cloned()
        }
        fn offer(&self) -> ExtensionParams {
            ExtensionParams::new("x-test")
        }
        fn check_answer(&self, answer: &ExtensionParams) -> Result<(), String> {
            match answer.param("ok") {
                Some(_) => Ok(()),
                None => Err("x-test without ok".into()),
            }
        }
    }

    #[test]
    fn parses_and_renders_elements() {
        let list = ExtensionParams::parse_list([
            &b"permessage-deflate; client_max_window_bits, x-a; q=\"1,2\""[..],
            &b"x-b"[..],
        ]);
        // The comma inside the quotes does not split, but is no token either.
        assert_eq!(
            list.unwrap_err(),
            ExtensionError("quoted parameter value is not a token")
        );
        let list = ExtensionParams::parse_list([
            &b"permessage-deflate; client_max_window_bits, x-a; q=\"15\""[..],
            &b"x-b"[..],
        ])
        .unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].param("client_max_window_bits"), Some(None));
        assert_eq!(list[1].param("q"), Some(Some("15")));
        assert_eq!(
            ExtensionParams::render_list(&list),
            "permessage-deflate; client_max_window_bits, x-a; q=15, x-b"
        );
        assert_eq!(ExtensionParams::parse_list([&b" , "[..]]), Ok(Vec::new()));
        assert!(ExtensionParams::parse_list([&b"a;;b"[..]]).is_err());
        let quoted = ExtensionParams::parse_list([&b"A; B = \"1\\2\""[..]]).unwrap();
        assert_eq!(quoted[0].name, "a");
        assert_eq!(quoted[0].param("b"), Some(Some("12")));
    }

    #[test]
    fn server_declines_without_extensions_and_accepts_with() {
        let offer = [&b"x-test; a=1, other"[..]];
        assert_eq!(negotiate(&[], offer), Ok(Vec::new()));
        // Nothing configured: even garbage is merely declined.
        assert_eq!(negotiate(&[], [&b";;;"[..]]), Ok(Vec::new()));
        let ours: Extensions = vec![Arc::new(Probe)];
        let accepted = negotiate(&ours, offer).unwrap();
        assert_eq!(ExtensionParams::render_list(&accepted), "x-test; a=1");
    }

    #[test]
    fn client_checks_the_answer() {
        assert_eq!(check_answer(&[], []), Ok(Vec::new()));
        assert_eq!(
            check_answer(&[], [&b"x-test"[..]]),
            Err("server selected an extension we did not offer".into())
        );
        let ours: Extensions = vec![Arc::new(Probe)];
        assert!(check_answer(&ours, [&b"x-test; ok"[..]]).is_ok());
        assert!(check_answer(&ours, [&b"x-test"[..]]).is_err());
        assert!(check_answer(&ours, [&b"x-other"[..]]).is_err());
        assert!(check_answer(&ours, [&b"x-test; ok, x-test; ok"[..]]).is_err());
    }
}
