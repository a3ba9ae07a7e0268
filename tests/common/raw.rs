//! A deliberately tiny, independent WebSocket frame writer and reader for
//! tests that must put exact (and exactly wrong) bytes on the wire.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// A valid upgrade request for `path`, with a fixed key.
pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// The `Sec-WebSocket-Accept` for the fixed key of [`upgrade_request`] (RFC 6455 section 1.3).
pub const FIXED_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Encodes one client frame: `first` is the first header byte (FIN, RSV,
/// opcode), the payload is masked with a fixed non-zero key.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(first, true, payload)
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
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
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
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one frame; `None` at EOF or on a reset before a frame header.
pub fn read_frame(stream: &mut impl Read) -> io::Result<Option<ServerFrame>> {
    let mut head = [0u8; 2];
    match stream.read_exact(&mut head) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ) =>
        {
            return Ok(None)
        }
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

/// Reads an HTTP response head (up to the blank line) and returns it.
pub fn read_head(stream: &mut impl Read) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Connects and completes the opening handshake with raw bytes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(super::DEADLINE)).unwrap();
    stream.write_all(upgrade_request("/").as_bytes()).unwrap();
    let head = read_head(&mut stream).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "handshake failed: {head}");
    stream
}

/// Reads frames until a close frame and returns its code (`None` for a
/// close without code, or if the connection ended without a close frame).
pub fn read_close_code(stream: &mut impl Read) -> Option<u16> {
    while let Some(frame) = read_frame(stream).unwrap() {
        if frame.opcode == 8 {
            return frame.close_code();
        }
    }
    None
}
