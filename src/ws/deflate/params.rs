//! Negotiating permessage-deflate (RFC 7692 section 7.1), as pure functions.
//!
//! The opening handshake carries the offer in the client's
//! `Sec-WebSocket-Extensions` header and the agreement in the server's. This
//! file turns those header values into decisions and back, without knowing
//! anything of HTTP:
//!
//! - [`server_accept`]: the server picks the first acceptable offer and
//!   renders its answer.
//! - [`client_offer`] and [`client_accept`]: the client renders its offer
//!   and checks the server's answer, failing the handshake where the RFC
//!   says the answer cannot be accepted.
//!
//! The result on both ends is a [`DeflateParams`], which says for each
//! direction which window and context rules apply; the session reads it
//! through its role.

use std::fmt::{self, Write as _};

use crate::ws::session::Role;

/// The extension token in `Sec-WebSocket-Extensions`.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The largest LZ77 window deflate knows: 2^15 = 32 KiB.
pub const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window RFC 7692 lets an endpoint ask for: 2^8 = 256 bytes.
pub const MIN_WINDOW_BITS: u8 = 8;

/// What this endpoint is willing to do, set by the user before any
/// handshake. A server holds it against each offer; a client renders its
/// offer from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) the extension at all.
    pub enabled: bool,
    /// zlib compression level, 0 (store) to 9 (best); 1 is fast and usually
    /// within a few percent of 6 on chat-like text.
    pub level: u8,
    /// zlib memory level, 1 to 9: the size of the compressor's hash table and
    /// symbol buffer. Lower costs less memory and some ratio.
    pub mem_level: u8,
    /// Largest window the server compresses with (8 to 15). A server uses
    /// at most this; a client asks the server for it when below 15.
    pub server_max_window_bits: u8,
    /// Largest window the client compresses with (8 to 15). A client uses
    /// at most this; a server asks the client for it when below 15 (only
    /// possible when the client's offer says it supports the parameter).
    pub client_max_window_bits: u8,
    /// The server resets its compressor after every message. A server
    /// accepting with this set lets a connection keep no compressor between
    /// messages, or share one per loop.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// Messages shorter than this are sent uncompressed (RSV1 = 0): below a
    /// few dozen bytes deflate's block overhead outweighs what it saves.
    pub min_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            level: 1,
            mem_level: 8,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            min_size: 64,
        }
    }
}

impl DeflateConfig {
    /// Checks every field is in the range zlib and the RFC allow, so that
    /// creating a compressor from it cannot fail later.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.level > 9 {
            return Err("compression level must be 0 to 9");
        }
        if !(1..=9).contains(&self.mem_level) {
            return Err("memory level must be 1 to 9");
        }
        let bits = MIN_WINDOW_BITS..=MAX_WINDOW_BITS;
        if !bits.contains(&self.server_max_window_bits)
            || !bits.contains(&self.client_max_window_bits)
        {
            return Err("window bits must be 8 to 15");
        }
        Ok(())
    }
}

/// What both ends agreed on, plus the local compression settings: all a
/// session needs to compress what it sends and inflate what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The window the server compresses with, at most (8 to 15).
    pub server_max_window_bits: u8,
    /// The window the client compresses with, at most (8 to 15).
    pub client_max_window_bits: u8,
    /// Our compression level (not negotiated).
    pub level: u8,
    /// Our memory level (not negotiated).
    pub mem_level: u8,
    /// Our threshold below which messages go uncompressed (not negotiated).
    pub min_size: usize,
}

impl DeflateParams {
    /// Parameters as if both ends accepted every default: 32 KiB windows,
    /// context kept, with `config`'s local settings.
    pub fn from_config(config: &DeflateConfig) -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            level: config.level,
            mem_level: config.mem_level,
            min_size: config.min_size,
        }
    }

    /// The window bounding what `role` compresses with.
    fn window_bits_of(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
    }

    fn no_context_takeover_of(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// The window bits bounding what we (in `role`) send.
    pub fn send_window_bits(&self, role: Role) -> u8 {
        self.window_bits_of(role)
    }

    /// The window bits bounding what the peer of `role` sends: our
    /// decompressor needs at least this window.
    pub fn recv_window_bits(&self, role: Role) -> u8 {
        self.window_bits_of(role.peer())
    }

    /// Whether we (in `role`) reset our compressor after every message.
    pub fn send_no_context_takeover(&self, role: Role) -> bool {
        self.no_context_takeover_of(role)
    }

    /// Whether the peer resets its compressor after every message, so that
    /// our decompressor may forget everything between messages too.
    pub fn recv_no_context_takeover(&self, role: Role) -> bool {
        self.no_context_takeover_of(role.peer())
    }
}

/// Why a `Sec-WebSocket-Extensions` value or a permessage-deflate answer
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

/// One element of an extension list: its token and its parameters in
/// order, each with its value (quotes removed) if it had one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// `(name, value)` pairs, in the order they appeared.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses a `Sec-WebSocket-Extensions` value (RFC 6455 section 9.1):
/// comma-separated extensions, each a token followed by `;`-separated
/// parameters, a parameter's value a token or a quoted string whose
/// content is a token. Empty list elements are skipped (RFC 7230 #rule).
pub fn parse_extensions(value: &str) -> Result<Vec<Extension>, ExtensionError> {
    let mut lexer = Lexer {
        bytes: value.as_bytes(),
        pos: 0,
    };
    let mut list = Vec::new();
    loop {
        lexer.skip_ows();
        match lexer.peek() {
            None => return Ok(list),
            Some(b',') => {
                lexer.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = lexer.token().ok_or(ExtensionError("bad extension name"))?;
        let mut params = Vec::new();
        loop {
            lexer.skip_ows();
            match lexer.peek() {
                None | Some(b',') => break,
                Some(b';') => lexer.pos += 1,
                Some(_) => return Err(ExtensionError("expected ';' or ','")),
            }
            lexer.skip_ows();
            let param = lexer
                .token()
                .ok_or(ExtensionError("bad extension parameter"))?;
            lexer.skip_ows();
            let param_value = if lexer.peek() == Some(b'=') {
                lexer.pos += 1;
                lexer.skip_ows();
                let v = if lexer.peek() == Some(b'"') {
                    lexer.quoted()?
                } else {
                    lexer.token().ok_or(ExtensionError("bad parameter value"))?
                };
                Some(v)
            } else {
                None
            };
            params.push((param.to_ascii_lowercase(), param_value));
        }
        list.push(Extension {
            name: name.to_ascii_lowercase(),
            params,
        });
    }
}

/// A cursor over a header value.
struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
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
        (self.pos > start).then(|| bytes_to_string(&self.bytes[start..self.pos]))
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
        Ok(bytes_to_string(&out))
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Token bytes are ASCII, so this never loses anything.
fn bytes_to_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The four RFC 7692 parameters of one offer or answer, checked for
/// unknown names, duplicates and bad values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Parameters {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (only valid in an offer).
    client_max_window_bits: Option<Option<u8>>,
}

impl Parameters {
    fn parse(params: &[(String, Option<String>)]) -> Result<Self, ExtensionError> {
        let mut out = Parameters::default();
        let mut seen = [false; 4];
        for (name, value) in params {
            let slot = match name.as_str() {
                "server_no_context_takeover" => 0,
                "client_no_context_takeover" => 1,
                "server_max_window_bits" => 2,
                "client_max_window_bits" => 3,
                _ => return Err(ExtensionError("unknown permessage-deflate parameter")),
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(ExtensionError("duplicate permessage-deflate parameter"));
            }
            match (slot, value) {
                (0, None) => out.server_no_context_takeover = true,
                (1, None) => out.client_no_context_takeover = true,
                (0 | 1, Some(_)) => {
                    return Err(ExtensionError("no_context_takeover takes no value"))
                }
                (2, Some(v)) => out.server_max_window_bits = Some(window_bits(v)?),
                (2, None) => return Err(ExtensionError("server_max_window_bits needs a value")),
                (_, Some(v)) => out.client_max_window_bits = Some(Some(window_bits(v)?)),
                (_, None) => out.client_max_window_bits = Some(None),
            }
        }
        Ok(out)
    }

    /// Renders `permessage-deflate` and the parameters that are set.
    fn render(&self) -> String {
        let mut out = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            let _ = write!(out, "; server_max_window_bits={bits}");
        }
        match self.client_max_window_bits {
            Some(Some(bits)) => {
                let _ = write!(out, "; client_max_window_bits={bits}");
            }
            Some(None) => out.push_str("; client_max_window_bits"),
            None => {}
        }
        out
    }
}

/// A window-bits value: a decimal 8 to 15 without leading zeros.
fn window_bits(value: &str) -> Result<u8, ExtensionError> {
    let bad = ExtensionError("window bits must be a decimal 8 to 15");
    if value.starts_with('0') || !value.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad);
    }
    match value.parse::<u8>() {
        Ok(bits) if (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) => Ok(bits),
        _ => Err(bad),
    }
}

/// A server's agreement: what applies to the connection, and the value of
/// the `Sec-WebSocket-Extensions` header to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAgreement {
    /// The negotiated parameters, for the session.
    pub params: DeflateParams,
    /// The response header value, e.g. `permessage-deflate; server_max_window_bits=12`.
    pub response: String,
}

/// The server's side of the negotiation: takes every
/// `Sec-WebSocket-Extensions` value of the request (a header may repeat),
/// and accepts the first permessage-deflate offer it can honour.
///
/// Offers with unknown, duplicate or invalid parameters are declined one by
/// one (RFC 7692 section 5, 7.1), so a later valid offer still wins; other
/// extensions are ignored. `Ok(None)` means no offer was accepted (or
/// `config` disables the extension): answer without the header. A value
/// that does not parse at all is an error, for a 400 response.
pub fn server_accept<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<Option<ServerAgreement>, ExtensionError> {
    let mut offers = Vec::new();
    for value in header_values {
        offers.extend(parse_extensions(value)?);
    }
    let deflate_offers = offers.iter().filter(|e| e.name == EXTENSION_NAME);
    Ok(accept_offer_params(
        deflate_offers.map(|e| e.params.as_slice()),
        config,
    ))
}

/// The server's choice among permessage-deflate offers already parsed by
/// the handshake (each given as its parameter list, in order): the answer
/// to the first acceptable one, or `None`. See [`server_accept`].
pub fn accept_offer_params<'a>(
    offers: impl IntoIterator<Item = &'a [(String, Option<String>)]>,
    config: &DeflateConfig,
) -> Option<ServerAgreement> {
    if !config.enabled {
        return None;
    }
    for offer in offers {
        match Parameters::parse(offer) {
            Ok(params) => return Some(answer_offer(&params, config)),
            Err(e) => log::debug!("declining permessage-deflate offer: {e}"),
        }
    }
    None
}

/// Builds the answer to one well-formed offer. Every such offer can be
/// accepted: a window request down to 8 bits is honoured by the compressor
/// (see the module docs of [`super`]), and context rules are always
/// followed.
fn answer_offer(offer: &Parameters, config: &DeflateConfig) -> ServerAgreement {
    let server_bits = offer
        .server_max_window_bits
        .map_or(config.server_max_window_bits, |asked| {
            asked.min(config.server_max_window_bits)
        });
    // The server may only mention client_max_window_bits if the client
    // said it understands it; a value it gave bounds the client anyway.
    let client_bits_answer = match offer.client_max_window_bits {
        None => None,
        Some(offered) => {
            let offered = offered.unwrap_or(MAX_WINDOW_BITS);
            let bits = offered.min(config.client_max_window_bits);
            (bits < MAX_WINDOW_BITS || offered < MAX_WINDOW_BITS).then_some(Some(bits))
        }
    };
    let client_bits = match (client_bits_answer, offer.client_max_window_bits) {
        (Some(Some(bits)), _) => bits,
        (_, Some(Some(offered))) => offered,
        _ => MAX_WINDOW_BITS,
    };
    let answer = Parameters {
        server_no_context_takeover: offer.server_no_context_takeover
            || config.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || config.client_no_context_takeover,
        // Announced when asked for, or when we compress with less than the
        // default window.
        server_max_window_bits: (offer.server_max_window_bits.is_some()
            || server_bits < MAX_WINDOW_BITS)
            .then_some(server_bits),
        client_max_window_bits: client_bits_answer,
    };
    ServerAgreement {
        params: DeflateParams {
            server_no_context_takeover: answer.server_no_context_takeover,
            client_no_context_takeover: answer.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            ..DeflateParams::from_config(config)
        },
        response: answer.render(),
    }
}

/// The client's offer, for its `Sec-WebSocket-Extensions` header; `None`
/// when `config` disables the extension. It always says the client
/// supports `client_max_window_bits`, so a server may ask for a smaller
/// window.
pub fn client_offer(config: &DeflateConfig) -> Option<String> {
    config.enabled.then(|| offer_parameters(config).render())
}

fn offer_parameters(config: &DeflateConfig) -> Parameters {
    Parameters {
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: (config.server_max_window_bits < MAX_WINDOW_BITS)
            .then_some(config.server_max_window_bits),
        client_max_window_bits: Some(
            (config.client_max_window_bits < MAX_WINDOW_BITS)
                .then_some(config.client_max_window_bits),
        ),
    }
}

/// The client's check of the server's answer to [`client_offer`]: every
/// `Sec-WebSocket-Extensions` value of the response. `Ok(None)`: the server
/// declined (no extension). An error fails the handshake (RFC 7692 section
/// 7.1): an extension we did not offer, more than one, a bad parameter, or
/// an answer that does not honour what the offer asked for.
pub fn client_accept<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, ExtensionError> {
    let mut answers = Vec::new();
    for value in header_values {
        answers.extend(parse_extensions(value)?);
    }
    let answer = match answers.as_slice() {
        [] => return Ok(None),
        [one] if one.name == EXTENSION_NAME && config.enabled => one,
        [_] => return Err(ExtensionError("server accepted an extension not offered")),
        _ => return Err(ExtensionError("server accepted more than one extension")),
    };
    check_answer_params(&answer.params, config).map(Some)
}

/// The client's check of the parameters of a permessage-deflate answer the
/// handshake already parsed: the negotiated parameters, or why the
/// handshake must fail. See [`client_accept`].
pub fn check_answer_params(
    params: &[(String, Option<String>)],
    config: &DeflateConfig,
) -> Result<DeflateParams, ExtensionError> {
    let got = Parameters::parse(params)?;
    let offered = offer_parameters(config);

    if offered.server_no_context_takeover && !got.server_no_context_takeover {
        return Err(ExtensionError("server ignored server_no_context_takeover"));
    }
    let server_bits = match (offered.server_max_window_bits, got.server_max_window_bits) {
        (Some(asked), Some(bits)) if bits <= asked => bits,
        (Some(_), Some(_)) => {
            return Err(ExtensionError("server_max_window_bits above the offer"));
        }
        (Some(_), None) => return Err(ExtensionError("server ignored server_max_window_bits")),
        (None, bits) => bits.unwrap_or(MAX_WINDOW_BITS),
    };
    let own_bits = config.client_max_window_bits;
    let client_bits = match got.client_max_window_bits {
        None => own_bits,
        Some(None) => return Err(ExtensionError("client_max_window_bits needs a value")),
        Some(Some(bits)) if bits <= own_bits => bits,
        Some(Some(_)) => return Err(ExtensionError("client_max_window_bits above the offer")),
    };
    Ok(DeflateParams {
        server_no_context_takeover: got.server_no_context_takeover,
        client_no_context_takeover: got.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        ..DeflateParams::from_config(config)
    })
}
