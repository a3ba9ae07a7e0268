//! Extension negotiation in the opening handshake (RFC 6455 section 9).
//!
//! A client lists the extensions it would like in `Sec-WebSocket-Extensions`;
//! the server answers with those it accepts, each with its parameters. Each
//! extension this crate can speak is an [`Extension`]: it judges the
//! client's offers on the server side, and writes the offer and checks the
//! answer on the client side. The handshake does the parsing and rendering
//! of the header, so an extension deals only in [`ExtensionParams`].
//!
//! No extension is implemented yet: with an empty list the server declines
//! every offer and the client offers nothing and refuses any answer.

use std::fmt;
use std::sync::Arc;

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

    /// Parses every element of the given header values, in order. Quoted
    /// parameter values may hold commas and semicolons.
    pub fn parse_list<'v>(
        values: impl IntoIterator<Item = &'v [u8]>,
    ) -> Result<Vec<ExtensionParams>, String> {
        let mut out = Vec::new();
        for value in values {
            let value = std::str::from_utf8(value)
                .map_err(|_| "Sec-WebSocket-Extensions is not UTF-8".to_string())?;
            for element in split_outside_quotes(value, ',') {
                out.push(Self::parse_element(element)?);
            }
        }
        if out.is_empty() {
            return Err("empty Sec-WebSocket-Extensions".into());
        }
        Ok(out)
    }

    fn parse_element(element: &str) -> Result<ExtensionParams, String> {
        let bad = || format!("malformed Sec-WebSocket-Extensions element {element:?}");
        let mut parts = split_outside_quotes(element, ';');
        let name = parts.next().unwrap_or_default();
        if !is_token(name) {
            return Err(bad());
        }
        let mut params = Vec::new();
        for part in parts {
            let (key, value) = match part.split_once('=') {
                None => (part, None),
                Some((key, value)) => {
                    let value = value.trim();
                    let value = match value.strip_prefix('"') {
                        Some(quoted) => quoted.strip_suffix('"').ok_or_else(bad)?,
                        None => value,
                    };
                    if !is_token(value) {
                        return Err(bad());
                    }
                    (key.trim(), Some(value.to_owned()))
                }
            };
            if !is_token(key) {
                return Err(bad());
            }
            params.push((key.to_owned(), value));
        }
        Ok(ExtensionParams {
            name: name.to_owned(),
            params,
        })
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
    let offers = ExtensionParams::parse_list(offered)?;
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
    let answers = ExtensionParams::parse_list(answered)?;
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

/// Splits on `sep`, except inside double quotes; trims each part.
fn split_outside_quotes(value: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    value
        .split(move |c: char| {
            if c == '"' {
                quoted = !quoted;
            }
            c == sep && !quoted
        })
        .map(str::trim)
}

/// An RFC 7230 token: one or more visible characters that are not separators.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
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
        assert!(list.unwrap_err().contains("x-a; q="));
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
        assert!(ExtensionParams::parse_list([&b""[..]]).is_err());
        assert!(ExtensionParams::parse_list([&b"a;;b"[..]]).is_err());
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
