//! Ten thousand concurrent WebSocket connections against the `wsloop echo`
//! binary, driven by a small single-threaded mio client in this test.
//!
//! The server runs as a separate process because the two ends together
//! need more descriptors than one process may have (20,000 here).

mod common;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use common::process::Process;
use common::raw::{masked_frame, BINARY, CLOSE};
use common::{pattern, wait_until, DEADLINE};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const CONNECTIONS: usize = 10_000;
/// Connections allowed between `connect` and a completed handshake at
/// once, so the listen backlog never overflows (a dropped SYN costs a
/// one-second retransmit).
const IN_FLIGHT: usize = 512;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum State {
    /// Waiting for the 101.
    Handshake,
    /// Message sent, waiting for its echo.
    Echo,
    /// Echo verified; idle until every connection got this far.
    Idle,
    /// Close sent, waiting for the close reply.
    Closing,
    /// Close reply received, waiting for the server's FIN.
    Fin,
    Done,
}

struct Client {
    stream: TcpStream,
    state: State,
    out: Vec<u8>,
    input: Vec<u8>,
    message: Vec<u8>,
}

impl Client {
    fn queue(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads all that is available; returns true on EOF.
    fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// One unmasked server frame from the input, if complete.
    fn take_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let b = &self.input;
        if b.len() < 2 {
            return None;
        }
        let (len, head) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            126 => return None,
            127 => panic!("no frame this large is sent here"),
            n => (n as usize, 2),
        };
        if b.len() < head + len {
            return None;
        }
        let frame = (b[0] & 0x0F, b[head..head + len].to_vec());
        self.input.drain(..head + len);
        Some(frame)
    }

    /// Advances as far as the input allows.
    fn step(&mut self, i: usize) -> io::Result<()> {
        if self.state == State::Done {
            return Ok(());
        }
        self.flush()?;
        let eof = self.fill()?;
        if self.state == State::Handshake {
            if let Some(end) = self.input.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.input[..end]).into_owned();
                assert!(head.starts_with("HTTP/1.1 101"), "conn {i}: {head}");
                self.input.drain(..end + 4);
                let frame = masked_frame(BINARY, &self.message);
                self.queue(&frame);
                self.state = State::Echo;
            }
        }
        while matches!(self.state, State::Echo | State::Closing) {
            let Some((op, payload)) = self.take_frame() else {
                break;
            };
            match self.state {
                State::Echo => {
                    assert_eq!(op, BINARY, "conn {i}");
                    assert!(payload == self.message, "conn {i}: echo differs");
                    self.state = State::Idle;
                }
                _ => {
                    assert_eq!(op, CLOSE, "conn {i}");
                    assert_eq!(&payload[..2], &1000u16.to_be_bytes(), "conn {i}");
                    self.state = State::Fin;
                }
            }
        }
        if eof {
            assert_eq!(self.state, State::Fin, "conn {i}: EOF too early");
            self.state = State::Done;
        }
        self.flush()
    }
}

/// Raises this process's soft descriptor limit to its hard limit.
fn raise_descriptor_limit(needed: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        assert!(lim.rlim_max >= needed, "hard descriptor limit too low");
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

/// Runs `clients` until all are in `target` (and calls `admit` whenever
/// more connections may be started).
fn drive(
    poll: &mut Poll,
    clients: &mut [Option<Client>],
    target: State,
    mut admit: impl FnMut(&mut Poll, &mut [Option<Client>]),
) {
    let mut events = Events::with_capacity(4096);
    let start = Instant::now();
    loop {
        admit(poll, clients);
        let left = clients
            .iter()
            .filter(|c| !matches!(c, Some(c) if c.state == target))
            .count();
        if left == 0 {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{left} connections did not reach {target:?}"
        );
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        for event in events.iter() {
            let i = event.token().0;
            if let Some(client) = clients[i].as_mut() {
                client
                    .step(i)
                    .unwrap_or_else(|e| panic!("conn {i} in {:?}: {e}", client.state));
            }
        }
    }
}

/// 10,000 connections open at the same time, each echoes its own message
/// byte-exact, then all close with a full closing handshake (close frame
/// both ways, then the server's FIN). Afterwards the server holds exactly
/// the descriptors it held before: no connection leaked.
#[test]
fn ten_thousand_concurrent_connections_echo_and_close_cleanly() {
    raise_descriptor_limit(CONNECTIONS as u64 + 1000);
    let (server, addr) = Process::wsloop(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--handshake-timeout",
        "60s",
        "--ping-interval",
        "0",
    ]);
    let baseline = server.open_fds();
    let request = common::raw::request(addr);

    let mut poll = Poll::new().unwrap();
    let mut clients: Vec<Option<Client>> = (0..CONNECTIONS).map(|_| None).collect();
    let mut started = 0;
    drive(&mut poll, &mut clients, State::Idle, |poll, clients| {
        let pending = clients[..started]
            .iter()
            .filter(|c| matches!(c.as_ref().map(|c| c.state), Some(State::Handshake)))
            .count();
        let room = IN_FLIGHT.saturating_sub(pending);
        for _ in 0..room.min(CONNECTIONS - started) {
            let i = started;
            let mut stream = TcpStream::connect(addr).expect("connect");
            poll.registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
            let mut client = Client {
                stream,
                state: State::Handshake,
                out: Vec::new(),
                input: Vec::new(),
                message: pattern(i as u64, 1 + (i * 7) % 300),
            };
            client.queue(&request);
            clients[i] = Some(client);
            started += 1;
        }
    });
    assert!(
        server.open_fds() >= baseline + CONNECTIONS,
        "the server does not hold all {CONNECTIONS} connections at once"
    );

    for (i, client) in clients.iter_mut().enumerate() {
        let client = client.as_mut().unwrap();
        client.queue(&masked_frame(CLOSE, &1000u16.to_be_bytes()));
        client.state = State::Closing;
        client.step(i).unwrap();
    }
    drive(&mut poll, &mut clients, State::Done, |_, _| {});
    drop(clients);

    wait_until("server back to its baseline descriptors", || {
        server.open_fds() == baseline
    });
}
