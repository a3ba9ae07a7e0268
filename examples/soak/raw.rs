//! Raw WebSocket connections for the attackers: a hand-made handshake,
//! frames built with wsloop's own codec, and an abortive close.
//!
//! The legitimate clients use tungstenite instead, so what the echo
//! clients see is judged by an independent implementation.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use wsloop::ws::frame::{FrameHeader, Opcode};

/// The RFC 6455 example key; the server's answer is not checked by value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A complete upgrade request for `/`.
pub fn upgrade_request() -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Connects with read and write timeouts, so no attacker can hang.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Connects and completes the opening handshake.
pub fn open(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let mut stream = connect(addr, timeout)?;
    stream.write_all(&upgrade_request())?;
    let head = read_head(&mut stream)?;
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other("upgrade refused"));
    }
    Ok(stream)
}

/// Reads an HTTP response head byte by byte (so no frame after it is
/// swallowed) and returns it.
pub fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("response head too long"));
        }
    }
    Ok(head)
}

/// A masked frame header declaring `len` payload bytes.
pub fn header(fin: bool, opcode: Opcode, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    FrameHeader {
        fin,
        opcode,
        mask: Some(fastrand::u32(..).to_ne_bytes()),
        payload_len: len,
    }
    .write_to(&mut out);
    out
}

/// A masked frame with a payload of `len` pseudo-random bytes. The mask is
/// random, so the bytes on the wire are as good as random whatever the
/// payload is; zeros keep it cheap to build.
pub fn frame(fin: bool, opcode: Opcode, len: usize) -> Vec<u8> {
    let mut out = header(fin, opcode, len as u64);
    let key: [u8; 4] = out[out.len() - 4..].try_into().unwrap();
    out.extend((0..len).map(|i| key[i % 4]));
    out
}

/// Reads frames until a close frame arrives and returns its code (1005 for
/// none), skipping anything else. `None` if the stream ends or times out.
pub fn read_close_code(stream: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((opcode, payload, used)) = parse_server_frame(&buf) {
            if opcode == 0x8 {
                return Some(match payload {
                    [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
                    _ => 1005,
                });
            }
            buf.drain(..used);
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An unmasked server frame at the start of `buf`: opcode, payload, length.
fn parse_server_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, at) = match b1 & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let end = at + usize::try_from(len).ok()?;
    Some((b0 & 0x0F, buf.get(at..end)?, end))
}

/// Closes with a TCP reset instead of a FIN (SO_LINGER with a zero
/// timeout): the server sees `ECONNRESET`, possibly in the middle of a
/// frame, and gets no chance to flush anything.
pub fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid descriptor and a pointer to a local struct of the
    // size passed.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}
