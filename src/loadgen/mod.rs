//! A WebSocket (and raw TCP) load generator on the crate's own event loop.
//!
//! [`run`] spreads connections over `threads` loops, each on its own thread,
//! and drives a closed-loop echo workload: every connection keeps
//! `pipeline` messages in flight, checks each echo byte for byte against
//! what it sent, and records the round trip in an HDR histogram. In
//! connect-rate mode each connection instead opens, exchanges one message
//! and closes, and a new one takes its place.
//!
//! The generator is built not to be the bottleneck: payloads come from one
//! pool generated up front (message `n` starts at offset `n mod k`, so a
//! reordered echo is caught without storing copies), frames are encoded
//! straight into the write queue, and echoes are checked where they lie in
//! the read buffer. Nothing is allocated per message.

mod conn;
mod report;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub use conn::LoadConn;
pub use report::{Progress, Report};

use crate::reactor::EventLoop;
use crate::transport::TlsConnector;
use crate::ws::deflate::{DeflateConfig, PerMessageDeflate};
use crate::ws::extension::Extensions;

/// Starts in the payload pool after the first (252 in all): consecutive
/// messages differ in content.
const OFFSETS: usize = 251;

/// Connections opening at once per loop. Opening thousands at once would
/// overflow the server's listen backlog, and the dropped SYNs would come
/// back only after the kernel's retransmission back-off (1 s, 3 s, ...).
const MAX_OPENING: usize = 256;

/// What to run. See the `wsloop bench` options for the meaning of each.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// `Host` header value (WebSocket only).
    pub host: String,
    /// Request path (WebSocket only).
    pub path: String,
    /// Raw TCP echo instead of WebSocket.
    pub raw: bool,
    /// Text messages instead of binary (WebSocket only).
    pub text: bool,
    /// Payload size in bytes.
    pub size: usize,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Concurrent connections in total.
    pub connections: usize,
    /// Event loops (threads) to spread the connections over.
    pub threads: usize,
    /// Stop sending after this long.
    pub duration: Option<Duration>,
    /// Stop after this many messages (connections in connect-rate mode).
    pub messages: Option<u64>,
    /// Open, send one message, close; repeat.
    pub connect_rate: bool,
    /// How long to wait for outstanding echoes once sending stops.
    pub grace: Duration,
    /// Connect over TLS with this (`wss://`, or `--raw` against a TLS echo).
    pub tls: Option<TlsConnector>,
    /// Offer permessage-deflate with these settings (WebSocket only).
    pub deflate: Option<DeflateConfig>,
    /// Payloads of chat-like JSON text, which compresses as real traffic
    /// does, instead of random bytes or letters (implies text).
    pub chat_payload: bool,
}

/// The per-connection view of a [`LoadConfig`].
#[derive(Clone, Debug)]
pub(crate) struct Workload {
    pub(crate) raw: bool,
    pub(crate) text: bool,
    pub(crate) size: usize,
    pub(crate) pipeline: usize,
    pub(crate) connect_rate: bool,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) extensions: Extensions,
    /// Bytes between the starts of consecutive messages in the pool: 1
    /// normally; a whole message with deflate, whose window would
    /// otherwise find each message in the one before and measure a ratio
    /// no real traffic has.
    pub(crate) stride: usize,
}

/// Plain counters of one loop, published to [`Live`] after every turn.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) errors: u64,
    pub(crate) handshakes: u64,
    pub(crate) connected: u64,
    pub(crate) closed: u64,
    /// Bytes received on open WebSocket connections, frames included.
    pub(crate) wire_bytes: u64,
}

/// State shared by the connections of one generator loop.
pub struct Shared {
    workload: Workload,
    payload: Box<[u8]>,
    histogram: Histogram<u64>,
    counts: Counts,
    logged_errors: u32,
    /// Messages (or, in connect-rate mode, connections) this loop may still start.
    budget: Option<u64>,
    /// Sending is over (deadline passed).
    stopping: bool,
    /// Connections still to open.
    to_open: usize,
    /// Connections opening: TCP connect or WebSocket handshake in progress.
    opening: usize,
    /// The measured run has begun: connections may send. Until then they
    /// only open, so the ramp-up of many connections is not measured.
    started: bool,
}

impl Shared {
    /// Whether one more message may be sent on a connection that has sent
    /// `sent` so far.
    fn take_send_permit(&mut self, sent: u64) -> bool {
        if self.stopping || !self.started {
            return false;
        }
        if self.workload.connect_rate {
            return sent == 0;
        }
        self.take_permit()
    }

    fn take_permit(&mut self) -> bool {
        match &mut self.budget {
            _ if self.stopping => false,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }
}

/// Counters one loop publishes for the live line.
#[derive(Default)]
struct Live {
    messages: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    handshakes: AtomicU64,
    open: AtomicU64,
    /// Every connection of the loop is open (or failed): ready to start.
    ready: AtomicBool,
}

impl Live {
    fn publish(&self, c: &Counts, open: usize) {
        self.messages.store(c.messages, Relaxed);
        self.bytes.store(c.bytes, Relaxed);
        self.errors.store(c.errors, Relaxed);
        self.handshakes.store(c.handshakes, Relaxed);
        self.open.store(open as u64, Relaxed);
    }
}

/// Runs the workload to its end, calling `tick` about once a second with
/// the running totals. Errors (mismatched echoes, failed connections,
/// early closes) are counted in the report, not returned.
///
/// In echo mode every connection is opened first (at most `grace` is spent
/// waiting for stragglers); the clock, the duration and the rates start
/// when all are open. In connect-rate mode opening is the workload.
pub fn run(config: &LoadConfig, mut tick: impl FnMut(&Progress)) -> io::Result<Report> {
    if config.duration.is_none() && config.messages.is_none() {
        return Err(io::Error::other("give a duration or a message count"));
    }
    if config.size == 0 || config.pipeline == 0 || config.connections == 0 {
        return Err(io::Error::other(
            "size, pipeline and connections must be > 0",
        ));
    }
    let threads = config.threads.clamp(1, config.connections);
    let go: Arc<OnceLock<Instant>> = Arc::default();
    let (tx, rx) = mpsc::channel();
    let mut lives = Vec::new();
    for i in 0..threads {
        let share =
            |total: u64| total / threads as u64 + u64::from((i as u64) < total % threads as u64);
        let conns = share(config.connections as u64) as usize;
        let budget = config.messages.map(share);
        let live = Arc::new(Live::default());
        lives.push(live.clone());
        let (config, tx, go) = (config.clone(), tx.clone(), go.clone());
        thread::Builder::new()
            .name(format!("loadgen-{i}"))
            .spawn(move || {
                let result = run_loop(&config, conns, budget, &go, &live);
                let _ = tx.send(result);
            })?;
    }
    drop(tx);

    let launched = Instant::now();
    if config.connect_rate {
        let _ = go.set(launched);
    }
    let mut histogram = new_histogram();
    let mut counts = Counts::default();
    let mut first_error = None;
    let mut done = 0;
    let mut next_tick = launched + Duration::from_secs(1);
    let sum =
        |f: fn(&Live) -> &AtomicU64| -> u64 { lives.iter().map(|l| f(l).load(Relaxed)).sum() };
    while done < threads {
        let ready = lives.iter().all(|l| l.ready.load(Relaxed));
        if go.get().is_none() && (ready || launched.elapsed() > config.grace) {
            let _ = go.set(Instant::now());
            next_tick = Instant::now() + Duration::from_secs(1);
        }
        // Short waits while opening, to start as soon as all are open.
        let wait = match go.get() {
            Some(_) => next_tick.saturating_duration_since(Instant::now()),
            None => Duration::from_millis(5),
        };
        match rx.recv_timeout(wait) {
            Ok(Ok((h, c))) => {
                done += 1;
                let _ = histogram.add(&h);
                counts.messages += c.messages;
                counts.bytes += c.bytes;
                counts.errors += c.errors;
                counts.handshakes += c.handshakes;
                counts.connected += c.connected;
                counts.wire_bytes += c.wire_bytes;
            }
            Ok(Err(e)) => {
                done += 1;
                first_error.get_or_insert(e);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let Some(start) = go.get() else { continue };
                if Instant::now() < next_tick {
                    continue;
                }
                tick(&Progress {
                    elapsed: start.elapsed(),
                    messages: sum(|l| &l.messages),
                    bytes: sum(|l| &l.bytes),
                    errors: sum(|l| &l.errors),
                    handshakes: sum(|l| &l.handshakes),
                    open: sum(|l| &l.open),
                });
                next_tick += Duration::from_secs(1);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let start = *go.get_or_init(Instant::now);
    Ok(Report {
        elapsed: start.elapsed(),
        messages: counts.messages,
        bytes: counts.bytes,
        errors: counts.errors,
        handshakes: counts.handshakes,
        connections: counts.connected,
        wire_bytes: counts.wire_bytes,
        histogram,
    })
}

fn new_histogram() -> Histogram<u64> {
    // Nanoseconds, 1 ns to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

fn payload_pool(size: usize, stride: usize, text: bool, chat: bool) -> Box<[u8]> {
    let len = size + OFFSETS * stride;
    if chat {
        chat_text(len).into()
    } else if text {
        (0..len).map(|_| fastrand::alphanumeric() as u8).collect()
    } else {
        (0..len).map(|_| fastrand::u8(..)).collect()
    }
}

/// `len` bytes of chat-like JSON lines: a few users, rooms and words in
/// random order, so the text repeats the way chat traffic does.
fn chat_text(len: usize) -> Vec<u8> {
    const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
    const ROOMS: [&str; 3] = ["general", "random", "dev"];
    const WORDS: [&str; 16] = [
        "the", "build", "is", "green", "again", "who", "broke", "deploy", "lunch", "at", "noon",
        "ok", "thanks", "merged", "review", "please",
    ];
    let mut out = String::with_capacity(len + 128);
    while out.len() < len {
        let words: Vec<&str> = (0..fastrand::usize(3..12))
            .map(|_| WORDS[fastrand::usize(..WORDS.len())])
            .collect();
        out.push_str(&format!(
            "{{\"type\":\"message\",\"room\":\"{}\",\"user\":\"{}\",\"id\":{},\"text\":\"{}\"}}\n",
            ROOMS[fastrand::usize(..ROOMS.len())],
            USERS[fastrand::usize(..USERS.len())],
            fastrand::u32(..100_000),
            words.join(" ")
        ));
    }
    out.truncate(len);
    out.into_bytes()
}

/// One generator loop, on the calling thread.
fn run_loop(
    config: &LoadConfig,
    connections: usize,
    budget: Option<u64>,
    go: &OnceLock<Instant>,
    live: &Live,
) -> io::Result<(Histogram<u64>, Counts)> {
    let workload = Workload {
        raw: config.raw,
        text: (config.text || config.chat_payload) && !config.raw,
        size: config.size,
        pipeline: config.pipeline,
        connect_rate: config.connect_rate,
        host: config.host.clone(),
        path: config.path.clone(),
        // At most 64 MiB of pool per loop however large the messages.
        stride: match config.deflate {
            Some(_) if !config.raw => config.size.min((64 << 20) / OFFSETS),
            _ => 1,
        },
        extensions: match config.deflate {
            Some(deflate) if !config.raw => vec![PerMessageDeflate::shared(deflate)],
            _ => Vec::new(),
        },
    };
    let shared = Shared {
        payload: payload_pool(
            config.size,
            workload.stride,
            workload.text,
            config.chat_payload,
        ),
        workload,
        histogram: new_histogram(),
        counts: Counts::default(),
        logged_errors: 0,
        budget,
        stopping: false,
        to_open: connections,
        opening: 0,
        started: false,
    };
    let mut lp = EventLoop::<LoadConn>::new(shared)?;
    let mut deadline = None;
    let mut stopped_at = None;
    loop {
        open_pending(&mut lp, config.addr, config.tls.as_ref());
        let wait = if lp.shared().started { 50 } else { 5 };
        lp.turn(Some(Duration::from_millis(wait)))?;
        let now = Instant::now();
        if !lp.shared().started {
            let shared = lp.shared();
            let ready = shared.to_open == 0 && shared.opening == 0;
            live.ready.store(ready, Relaxed);
            if let Some(&start) = go.get() {
                shared.started = true;
                deadline = config.duration.map(|d| start + d);
                // Everyone open so far starts now; later ones on opening.
                for id in lp.connection_ids() {
                    lp.with_conn(id, |conn, cx| conn.start(cx));
                }
            }
        }
        let open = lp.open_connections();
        let shared = lp.shared();
        if deadline.is_some_and(|d| now >= d) && !shared.stopping {
            shared.stopping = true;
        }
        let out_of_work = shared.stopping || shared.budget == Some(0);
        live.publish(&shared.counts, open);
        if open == 0 && shared.started && (out_of_work || shared.to_open == 0) {
            break;
        }
        if out_of_work {
            let since = *stopped_at.get_or_insert(now);
            if now.duration_since(since) > config.grace {
                log::error!(
                    "{open} connection(s) did not finish within {:?}",
                    config.grace
                );
                shared.counts.errors += open as u64;
                break;
            }
        }
    }
    let shared = lp.shared();
    live.publish(&shared.counts, 0);
    let histogram = std::mem::replace(&mut shared.histogram, new_histogram());
    Ok((histogram, shared.counts))
}

/// Opens the connections the loop owes: the initial ones, and in
/// connect-rate mode a replacement for each that finished.
fn open_pending(lp: &mut EventLoop<LoadConn>, addr: SocketAddr, tls: Option<&TlsConnector>) {
    loop {
        let shared = lp.shared();
        if shared.to_open == 0 || shared.stopping || shared.opening >= MAX_OPENING {
            return;
        }
        if shared.workload.connect_rate && !shared.take_permit() {
            shared.to_open = 0;
            return;
        }
        shared.to_open -= 1;
        shared.opening += 1;
        let conn = LoadConn::new(&shared.workload);
        let connected = match tls {
            Some(tls) => lp.connect_tls(addr, tls, conn),
            None => lp.connect(addr, conn),
        };
        if let Err(e) = connected {
            let shared = lp.shared();
            shared.opening -= 1;
            shared.counts.errors += 1;
            if shared.logged_errors < 5 {
                shared.logged_errors += 1;
                log::error!("connect to {addr}: {e}");
            }
        }
    }
}
