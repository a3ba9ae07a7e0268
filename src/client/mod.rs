//! A blocking WebSocket client over `std::net::TcpStream`.
//!
//! It is the sans-IO [`Session`] driven by plain blocking reads and writes,
//! no event loop involved: the shortest path from "I have a URL" to "I am
//! talking WebSocket", for scripts, tests and examples.
//!
//! ```no_run
//! let mut ws = wsloop::client::connect("ws://127.0.0.1:9001/")?;
//! ws.send_text("hello")?;
//! let reply = ws.recv()?;
//! println!("{}", reply.as_text().unwrap_or("<binary>"));
//! ws.close(1000, "bye")?;
//! # Ok::<(), wsloop::client::ClientError>(())
//! ```
//!
//! One call, one thing: `recv` blocks until a whole message arrives (or the
//! read timeout passes), answering pings on the way; `send` writes a whole
//! frame before it returns. For many connections at once, use the event
//! loop and [`crate::WsProtocol::client`] instead.
//!
//! A message too large to hold, or to wait for, can be taken a piece at a
//! time ([`ConnectOptions::parts_from`] and [`Client::recv_part`]) and sent
//! a piece at a time ([`Client::send_fragment`]):
//!
//! ```no_run
//! use std::io::Write;
//! use wsloop::client::{connect_with, ConnectOptions, Incoming};
//!
//! let options = ConnectOptions { parts_from: 64 * 1024, ..Default::default() };
//! let mut ws = connect_with("ws://127.0.0.1:9001/download", &options)?;
//! let mut file = std::fs::File::create("download.bin")?;
//! loop {
//!     match ws.recv_part()? {
//!         // Each part is written out as it comes: memory stays at one read.
//!         Incoming::Part(part) => {
//!             file.write_all(part.as_bytes())?;
//!             if part.is_last() {
//!                 break;
//!             }
//!         }
//!         // A message shorter than `parts_from` comes whole.
//!         Incoming::Message(message) => {
//!             file.write_all(message.as_bytes())?;
//!             break;
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod input;
mod stream;
mod url;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub use error::ClientError;
pub use url::WsUrl;

use input::{Input, READ_STEP};
use stream::Stream;

use crate::tls::{self, Trust};
use crate::ws::deflate::{DeflateConfig, PerMessageDeflate};
use crate::ws::extension::configure_session;
use crate::ws::handshake::{ClientHandshake, ClientRequest, ClientStep};
use crate::ws::reader::EventReader;
use crate::ws::{close, Event, Limits, Message, MessagePart, Opcode, Role, Session};

/// A received message, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Received {
    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Received::Text(t) => Some(t),
            Received::Binary(_) => None,
        }
    }

    /// The payload bytes, whatever the kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Received::Text(t) => t.as_bytes(),
            Received::Binary(b) => b,
        }
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Received::Text(_))
    }

    /// The payload bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Received::Text(t) => t.into_bytes(),
            Received::Binary(b) => b,
        }
    }

    /// Borrows it as a [`Message`], e.g. to send it on.
    pub fn as_message(&self) -> Message<'_> {
        match self {
            Received::Text(t) => Message::Text(t),
            Received::Binary(b) => Message::Binary(b),
        }
    }
}

/// What [`Client::recv_part`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message: one shorter than [`ConnectOptions::parts_from`], or
    /// a compressed one (those always come whole).
    Message(Received),
    /// A piece of a message taken in parts, as it arrived.
    Part(MessagePart<'static>),
}

/// Settings for [`connect_with`].
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: Vec<String>,
    /// Give up on connecting and the server's answer after this long.
    pub handshake_timeout: Option<Duration>,
    /// How long `close` waits for the server's close frame and FIN.
    pub close_timeout: Duration,
    /// Size limits on received messages (larger ones fail with 1009).
    pub limits: Limits,
    /// For `wss://`: whom to trust (default: the platform's roots).
    pub trust: Trust,
    /// permessage-deflate, offered when `enabled` (off by default).
    pub deflate: DeflateConfig,
    /// Messages whose first frame is at least this long come through
    /// [`Client::recv_part`] a piece per read instead of whole, so the
    /// client holds one read of them, not the message (see
    /// [`Session::set_parts_from`]); [`Client::recv`] joins them again.
    /// Default `usize::MAX`: never.
    pub parts_from: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            subprotocols: Vec::new(),
            handshake_timeout: Some(Duration::from_secs(10)),
            close_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            trust: Trust::default(),
            deflate: DeflateConfig {
                enabled: false,
                ..DeflateConfig::default()
            },
            parts_from: usize::MAX,
        }
    }
}

/// Connects to a `ws://` or `wss://host:port/path` URL with default options.
pub fn connect(url: &str) -> Result<Client, ClientError> {
    connect_with(url, &ConnectOptions::default())
}

/// Connects with explicit [`ConnectOptions`] (subprotocols, timeouts, limits).
pub fn connect_with(url: &str, options: &ConnectOptions) -> Result<Client, ClientError> {
    let url = WsUrl::parse(url)?;
    let tcp = open_tcp(&url, options.handshake_timeout)?;
    // Each frame goes out in one write; Nagle would only delay small ones.
    tcp.set_nodelay(true)?;
    // Set before the first write: over TLS that write runs the TLS handshake.
    tcp.set_read_timeout(options.handshake_timeout)?;
    let mut stream = if url.secure {
        let connector = tls::connector(&options.trust, &url.host)?;
        Stream::tls(connector.client_connection()?, tcp)
    } else {
        Stream::Plain(tcp)
    };
    let target = ClientRequest {
        host: url.authority.clone(),
        path: url.path.clone(),
        subprotocols: options.subprotocols.clone(),
    };
    let extensions = if options.deflate.enabled {
        vec![PerMessageDeflate::shared(options.deflate)]
    } else {
        Vec::new()
    };
    let handshake = ClientHandshake::new(&target, &extensions);
    stream.write_all(&handshake.request_bytes())?;

    let mut input = Input::default();
    let request = loop {
        match input.read_from(&mut stream) {
            Ok(0) => {
                return Err(ClientError::Handshake(
                    "the server closed the connection without answering".into(),
                ))
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                return Err(ClientError::Handshake(format!(
                    "no answer from the server within {:?}",
                    options.handshake_timeout.unwrap_or_default()
                )))
            }
            Err(e) => return Err(e.into()),
        }
        match handshake.receive(input.filled()) {
            ClientStep::NeedMore => continue,
            ClientStep::Upgraded {
                head_len, request, ..
            } => {
                // Frames may already follow the head: keep them.
                input.consume(head_len);
                break request;
            }
            ClientStep::Failed(e) => return Err(ClientError::Handshake(e.reason)),
        }
    };
    stream.set_read_timeout(None)?;
    let mut session = Session::new(Role::Client, options.limits);
    configure_session(&extensions, &request.extensions, &mut session);
    session.set_parts_from(options.parts_from);
    Ok(Client {
        stream,
        session,
        input,
        output: Vec::new(),
        subprotocol: request.subprotocol,
        read_timeout: None,
        close_timeout: options.close_timeout,
        ended: None,
        joining: None,
    })
}

/// An open WebSocket connection with blocking `send` and `recv`.
pub struct Client {
    stream: Stream,
    session: Session,
    /// Received bytes not yet parsed (at most one partial header once
    /// `recv` returns; payload is moved into the session).
    input: Input,
    /// Reused frame-encoding buffer.
    output: Vec<u8>,
    subprotocol: Option<String>,
    read_timeout: Option<Duration>,
    close_timeout: Duration,
    /// Once the connection is over: the close code and reason that every
    /// later call reports.
    ended: Option<(u16, String)>,
    /// The parts `recv` has joined so far of a message that comes in parts:
    /// kept here, not on `recv`'s stack, so a read timeout loses none.
    joining: Option<Vec<u8>>,
}

impl Client {
    /// Sends a message.
    pub fn send(&mut self, msg: Message<'_>) -> Result<(), ClientError> {
        self.check_open()?;
        self.output.clear();
        self.session
            .send(msg.opcode(), msg.as_bytes(), &mut self.output)?;
        self.write_output()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.send(Message::Text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.send(Message::Binary(data))
    }

    /// Sends `payload` as the next fragment of a message of `kind`
    /// ([`Opcode::Text`] or [`Opcode::Binary`]); `fin` ends the message.
    /// Until then no other message can be sent (pings and close can).
    /// A text message's fragments need only be valid UTF-8 together.
    pub fn send_fragment(
        &mut self,
        kind: Opcode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), ClientError> {
        self.check_open()?;
        self.output.clear();
        self.session
            .send_fragment(kind, payload, fin, &mut self.output)?;
        self.write_output()
    }

    /// Sends a ping (at most 125 bytes). Its pong is consumed by `recv`.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.check_open()?;
        self.output.clear();
        self.session.ping(payload, &mut self.output)?;
        self.write_output()
    }

    /// Waits for the next message, answering pings meanwhile.
    ///
    /// When the server closes, the closing handshake is completed and
    /// `Err(ClientError::Closed { code, reason })` is returned, now and on
    /// every later call. A read timeout gives an error for which
    /// [`ClientError::is_timeout`] is true; the connection stays usable.
    ///
    /// A message that comes in parts ([`ConnectOptions::parts_from`]) is
    /// joined into one. (A message begun with [`Client::recv_part`] is
    /// best finished with it: `recv` would join only the parts still to
    /// come.)
    pub fn recv(&mut self) -> Result<Received, ClientError> {
        loop {
            let part = match self.recv_part()? {
                Incoming::Message(message) => return Ok(message),
                Incoming::Part(part) => part,
            };
            let joined = self.joining.get_or_insert_with(Vec::new);
            joined.extend_from_slice(part.as_bytes());
            if part.is_last() {
                let bytes = self.joining.take().unwrap_or_default();
                return Ok(received(part.is_text(), bytes));
            }
        }
    }

    /// Waits for the next message, or the next piece of a message whose
    /// first frame is at least [`ConnectOptions::parts_from`] long,
    /// answering pings meanwhile. Errors as [`Client::recv`].
    ///
    /// Parts follow the reads: each holds what one read brought of the
    /// message (at most 64 KiB), the first [`MessagePart::is_first`], the
    /// last [`MessagePart::is_last`]. Text is checked as it comes; a
    /// message found invalid ends the connection (1007) before its last
    /// part.
    pub fn recv_part(&mut self) -> Result<Incoming, ClientError> {
        loop {
            if let Some(incoming) = self.parse_buffered()? {
                return Ok(incoming);
            }
            self.fill()?;
        }
    }

    /// Starts the closing handshake, then waits (at most the close timeout)
    /// for the server's close frame and for it to close TCP. Messages that
    /// arrive meanwhile are dropped. Closing a closed connection does nothing.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), ClientError> {
        if self.ended.is_some() {
            return Ok(());
        }
        self.output.clear();
        self.session.close(code, reason, &mut self.output)?;
        self.write_output()?;
        let deadline = Instant::now() + self.close_timeout;
        let result = loop {
            match self.parse_buffered() {
                Ok(_) if self.ended.is_some() => break Ok(()),
                Ok(_) => {}
                Err(ClientError::Closed { .. }) => break Ok(()),
                Err(e) => break Err(e),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(ClientError::Io(io::ErrorKind::TimedOut.into()));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.fill() {
                Ok(()) | Err(ClientError::Closed { .. }) => {}
                Err(e) => break Err(e),
            }
        };
        let _ = self.stream.set_read_timeout(self.read_timeout);
        if result.is_err() {
            self.end(close::ABNORMAL, "closing handshake did not complete");
        }
        result
    }

    /// Makes `recv` give up after `timeout` (`None`: wait forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.stream.set_read_timeout(timeout)?;
        self.read_timeout = timeout;
        Ok(())
    }

    /// The subprotocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The server's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// Whether the connection is over (closed by either side, or failed).
    pub fn is_closed(&self) -> bool {
        self.ended.is_some()
    }

    fn check_open(&self) -> Result<(), ClientError> {
        match &self.ended {
            Some((code, reason)) => Err(ClientError::Closed {
                code: *code,
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Runs the session over buffered input until a message completes or
    /// the input runs out.
    fn parse_buffered(&mut self) -> Result<Option<Incoming>, ClientError> {
        self.check_open()?;
        loop {
            let mut reader = EventReader::new(self.input.filled_mut());
            // Detach the event from the input buffer so it can be trimmed below.
            let event = loop {
                match reader.next(&mut self.session) {
                    None => break None,
                    Some((_, None)) => {}
                    Some((_, Some(event))) => break Some(event.into_owned()),
                }
            };
            let used = reader.consumed();
            self.input.consume(used);
            let Some(event) = event else {
                return Ok(None);
            };
            if let Some(msg) = self.on_event(event)? {
                return Ok(Some(msg));
            }
        }
    }

    fn on_event(&mut self, event: Event<'static>) -> Result<Option<Incoming>, ClientError> {
        match event {
            Event::Text(p) => Ok(Some(Incoming::Message(received(true, p.into_vec())))),
            Event::Binary(p) => Ok(Some(Incoming::Message(received(false, p.into_vec())))),
            Event::Ping(_) | Event::Pong(_) => {
                self.write_pending()?;
                Ok(None)
            }
            Event::Part(part) => Ok(Some(Incoming::Part(part))),
            Event::Close { code, reason } => {
                // Our reply (unless we closed first) is pending. Then the
                // server, not we, closes TCP first (RFC 6455 7.1.1).
                let _ = self.write_pending();
                self.await_server_fin();
                self.end(code, &reason);
                Err(ClientError::Closed { code, reason })
            }
            Event::Error { code, reason } => {
                let _ = self.write_pending();
                let _ = self.stream.shutdown(Shutdown::Both);
                self.end(code, reason);
                Err(ClientError::Protocol {
                    code,
                    reason: reason.to_string(),
                })
            }
        }
    }

    /// Reads more input; EOF or a socket error ends the connection (1006).
    fn fill(&mut self) -> Result<(), ClientError> {
        match self.input.read_from(&mut self.stream) {
            Ok(0) => {
                let reason = "connection closed without a close frame";
                self.end(close::ABNORMAL, reason);
                Err(ClientError::Closed {
                    code: close::ABNORMAL,
                    reason: reason.into(),
                })
            }
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Err(e.into()),
            Err(e) => {
                self.end(close::ABNORMAL, &format!("connection lost: {e}"));
                Err(e.into())
            }
        }
    }

    /// Waits, bounded by the close timeout, for the server to close TCP.
    fn await_server_fin(&mut self) {
        let deadline = Instant::now() + self.close_timeout;
        let mut sink = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = self.stream.set_read_timeout(self.read_timeout);
    }

    fn end(&mut self, code: u16, reason: &str) {
        if self.ended.is_none() {
            self.ended = Some((code, reason.to_string()));
            let _ = self.stream.shutdown(Shutdown::Both);
            self.input.release();
            self.joining = None;
        }
    }

    fn write_pending(&mut self) -> Result<(), ClientError> {
        if !self.session.has_pending() {
            return Ok(());
        }
        self.output.clear();
        self.session.take_pending(&mut self.output);
        self.write_output()
    }

    fn write_output(&mut self) -> Result<(), ClientError> {
        let result = self.stream.write_all(&self.output);
        // A huge message should not pin its buffer for the connection's life.
        if self.output.capacity() > READ_STEP {
            self.output = Vec::new();
        }
        if let Err(e) = result {
            self.end(close::ABNORMAL, &format!("connection lost: {e}"));
            return Err(e.into());
        }
        Ok(())
    }
}

/// A whole message's bytes as a [`Received`].
fn received(text: bool, bytes: Vec<u8>) -> Received {
    if !text {
        return Received::Binary(bytes);
    }
    // The session validated the UTF-8 already (a joined message part by
    // part, which together is the same check).
    Received::Text(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.stream.peer_addr().ok())
            .field("subprotocol", &self.subprotocol)
            .field("ended", &self.ended)
            .finish()
    }
}

/// Connects to the first of the URL's addresses that answers.
fn open_tcp(url: &WsUrl, timeout: Option<Duration>) -> Result<TcpStream, ClientError> {
    let mut last = None;
    for addr in url.socket_addrs()? {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::ErrorKind::NotFound.into());
    Err(ClientError::Io(io::Error::new(
        e.kind(),
        format!("cannot connect to {}:{}: {e}", url.host, url.port),
    )))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
