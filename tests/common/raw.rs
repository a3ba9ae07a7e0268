//! A deliberately tiny WebSocket peer over a blocking socket, written from
//! the RFC and independent of the crate's codec, for tests that must put
//! exact (and exactly wrong) bytes on the wire.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::DEADLINE;

/// Text frame opcode.
pub const TEXT: u8 = 0x1;
/// Binary frame opcode.
pub const BINARY: u8 = 0x2;
/// Close frame opcode.
pub const CLOSE: u8 = 0x8;
/// Ping frame opcode.
pub const PING: u8 = 0x9;
/// Pong frame opcode.
pub const PONG: u8 = 0xA;

/// The fixed client key of every request here (RFC 6455 section 1.3).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The `Sec-WebSocket-Accept` for the fixed key (RFC 6455 section 1.3).
pub const FIXED_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The fixed, non-zero mask of every client frame here.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A short read timeout for probing that nothing arrives.
pub const PROBE: Duration = Duration::from_millis(50);

fn upgrade(host: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A valid upgrade request for `path`, with the fixed key.
pub fn upgrade_request(path: &str) -> String {
    upgrade("localhost", path)
}

/// A valid upgrade request for `/` on `addr`, with the fixed key.
pub fn request(addr: SocketAddr) -> Vec<u8> {
    upgrade(&addr.to_string(), "/").into_bytes()
}

/// Encodes one client frame: `first` is the first header byte (FIN, RSV,
/// opcode), the payload is masked with the fixed key.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(first, true, payload)
}

/// One final frame, masked as RFC 6455 5.3 requires of clients.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(0x80 | opcode, payload)
}

/// Like [`frame`], choosing whether to set the mask bit.
pub fn frame_with(first: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A close frame's payload.
pub fn close_payload(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// A frame as the server sent it.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerFrame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode.
    pub opcode: u8,
    /// Payload (servers never mask).
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The close code of a close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

fn is_eof(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
    )
}

/// Reads one frame; `None` at EOF or on a reset before a frame header.
pub fn read_frame(stream: &mut impl Read) -> io::Result<Option<ServerFrame>> {
    let mut head = [0u8; 2];
    match stream.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if is_eof(&e) => return Ok(None),
        Err(e) => return Err(e),
    }
    assert_eq!(head[1] & 0x80, 0, "server frames must not be masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload)?;
    Ok(Some(ServerFrame {
        fin: head[0] & 0x80 != 0,
        opcode: head[0] & 0x0f,
        payload,
    }))
}

/// Reads an HTTP head byte by byte (so no frame byte after it is
/// consumed), up to the blank line or EOF. Returns the bytes and whether
/// the head was complete.
fn read_head_bytes(stream: &mut impl Read) -> io::Result<(Vec<u8>, bool)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok((head, false));
        }
        head.push(byte[0]);
    }
    Ok((head, true))
}

/// Reads an HTTP response head (up to the blank line, or what came before
/// EOF) and returns it.
pub fn read_head(stream: &mut impl Read) -> io::Result<String> {
    let (head, _) = read_head_bytes(stream)?;
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Connects and completes the opening handshake with raw bytes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    Raw::open(addr).stream
}

/// Reads frames until a close frame and returns its code (`None` for a
/// close without code, or if the connection ended without a close frame).
pub fn read_close_code(stream: &mut impl Read) -> Option<u16> {
    while let Some(frame) = read_frame(stream).unwrap() {
        if frame.opcode == CLOSE {
            return frame.close_code();
        }
    }
    None
}

/// A received frame: opcode and payload.
pub type Frame = (u8, Vec<u8>);

/// A WebSocket client speaking raw bytes over a blocking socket.
pub struct Raw {
    /// The socket, for tests that write or read bytes of their own.
    pub stream: TcpStream,
}

impl Raw {
    /// Connects without sending anything. Reads give up after [`DEADLINE`]
    /// so a broken server fails the test instead of hanging it.
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    /// This side's address, as the server's log lines name it.
    pub fn local(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }

    /// Connects and completes the opening handshake.
    pub fn open(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr);
        raw.stream.write_all(&request(addr)).unwrap();
        let head = raw.read_http_head().expect("handshake response");
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "expected 101, got {head:?}"
        );
        raw
    }

    /// Reads an HTTP response head. `None` on EOF before a full head.
    pub fn read_http_head(&mut self) -> Option<String> {
        match read_head_bytes(&mut self.stream) {
            Ok((head, true)) => Some(String::from_utf8(head).unwrap()),
            Ok((_, false)) => None,
            Err(e) => panic!("reading response head: {e}"),
        }
    }

    /// Sends one final, masked frame.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.stream.write_all(&masked_frame(opcode, payload))
    }

    /// Reads one frame: `None` on EOF (or reset) at a frame boundary.
    pub fn recv(&mut self) -> Option<Frame> {
        let frame = match read_frame(&mut self.stream) {
            Ok(frame) => frame?,
            Err(e) => panic!("reading frame: {e}"),
        };
        assert!(frame.fin, "server frames here are unfragmented");
        Some((frame.opcode, frame.payload))
    }

    /// Reads frames until a close frame; returns its code and the frames
    /// before it. `None` if the connection ended without one.
    pub fn recv_close(&mut self) -> Option<(u16, Vec<Frame>)> {
        let mut before = Vec::new();
        while let Some((op, payload)) = self.recv() {
            if op == CLOSE {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Some((code, before));
            }
            before.push((op, payload));
        }
        None
    }

    /// Reads until EOF, returning how many bytes came before it.
    pub fn read_to_eof(&mut self) -> usize {
        let mut sink = Vec::new();
        match self.stream.read_to_end(&mut sink) {
            Ok(_) => sink.len(),
            Err(e) if is_eof(&e) => sink.len(),
            Err(e) => panic!("expected EOF, got {e}"),
        }
    }
}

/// A peer that writes messages without reading any echo until its writes
/// stall, then writes `more` messages after that and stops: see
/// [`write_until_stalled`].
pub struct StalledWriter {
    /// How many messages it writes in all, known once a write stalled.
    pub total: u64,
    /// The writing thread.
    pub thread: std::thread::JoinHandle<()>,
}

/// Writes `message(i)` for i = 0, 1, ... on `stream`, `batch` messages to a
/// write, from a thread, reading nothing. A write that makes no progress
/// for `stall` is taken as the sign that everything between the two ends
/// is full (both sockets' kernel buffers, which autotune to tens of MB,
/// and the server's own, above its high watermark, so it paused reading).
/// Then it writes `more` messages and stops. Returns once a write stalled;
/// panics if `cap` messages went out without one.
pub fn write_until_stalled(
    mut stream: TcpStream,
    message: impl Fn(u64) -> Vec<u8> + Send + 'static,
    batch: u64,
    more: u64,
    cap: u64,
) -> StalledWriter {
    let stall = Duration::from_millis(100);
    stream.set_write_timeout(Some(stall)).unwrap();
    let (stalled, wait_stall) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut total = None;
        let mut next = 0;
        while next < total.unwrap_or(cap) {
            let end = (next + batch).min(total.unwrap_or(cap));
            let bytes: Vec<u8> = (next..end).flat_map(&message).collect();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                match stream.write(rest) {
                    Ok(n) => rest = &rest[n..],
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        if total.is_none() {
                            total = Some(end + more);
                            let _ = stalled.send(end + more);
                        }
                    }
                    Err(e) => panic!("writing: {e}"),
                }
            }
            next = end;
        }
    });
    let total = wait_stall
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{cap} messages went out and no write stalled"));
    StalledWriter { total, thread }
}
