//! Helpers for the connection-lifecycle tests: a log capture, a raw-socket
//! WebSocket peer written from the RFC (independent of the crate's codec),
//! and an echo handler.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use wsloop::{Handler, Message, WebSocket};

use crate::common::DEADLINE;

/// Echoes every message back.
pub struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let _ = ws.send(msg);
    }
}

/// A logger that keeps every record of the `wsloop` crate, so tests can
/// assert what the server logged (filtering by the peer address in it).
struct Capture {
    lines: Mutex<Vec<String>>,
    start: std::time::Instant,
}

impl log::Log for Capture {
    fn enabled(&self, meta: &log::Metadata) -> bool {
        meta.target().starts_with("wsloop")
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let at = self.start.elapsed().as_millis();
            let line = format!("[{at} ms] {} {}", record.level(), record.args());
            self.lines.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let cap: &'static Capture = Box::leak(Box::new(Capture {
            lines: Mutex::new(Vec::new()),
            start: std::time::Instant::now(),
        }));
        log::set_logger(cap).expect("another logger is installed");
        log::set_max_level(log::LevelFilter::Debug);
        cap
    })
}

/// Starts capturing the crate's log records (idempotent).
pub fn capture_logs() {
    capture();
}

/// Captured log lines that contain every one of `needles`.
pub fn log_lines(needles: &[&str]) -> Vec<String> {
    capture()
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .cloned()
        .collect()
}

/// Frame opcodes used by the raw peer.
pub const TEXT: u8 = 0x1;
/// Binary frame.
pub const BINARY: u8 = 0x2;
/// Close frame.
pub const CLOSE: u8 = 0x8;
/// Ping frame.
pub const PING: u8 = 0x9;
/// Pong frame.
pub const PONG: u8 = 0xA;

/// A received frame: opcode and payload.
pub type Frame = (u8, Vec<u8>);

/// A WebSocket client speaking raw bytes over a blocking socket.
pub struct Raw {
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

    /// Reads an HTTP response head byte by byte (so no frame byte after it
    /// is consumed). `None` on EOF before a full head.
    pub fn read_http_head(&mut self) -> Option<String> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match self.stream.read(&mut byte) {
                Ok(0) => return None,
                Ok(_) => head.push(byte[0]),
                Err(e) => panic!("reading response head: {e}"),
            }
        }
        Some(String::from_utf8(head).unwrap())
    }

    /// Sends one final, masked frame.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.stream.write_all(&masked_frame(opcode, payload))
    }

    /// Reads one frame: `None` on EOF (or reset) at a frame boundary.
    pub fn recv(&mut self) -> Option<Frame> {
        let mut head = [0u8; 2];
        match self.stream.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if is_eof(&e) => return None,
            Err(e) => panic!("reading frame: {e}"),
        }
        assert_eq!(head[0] & 0x80, 0x80, "server frames here are unfragmented");
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
        let len = match head[1] & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0; len];
        self.stream.read_exact(&mut payload).unwrap();
        Some((head[0] & 0x0F, payload))
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

fn is_eof(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
    )
}

/// A valid upgrade request for `addr`.
pub fn request(addr: SocketAddr) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// One final frame, masked as RFC 6455 5.3 requires of clients.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x37, 0xFA, 0x21, 0x3D];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A close frame's payload.
pub fn close_payload(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// A short read timeout for probing that nothing arrives.
pub const PROBE: Duration = Duration::from_millis(50);

/// A `wsloop` process started by a test, killed (by its own PID) if the
/// test ends before it exits.
pub struct Wsloop {
    pub child: std::process::Child,
    /// The address it listens on, read from its log.
    pub addr: SocketAddr,
    /// Its log lines so far.
    pub log: std::sync::Arc<Mutex<Vec<String>>>,
}

impl Wsloop {
    /// Runs `wsloop` with `args` (which should listen on port 0) and waits
    /// for its "listening on" log line.
    pub fn start(args: &[&str]) -> Wsloop {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsloop"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wsloop");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on ") {
                    // "ws://127.0.0.1:9001", "http://127.0.0.1:9090/" or a bare address.
                    let url = line[at + 13..].trim();
                    let addr = url.split("://").last().unwrap_or(url).trim_end_matches('/');
                    let _ = tx.send(addr.parse::<SocketAddr>().expect("address"));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(DEADLINE).expect("wsloop did not start");
        Wsloop { child, addr, log }
    }

    /// Its PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends it a signal.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's PID.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits (at most [`DEADLINE`]) for it to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "wsloop did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Number of descriptors it has open, from /proc.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }
}

impl Drop for Wsloop {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
