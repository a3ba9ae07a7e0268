//! One load-generating connection: a [`Protocol`] that keeps `pipeline`
//! messages in flight, checks every echo byte for byte, and times it.
//!
//! It speaks WebSocket through the sans-IO [`Session`] directly rather than
//! through a `Handler`: the generator needs only echo accounting, and
//! owning the session lets it verify payloads where they lie in the read
//! buffer and encode frames straight into the write queue, so the hot path
//! allocates nothing. `Raw` mode sends the same bytes without framing.

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use super::{Shared, Workload};
use crate::protocol::Protocol;
use crate::reactor::Context;
use crate::ws::extension::configure_session;
use crate::ws::handshake::{ClientHandshake, ClientRequest, ClientStep};
use crate::ws::reader::EventReader;
use crate::ws::{close, message_buf, Event, Limits, Opcode, Payload, Role, Session};

/// Where a connection stands.
enum Phase {
    /// Raw TCP: bytes are echoed as they are.
    Raw,
    /// Our upgrade request is out; waiting for the 101.
    Handshake(Box<ClientHandshake>),
    /// Frames flow.
    Open(Box<Session>),
}

/// Per-connection state of the load generator.
pub struct LoadConn {
    phase: Phase,
    /// Send times of the messages in flight, oldest first.
    inflight: VecDeque<Instant>,
    /// Messages sent on this connection.
    sent: u64,
    /// Where the next message sent and the next echo expected start in
    /// the payload pool (see [`next_start`]).
    send_at: usize,
    echo_at: usize,
    /// Raw mode: bytes of the oldest outstanding echo received so far.
    raw_pos: usize,
    /// When the connection was opened (connect-rate latency).
    started: Instant,
    /// The time of the callback being handled, read once at its start and
    /// given to every message sent and every echo received in it: a clock
    /// read costs tens of nanoseconds here, as much as the rest of the
    /// generator's work for a small message, and two a message made the
    /// generator, not the server, the bottleneck of pipelined runs.
    now: Instant,
    /// We ended the conversation on purpose; a close is expected.
    finishing: bool,
    /// An error was counted for this connection already.
    failed: bool,
    /// Open: TCP connected and, for WebSocket, the handshake done.
    ready: bool,
}

impl LoadConn {
    /// A connection for `workload`.
    pub(crate) fn new(workload: &Workload) -> Self {
        let now = Instant::now();
        let phase = if workload.raw {
            Phase::Raw
        } else {
            let target = ClientRequest {
                host: workload.host.clone(),
                path: workload.path.clone(),
                subprotocols: Vec::new(),
            };
            Phase::Handshake(Box::new(ClientHandshake::new(
                &target,
                &workload.extensions,
            )))
        };
        LoadConn {
            phase,
            inflight: VecDeque::with_capacity(workload.pipeline),
            sent: 0,
            send_at: 0,
            echo_at: 0,
            raw_pos: 0,
            started: now,
            now,
            finishing: false,
            failed: false,
            ready: false,
        }
    }

    fn error(&mut self, cx: &mut Context<'_, Self>, what: &str) {
        let shared = cx.shared();
        shared.counts.errors += 1;
        if shared.logged_errors < 5 {
            shared.logged_errors += 1;
            log::error!("{}: {what}", cx.peer_addr());
        }
        self.failed = true;
        self.finishing = true;
        cx.abort();
    }

    fn became_ready(&mut self, cx: &mut Context<'_, Self>) {
        self.ready = true;
        cx.shared().opening -= 1;
    }

    /// [`LoadConn::pump`] outside a callback of this connection (when the
    /// run starts): the time is read first.
    pub(crate) fn start(&mut self, cx: &mut Context<'_, Self>) {
        self.now = Instant::now();
        self.pump(cx);
    }

    /// Keeps the pipeline full, or winds the connection down when the
    /// workload says sending is over. Before the run starts it does nothing.
    fn pump(&mut self, cx: &mut Context<'_, Self>) {
        if !cx.shared().started || !self.ready {
            return;
        }
        while self.inflight.len() < cx.shared().workload.pipeline && !self.finishing {
            if !cx.shared().take_send_permit(self.sent) {
                break;
            }
            self.send_one(cx);
        }
        if self.inflight.is_empty() && !self.finishing {
            self.finish(cx);
        }
    }

    fn send_one(&mut self, cx: &mut Context<'_, Self>) {
        let (shared, mut ops) = cx.split();
        let w = &shared.workload;
        let off = self.send_at;
        let payload = &shared.payload[off..off + w.size];
        match &mut self.phase {
            Phase::Raw => ops.transport().write(payload),
            Phase::Open(session) => {
                let kind = if w.text { Opcode::Text } else { Opcode::Binary };
                let _ = ops
                    .transport()
                    .write_with(|out| session.send(kind, payload, out));
            }
            Phase::Handshake(_) => return,
        }
        self.sent += 1;
        self.send_at = next_start(off, w, shared.payload.len());
        self.inflight.push_back(self.now);
    }

    /// Sending is over and every echo is in: close as the protocol wants.
    fn finish(&mut self, cx: &mut Context<'_, Self>) {
        self.finishing = true;
        match &mut self.phase {
            Phase::Open(session) => {
                let _ = cx.write_with(|out| session.close(close::NORMAL, "done", out));
                // The server answers and closes TCP; `eof_received` follows.
            }
            _ => cx.close(),
        }
    }

    /// One whole echo arrived and matched.
    fn echo_done(&mut self, cx: &mut Context<'_, Self>) {
        let now = self.now;
        let sent_at = self.inflight.pop_front().unwrap_or(now);
        let shared = cx.shared();
        let since = if shared.workload.connect_rate {
            self.started
        } else {
            sent_at
        };
        let nanos = now.saturating_duration_since(since).as_nanos() as u64;
        let _ = shared.histogram.record(nanos.max(1));
        shared.counts.messages += 1;
        shared.counts.bytes += shared.workload.size as u64;
        self.echo_at = next_start(self.echo_at, &shared.workload, shared.payload.len());
    }

    fn check_echo(&self, shared: &Shared, echo: &[u8]) -> bool {
        let w = &shared.workload;
        echo == &shared.payload[self.echo_at..self.echo_at + w.size]
    }

    fn on_raw(&mut self, cx: &mut Context<'_, Self>, mut data: &[u8]) {
        while !data.is_empty() {
            if self.inflight.is_empty() {
                return self.error(cx, "raw echo: more bytes than were sent");
            }
            let shared = cx.shared();
            let size = shared.workload.size;
            let off = self.echo_at + self.raw_pos;
            let n = data.len().min(size - self.raw_pos);
            if data[..n] != shared.payload[off..off + n] {
                return self.error(cx, "raw echo differs from what was sent");
            }
            data = &data[n..];
            self.raw_pos += n;
            if self.raw_pos == size {
                self.raw_pos = 0;
                self.echo_done(cx);
            }
        }
    }

    fn on_frames(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let len = data.len();
        let mut reader = EventReader::new(data);
        loop {
            let Phase::Open(session) = &mut self.phase else {
                return len;
            };
            let Some((_, event)) = reader.next(session) else {
                break;
            };
            let Some(event) = event else { continue };
            if let Err(what) = self.check_event(cx, event) {
                // The connection is aborted: the rest of the input is moot.
                self.error(cx, &what);
                return len;
            }
        }
        if let Phase::Open(session) = &mut self.phase {
            if session.has_pending() {
                cx.write_with(|out| session.take_pending(out));
            }
        }
        cx.shared().counts.wire_bytes += reader.consumed() as u64;
        reader.consumed()
    }

    /// Accounts for one event from the server; `Err` says what was wrong.
    fn check_event(&mut self, cx: &mut Context<'_, Self>, event: Event<'_>) -> Result<(), String> {
        match event {
            Event::Text(p) | Event::Binary(p) => {
                if self.inflight.is_empty() {
                    return Err("an echo arrived that was never sent".into());
                }
                if !self.check_echo(cx.shared(), &p) {
                    return Err("echo differs from the message sent".into());
                }
                self.echo_done(cx);
                self.pump(cx);
                // A reassembled echo's buffer serves the next one: a server
                // that fragments its echoes then costs no fresh pages.
                if let Payload::Owned(buf) = p {
                    message_buf::recycle(buf);
                }
            }
            Event::Ping(_) | Event::Pong(_) => {}
            // Never comes: this session does not ask for messages in parts.
            Event::Part(_) => {}
            Event::Close { code, reason } => {
                if !self.finishing || !self.inflight.is_empty() {
                    return Err(format!(
                        "server closed the connection early ({code} {reason})"
                    ));
                }
            }
            Event::Error { code, reason } => {
                return Err(format!("protocol error from server ({code}): {reason}"));
            }
        }
        Ok(())
    }

    fn on_handshake(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let Phase::Handshake(handshake) = &self.phase else {
            return 0;
        };
        let (head_len, request) = match handshake.receive(data) {
            ClientStep::NeedMore => return 0,
            ClientStep::Upgraded {
                head_len, request, ..
            } => (head_len, request),
            ClientStep::Failed(e) => {
                self.error(cx, &e.to_string());
                return data.len();
            }
        };
        let size = cx.shared().workload.size;
        let limits = Limits::new(size.max(Limits::default().max_message_size));
        let mut session = Session::new(Role::Client, limits);
        let extensions = &cx.shared().workload.extensions;
        configure_session(extensions, &request.extensions, &mut session);
        self.phase = Phase::Open(Box::new(session));
        cx.shared().counts.handshakes += 1;
        self.became_ready(cx);
        self.pump(cx);
        head_len + self.on_frames(cx, &mut data[head_len..])
    }
}

/// Where the message after the one starting at `at` starts in a payload
/// pool of `pool` bytes: `stride` bytes further ([`Workload::stride`]), or
/// back at 0 past the last start at which a whole message fits. Messages
/// `n` and `n + 1` of a connection then differ, so a reordered or repeated
/// echo is caught; a running position, where working it out from `n` took
/// a division for every message sent and every echo checked.
fn next_start(at: usize, workload: &Workload, pool: usize) -> usize {
    let next = at + workload.stride;
    if next + workload.size > pool {
        0
    } else {
        next
    }
}

impl Protocol for LoadConn {
    type Shared = Shared;
    type Command = ();

    fn connection_made(&mut self, cx: &mut Context<'_, Self>) {
        self.started = Instant::now();
        self.now = self.started;
        cx.shared().counts.connected += 1;
        match &self.phase {
            Phase::Handshake(handshake) => cx.write(&handshake.request_bytes()),
            _ => {
                self.became_ready(cx);
                self.pump(cx);
            }
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        if self.failed {
            return data.len();
        }
        self.now = Instant::now();
        match self.phase {
            Phase::Raw => {
                self.on_raw(cx, data);
                if !self.failed {
                    self.pump(cx);
                }
                data.len()
            }
            Phase::Handshake(_) => self.on_handshake(cx, data),
            Phase::Open(_) => self.on_frames(cx, data),
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_, Self>) -> bool {
        if !self.failed && (!self.finishing || !self.inflight.is_empty()) {
            self.error(cx, "server closed the connection early");
        }
        false
    }

    fn connection_lost(&mut self, cx: &mut Context<'_, Self>, error: Option<io::Error>) {
        if let (Some(e), false) = (&error, self.failed) {
            self.failed = true;
            let shared = cx.shared();
            shared.counts.errors += 1;
            if shared.logged_errors < 5 {
                shared.logged_errors += 1;
                log::error!("connection failed: {e}");
            }
        }
        let shared = cx.shared();
        if !self.ready {
            shared.opening -= 1;
        }
        shared.counts.closed += 1;
        if shared.workload.connect_rate {
            // Keep the number of concurrent connections steady.
            shared.to_open += 1;
        }
    }
}
