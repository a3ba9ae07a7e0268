//! The reactor: one `mio::Poll`, a slab of connections, timers and a waker.
//!
//! [`EventLoop::turn`] is the whole machine, and reads top to bottom:
//!
//! 1. compute how long `poll` may sleep: until the earliest timer, or not at
//!    all when work is already pending;
//! 2. `poll` for readiness events;
//! 3. for each event: drain the waker's channel, accept on a listener, or
//!    drive a connection (flush if writable, read if readable); then give
//!    the connections whose read pass ran out of its budget in the turn
//!    before their next pass (a pass makes at most `READS_PER_PASS` reads,
//!    so one busy peer cannot hold the others up);
//! 4. fire due timers;
//! 5. deliver commands that callbacks posted to other connections, and run
//!    read passes for connections whose reading was resumed;
//! 6. free the slab slots of connections that closed during this turn (only
//!    now, so no event later in the same batch can reach a new tenant);
//! 7. publish counters.
//!
//! The per-connection steps (read pass, flush, watermark callbacks, closing)
//! live in `conn.rs`. This file only decides *which* connection to drive.
//! The [`Protocol`] trait the loop calls is defined beside it, in
//! `protocol.rs`, so the reactor depends on the transport below it and on
//! nothing above.

mod conn;
mod conn_id;
mod context;
mod loop_handle;
pub mod protocol;
mod stats;
mod timers;
mod trace;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

pub use conn_id::ConnId;
pub use context::{Context, Ops};
pub use loop_handle::{LoopGone, LoopHandle, LoopTask, TryPostError};
pub use protocol::Protocol;
pub use stats::{LoopStats, StatsReader, TURN_BUCKETS};
pub use timers::TimerId;
pub use trace::TraceFilter;

use crate::transport::{TlsAcceptor, TlsConnector, TlsLayer, Transport, WriteLimits};
use conn::{Conn, Connect};
use loop_handle::Message;
use stats::SharedStats;
use timers::{TimerTarget, Timers};
use trace::{trace, Tracer};

pub use crate::transport::READ_CHUNK;
pub use conn::READS_PER_PASS;

/// How long a closed connection waits for the peer's FIN after ours, before
/// the socket is dropped anyway. Waiting avoids the RST that closing a socket
/// with unread input provokes, which could destroy our last bytes in flight.
pub const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// The least count of [`Protocol::bytes_awaited`] the loop waits for with
/// the socket's low-water mark. Below it, the reads the mark would save
/// cost less than the two `setsockopt` calls that raise and lower it (a
/// stream of 64 KiB frames gained nothing from it).
pub const AWAIT_MIN: usize = 256 * 1024;

/// The most the loop lets the kernel gather before it reads: for a larger
/// count it waits for this much at a time, so the bytes a connection leaves
/// in the kernel stay bounded.
pub const AWAIT_MAX: usize = 1024 * 1024;

/// How long accepting pauses after the process ran out of file descriptors.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How many messages from other threads may wait for the loop. Past it,
/// [`LoopHandle`] methods block until the loop catches up: a producer
/// thread faster than the loop is slowed down instead of growing memory.
pub const MESSAGE_QUEUE_CAPACITY: usize = 1 << 16;

/// At most this many deferred commands are delivered per turn, so a protocol
/// that keeps posting to itself cannot starve the loop.
const MAX_DEFERRED_PER_TURN: usize = 1 << 16;

/// What one connection occupies inline in a loop of protocol `P`, in bytes:
/// its slab slot and the parts of it, then one timer entry. Heap memory a
/// connection owns only while busy (queued bytes, a partial frame) is not
/// counted. `examples/idle_memory.rs` prints it next to its RSS figures.
pub fn slot_layout<P: Protocol>() -> Vec<(&'static str, usize)> {
    use std::mem::size_of;
    let conn = size_of::<Conn<P>>();
    let (transport, protocol) = (size_of::<Transport>(), size_of::<P>());
    vec![
        ("slab slot", size_of::<Option<Conn<P>>>().max(conn)),
        ("  transport", transport),
        ("  protocol", protocol),
        ("  loop bookkeeping", conn - transport - protocol),
        ("timer entry", timers::ENTRY_SIZE),
    ]
}

const WAKER: Token = Token(usize::MAX);
const LISTENER_BASE: usize = usize::MAX - 1;

/// The loop's services: everything a callback may touch besides its own
/// connection and the shared state (the clock, timers, commands for other
/// connections, counters). Kept apart from the slab so both can be
/// borrowed at once.
pub(crate) struct Services<C> {
    pub(crate) now: Instant,
    pub(crate) timers: Timers,
    /// Commands posted by callbacks; `None` means every connection.
    pub(crate) deferred: VecDeque<(Option<ConnId>, C)>,
    /// Connections whose reading was resumed and need a read pass.
    pub(crate) read_passes: Vec<ConnId>,
    /// Connections whose read pass stopped at its budget: each gets its
    /// next pass in the following turn, after that turn's events.
    pub(crate) read_again: Vec<ConnId>,
    pub(crate) stop: bool,
    pub(crate) stats: LoopStats,
    /// What `--trace` follows.
    pub(crate) trace: Tracer,
}

impl<C> Services<C> {
    pub(crate) fn send_to(&mut self, to: ConnId, command: C) {
        self.deferred.push_back((Some(to), command));
    }

    pub(crate) fn broadcast(&mut self, command: C) {
        self.deferred.push_back((None, command));
    }
}

struct Listener<P> {
    socket: TcpListener,
    factory: Box<dyn FnMut() -> P>,
    /// Accepted connections run over TLS with this.
    tls: Option<TlsAcceptor>,
    /// Accepting is paused after running out of descriptors.
    backing_off: bool,
    /// Set on the first descriptor error of a run of them, so it is logged once.
    fd_error_logged: bool,
    /// The listener has `TCP_NODELAY`, which Linux copies to every socket
    /// it accepts: one `setsockopt` per listener instead of per connection.
    nodelay_inherited: bool,
}

/// A single-threaded event loop driving connections of protocol type `P`.
///
/// # Example: a TCP echo server
///
/// ```no_run
/// use wsloop::{EventLoop, TcpEcho};
///
/// let mut lp = EventLoop::<TcpEcho>::new(())?;
/// let addr = lp.listen("127.0.0.1:9000".parse().unwrap(), || TcpEcho)?;
/// println!("echoing on {addr}");
/// lp.run()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct EventLoop<P: Protocol> {
    poll: Poll,
    events: Events,
    conns: Slab<Conn<P>>,
    listeners: Vec<Option<Listener<P>>>,
    shared: P::Shared,
    services: Services<P::Command>,
    read_buf: Box<[u8]>,
    rx: Receiver<Message<P>>,
    handle: LoopHandle<P>,
    published: Arc<SharedStats>,
    /// Slots of connections finished this turn, freed at its end.
    to_free: Vec<usize>,
    /// Connections touched by commands this turn, flushed once at its end.
    dirty: Vec<ConnId>,
    next_generation: u64,
    generation_step: u64,
    default_limits: WriteLimits,
}

impl<P: Protocol> EventLoop<P> {
    /// Creates a loop with `shared` as the state all connections share.
    pub fn new(shared: P::Shared) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = sync_channel(MESSAGE_QUEUE_CAPACITY);
        let published = Arc::new(SharedStats::default());
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(1024),
            conns: Slab::new(),
            listeners: Vec::new(),
            shared,
            services: Services {
                now: Instant::now(),
                timers: Timers::default(),
                deferred: VecDeque::new(),
                read_passes: Vec::new(),
                read_again: Vec::new(),
                stop: false,
                stats: LoopStats::default(),
                trace: Tracer::default(),
            },
            // Never empty: a read into no room returns 0, which would read as EOF.
            read_buf: vec![0; P::READ_BUFFER.max(1)].into_boxed_slice(),
            rx,
            handle: LoopHandle {
                tx,
                waker,
                stats: published.clone(),
            },
            published,
            to_free: Vec::new(),
            dirty: Vec::new(),
            next_generation: 0,
            generation_step: 1,
            default_limits: WriteLimits::default(),
        })
    }

    /// Binds `addr` and accepts connections on it, each driven by a protocol
    /// made by `factory`. Returns the bound address (useful with port 0).
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        factory: impl FnMut() -> P + 'static,
    ) -> io::Result<SocketAddr> {
        self.add_listener(TcpListener::bind(addr)?, factory)
    }

    /// Accepts connections on an already bound listener.
    pub fn add_listener(
        &mut self,
        socket: TcpListener,
        factory: impl FnMut() -> P + 'static,
    ) -> io::Result<SocketAddr> {
        self.add_listener_with(socket, None, factory)
    }

    /// Like [`EventLoop::listen`], over TLS: every accepted connection runs
    /// a TLS session from `tls`, and its protocol sees plaintext.
    pub fn listen_tls(
        &mut self,
        addr: SocketAddr,
        tls: TlsAcceptor,
        factory: impl FnMut() -> P + 'static,
    ) -> io::Result<SocketAddr> {
        self.add_listener_with(TcpListener::bind(addr)?, Some(tls), factory)
    }

    /// Accepts connections on an already bound listener, over TLS when
    /// `tls` is given (one listener per worker shares a port this way).
    pub fn add_listener_with(
        &mut self,
        mut socket: TcpListener,
        tls: Option<TlsAcceptor>,
        factory: impl FnMut() -> P + 'static,
    ) -> io::Result<SocketAddr> {
        let factory: Box<dyn FnMut() -> P> = Box::new(factory);
        let index = self.listeners.len();
        self.poll.registry().register(
            &mut socket,
            Token(LISTENER_BASE - index),
            Interest::READABLE,
        )?;
        let addr = socket.local_addr()?;
        let nodelay_inherited = cfg!(target_os = "linux")
            && socket2::SockRef::from(&socket)
                .set_tcp_nodelay(true)
                .is_ok();
        self.listeners.push(Some(Listener {
            socket,
            factory,
            tls,
            backing_off: false,
            fd_error_logged: false,
            nodelay_inherited,
        }));
        Ok(addr)
    }

    /// Stops accepting: every listener is closed. Open connections go on.
    pub fn stop_accepting(&mut self) {
        for slot in &mut self.listeners {
            if let Some(mut l) = slot.take() {
                let _ = self.poll.registry().deregister(&mut l.socket);
            }
        }
    }

    /// Opens a client connection to `addr` without blocking.
    ///
    /// `protocol.connection_made` runs once the connection is established;
    /// if it fails, `connection_lost` gets the error instead.
    pub fn connect(&mut self, addr: SocketAddr, protocol: P) -> io::Result<ConnId> {
        let socket = TcpStream::connect(addr)?;
        self.insert(socket, addr, protocol, true, false, None)
    }

    /// Like [`EventLoop::connect`], over TLS: the TLS handshake follows the
    /// TCP connect, and the protocol's writes from `connection_made` wait
    /// until it is done.
    pub fn connect_tls(
        &mut self,
        addr: SocketAddr,
        tls: &TlsConnector,
        protocol: P,
    ) -> io::Result<ConnId> {
        let session = tls.session()?;
        let socket = TcpStream::connect(addr)?;
        self.insert(socket, addr, protocol, true, false, Some(session))
    }

    /// Numbers this loop's connections `offset + step`, `offset + 2 * step`,
    /// ... instead of 1, 2, 3. Loops given one `step` and distinct offsets
    /// below it never hand out equal [`ConnId`]s, and `generation % step`
    /// names the loop an id belongs to: a server with several worker loops
    /// routes commands by it. Call it before the first connection.
    pub fn set_generations(&mut self, offset: u64, step: u64) {
        assert!(offset < step, "offset must be below step");
        self.next_generation = offset;
        self.generation_step = step;
    }

    /// The write limits given to each new connection.
    pub fn set_default_write_limits(&mut self, limits: WriteLimits) {
        self.default_limits = limits;
    }

    /// Prints one line per step of the loop to standard error, for every
    /// connection or one slot (`--trace`). Off by default, and then each
    /// step costs one test of a flag.
    pub fn set_trace(&mut self, filter: TraceFilter) {
        let worker = self.services.trace.worker;
        self.services.trace = Tracer::new(filter);
        self.services.trace.worker = worker;
    }

    /// Starts every trace line of this loop with `w<index>`, to tell
    /// the workers of one server apart.
    pub(crate) fn name_trace_lines(&mut self, index: usize) {
        self.services.trace.worker = Some(index);
    }

    /// A handle for other threads.
    pub fn handle(&self) -> LoopHandle<P> {
        self.handle.clone()
    }

    /// The loop's counters, exact as of now.
    pub fn stats(&self) -> LoopStats {
        self.services.stats
    }

    /// The state all connections share.
    pub fn shared(&mut self) -> &mut P::Shared {
        &mut self.shared
    }

    /// Ids of the open connections.
    pub fn connection_ids(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| !c.transport.is_closed())
            .map(|(_, c)| c.id())
            .collect()
    }

    /// Number of open connections.
    pub fn open_connections(&self) -> usize {
        self.services.stats.open as usize
    }

    /// The peer address of connection `id`, if it is open.
    pub fn peer_addr(&mut self, id: ConnId) -> Option<SocketAddr> {
        live_conn(&mut self.conns, id).map(|c| c.transport.peer_addr())
    }

    /// Queues `command` for connection `to` behind every command queued
    /// before it (from callbacks or from handles), to be delivered at the
    /// end of this turn; each connection is then flushed once.
    pub fn send_to(&mut self, to: ConnId, command: P::Command) {
        self.services.send_to(to, command)
    }

    /// Runs `f` with one connection's protocol and context, then flushes it.
    /// Returns `None` if the connection is gone.
    pub fn with_conn<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut P, &mut Context<'_, P>) -> R,
    ) -> Option<R> {
        let conn = live_conn(&mut self.conns, id)?;
        let result = conn.call(&mut self.shared, &mut self.services, f);
        self.settle(id.slot());
        Some(result)
    }

    /// Asks [`EventLoop::run`] to return after the current turn.
    pub fn request_stop(&mut self) {
        self.services.stop = true;
    }

    /// Whether a stop was requested.
    pub fn stop_requested(&self) -> bool {
        self.services.stop
    }

    /// Runs turns until a stop is requested (by a callback, a handle or
    /// [`EventLoop::request_stop`]).
    pub fn run(&mut self) -> io::Result<()> {
        self.services.stop = false;
        while !self.services.stop {
            self.turn(None)?;
        }
        Ok(())
    }

    /// One turn of the loop: wait at most `max_wait` (or until the next
    /// timer) for readiness, then handle everything that is ready.
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        let timeout = self.poll_timeout(max_wait);
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.services.now = Instant::now();
        self.services.stats.turns += 1;
        if self.services.trace.on {
            self.trace_poll(timeout);
        }

        // Taken before the events, so that a pass which yields again now
        // waits for the next turn.
        let read_again = std::mem::take(&mut self.services.read_again);
        // The events buffer is moved out so that handling an event may borrow
        // the rest of the loop mutably; it is put back, capacity intact.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            match event.token() {
                WAKER => self.drain_messages(),
                Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                    self.accept_all(LISTENER_BASE - t)
                }
                Token(slot) => self.drive(slot, event),
            }
        }
        self.events = events;
        self.read_yielded(read_again);

        self.fire_timers();
        self.run_deferred();
        for slot in self.to_free.drain(..) {
            let conn = self.conns.remove(slot);
            trace!(self.services.trace, slot = slot, "{} slot freed", conn.id());
        }
        self.services.stats.timers = self.services.timers.len() as u64;
        let took = Instant::now().saturating_duration_since(self.services.now);
        self.services.stats.record_turn(took);
        self.published.publish(&self.services.stats);
        Ok(())
    }

    /// The line for a wake-up: how many events, and for whom.
    fn trace_poll(&self, timeout: Option<Duration>) {
        let tracer = &self.services.trace;
        let tokens: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
        if tracer.wants_loop() || tokens.iter().any(|&t| tracer.wants(t)) {
            tracer.line(format_args!(
                "poll woke with {} event(s) (timeout {})",
                tokens.len(),
                timeout.map_or("none".to_string(), |t| format!("{t:?}"))
            ));
        }
    }

    fn poll_timeout(&mut self, max_wait: Option<Duration>) -> Option<Duration> {
        if !self.services.deferred.is_empty()
            || !self.services.read_passes.is_empty()
            || !self.services.read_again.is_empty()
            || self.services.stop
        {
            return Some(Duration::ZERO);
        }
        let until_timer = self
            .services
            .timers
            .next_deadline()
            .map(|deadline| deadline.saturating_duration_since(Instant::now()));
        match (max_wait, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn insert(
        &mut self,
        mut socket: TcpStream,
        peer: SocketAddr,
        protocol: P,
        connecting: bool,
        nodelay: bool,
        tls: Option<Box<TlsLayer>>,
    ) -> io::Result<ConnId> {
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        // Slot numbers are `u32`s in a `ConnId`, and tokens near the top of
        // the range belong to listeners.
        if slot >= LISTENER_BASE - self.listeners.len() || slot > u32::MAX as usize {
            return Err(io::Error::other("connection slab is full"));
        }
        self.next_generation += self.generation_step;
        let id = ConnId {
            slot: slot as u32,
            generation: self.next_generation,
        };
        // The transport corks writes itself; Nagle would only add latency.
        // An accepted socket may have it from its listener already.
        if !nodelay {
            let _ = socket.set_nodelay(true);
        }
        let interest = if connecting {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.poll
            .registry()
            .register(&mut socket, Token(slot), interest)?;
        let mut transport = Transport::new(socket, peer, self.default_limits);
        if let Some(session) = tls {
            transport.start_tls(session);
        }
        entry.insert(Conn::new(id, transport, protocol, connecting));
        trace!(
            self.services.trace,
            slot = slot,
            "{id} {} {peer}",
            if connecting {
                "connecting to"
            } else {
                "accepted from"
            }
        );
        self.services.stats.open += 1;
        self.services.stats.total += 1;
        self.services.stats.accepted += u64::from(!connecting);
        if !connecting {
            self.conns[slot].call(&mut self.shared, &mut self.services, |p, cx| {
                p.connection_made(cx)
            });
            self.settle(slot);
        }
        Ok(id)
    }

    fn accept_all(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners[index].as_mut() else {
                return;
            };
            if listener.backing_off {
                return;
            }
            match listener.socket.accept() {
                Ok((socket, peer)) => {
                    if listener.fd_error_logged {
                        listener.fd_error_logged = false;
                        log::info!("accepting connections again");
                    }
                    let tls = match listener.tls.as_ref().map(TlsAcceptor::session).transpose() {
                        Ok(tls) => tls,
                        Err(e) => {
                            log::warn!("dropping connection from {peer}: {e}");
                            continue;
                        }
                    };
                    let protocol = (listener.factory)();
                    let nodelay = listener.nodelay_inherited;
                    if let Err(e) = self.insert(socket, peer, protocol, false, nodelay, tls) {
                        log::warn!("dropping connection from {peer}: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) if is_fd_exhaustion(&e) => {
                    // The pending connection stays in the kernel's backlog.
                    // Retrying now would fail again at once, and with the
                    // listener still readable that is a busy loop; wait for
                    // descriptors to free up instead.
                    self.services.stats.accept_fd_errors += 1;
                    if !listener.fd_error_logged {
                        listener.fd_error_logged = true;
                        log::warn!(
                            "accept: {e}; pausing accept, open connections are still served"
                        );
                    }
                    listener.backing_off = true;
                    let deadline = self.services.now + ACCEPT_BACKOFF;
                    self.services
                        .timers
                        .insert(deadline, TimerTarget::Listener(index));
                    return;
                }
                Err(e) => {
                    log::warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn drive(&mut self, slot: usize, event: &mio::event::Event) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.transport.is_closed() {
            return;
        }
        trace!(
            self.services.trace,
            slot = slot,
            "{} event: token {slot}, generation {}:{}{}{}{}",
            conn.id(),
            conn.id().generation,
            if event.is_readable() { " readable" } else { "" },
            if event.is_writable() { " writable" } else { "" },
            if event.is_read_closed() {
                " read-closed"
            } else {
                ""
            },
            if event.is_error() { " error" } else { "" }
        );
        if event.is_read_closed() || event.is_error() {
            conn.hung_up = true;
        }
        if conn.connecting {
            match conn.finish_connect(&mut self.shared, &mut self.services) {
                Connect::Done => {}
                Connect::Pending => return,
                Connect::Failed => return self.settle(slot),
            }
        }
        if event.is_writable() {
            conn.transport.flush();
        }
        // A connection that yielded its last pass reads in its turn after
        // the events: one pass per turn, however many edges come.
        if (event.is_readable() || event.is_read_closed() || event.is_error()) && !conn.read_queued
        {
            conn.read_pass(&mut self.shared, &mut self.services, &mut self.read_buf);
        }
        self.settle(slot);
    }

    /// The read passes that yielded in the turn before: each reads again
    /// (and may yield again, for the next turn).
    fn read_yielded(&mut self, mut ids: Vec<ConnId>) {
        for &id in &ids {
            let Some(conn) = live_conn(&mut self.conns, id) else {
                continue;
            };
            conn.read_queued = false;
            if conn.transport.is_closed() {
                continue;
            }
            trace!(
                self.services.trace,
                slot = id.slot(),
                "{id} read pass, the one it yielded last turn"
            );
            conn.read_pass(&mut self.shared, &mut self.services, &mut self.read_buf);
            self.settle(id.slot());
        }
        // The list's capacity serves the next turn.
        if self.services.read_again.is_empty() {
            ids.clear();
            self.services.read_again = ids;
        }
    }

    /// Finishes the work callbacks left on a connection, freeing its slot at
    /// the end of the turn if it closed.
    fn settle(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.settle(&mut self.shared, &mut self.services, self.poll.registry()) {
            self.to_free.push(slot);
        }
    }

    fn fire_timers(&mut self) {
        while let Some(target) = self.services.timers.pop_due(self.services.now) {
            match target {
                TimerTarget::Conn(id, tag) => {
                    if let Some(conn) = live_conn(&mut self.conns, id) {
                        // Bytes held back by the low-water mark are news
                        // the timer must see (a keepalive, an idle limit).
                        if conn.awaiting() {
                            conn.read_pass(
                                &mut self.shared,
                                &mut self.services,
                                &mut self.read_buf,
                            );
                        }
                        trace!(
                            self.services.trace,
                            slot = id.slot(),
                            "{id} timer fired (tag {tag})"
                        );
                        conn.call(&mut self.shared, &mut self.services, |p, cx| {
                            p.timer_fired(cx, tag)
                        });
                        self.settle(id.slot());
                    }
                }
                TimerTarget::Linger(id) => {
                    if let Some(conn) = live_conn(&mut self.conns, id) {
                        trace!(
                            self.services.trace,
                            slot = id.slot(),
                            "{id} linger timer fired"
                        );
                        conn.linger_expired();
                        self.settle(id.slot());
                    }
                }
                TimerTarget::Listener(index) => {
                    if let Some(Some(listener)) = self.listeners.get_mut(index) {
                        trace!(self.services.trace, "accept back-off over: accepting again");
                        listener.backing_off = false;
                        self.accept_all(index);
                    }
                }
            }
        }
    }

    fn drain_messages(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(Message::ToConn(id, command)) => self.services.send_to(id, command),
                Ok(Message::Run(task)) => task(self),
                Ok(Message::Stop) => self.services.stop = true,
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return,
            }
        }
    }

    /// Delivers commands posted during this turn, then runs read passes, and
    /// flushes each touched connection once.
    fn run_deferred(&mut self) {
        let mut delivered = 0;
        while delivered < MAX_DEFERRED_PER_TURN {
            if let Some((to, command)) = self.services.deferred.pop_front() {
                delivered += 1;
                match to {
                    Some(id) => self.deliver(id, command),
                    None => {
                        let ids = self.connection_ids();
                        for id in ids {
                            self.deliver(id, command.clone());
                        }
                    }
                }
                continue;
            }
            if let Some(id) = self.services.read_passes.pop() {
                if let Some(conn) = live_conn(&mut self.conns, id) {
                    conn.redeliver_and_read(
                        &mut self.shared,
                        &mut self.services,
                        &mut self.read_buf,
                    );
                    self.settle(id.slot());
                }
                continue;
            }
            break;
        }
        for id in std::mem::take(&mut self.dirty) {
            if let Some(conn) = live_conn(&mut self.conns, id) {
                conn.dirty = false;
                self.settle(id.slot());
            }
        }
    }

    fn deliver(&mut self, id: ConnId, command: P::Command) {
        let Some(conn) = live_conn(&mut self.conns, id) else {
            return;
        };
        trace!(
            self.services.trace,
            slot = id.slot(),
            "{id} command delivered"
        );
        conn.call(&mut self.shared, &mut self.services, |p, cx| {
            p.command(cx, command)
        });
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(id);
        }
    }
}

/// The connection `id` names, if it is still open (and not a later tenant of its slot).
fn live_conn<P: Protocol>(conns: &mut Slab<Conn<P>>, id: ConnId) -> Option<&mut Conn<P>> {
    conns
        .get_mut(id.slot())
        .filter(|c| c.id() == id && !c.transport.is_closed())
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TcpEcho;

    /// Turns the loop until its counters satisfy `done`, for at most 10 s.
    fn turn_until(lp: &mut EventLoop<TcpEcho>, done: impl Fn(&LoopStats) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&lp.stats()) {
            assert!(Instant::now() < deadline, "timed out: {:?}", lp.stats());
            lp.turn(Some(Duration::from_millis(50))).unwrap();
        }
    }

    /// Nagle is off on every connection: on one the loop opens (set on the
    /// socket) and on one it accepts (on Linux, copied from the listener,
    /// with no `setsockopt` of its own).
    #[test]
    fn every_connection_has_nodelay() {
        let mut lp = EventLoop::<TcpEcho>::new(()).unwrap();
        let addr = lp.listen(([127, 0, 0, 1], 0).into(), || TcpEcho).unwrap();
        let inherited = lp.listeners[0]
            .as_ref()
            .is_some_and(|l| l.nodelay_inherited);
        assert_eq!(inherited, cfg!(target_os = "linux"));
        // The loop's own connection to its listener: both ends are its.
        lp.connect(addr, TcpEcho).unwrap();
        turn_until(&mut lp, |s| s.accepted == 1);
        assert_eq!(lp.conns.len(), 2);
        for (slot, conn) in &lp.conns {
            assert_eq!(conn.transport.nodelay(), Some(true), "slot {slot}");
        }
    }

    /// A connection that closed is out of the epoll set, though on Linux
    /// the loop makes no `epoll_ctl` to take it out: closing its socket did.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_closed_connection_leaves_the_epoll_set() {
        use std::os::fd::AsRawFd;

        let mut lp = EventLoop::<TcpEcho>::new(()).unwrap();
        let addr = lp.listen(([127, 0, 0, 1], 0).into(), || TcpEcho).unwrap();
        let fdinfo = format!("/proc/self/fdinfo/{}", lp.poll.as_raw_fd());
        // The kernel lists one `tfd:` line per descriptor in the set.
        let registered = || {
            let info = std::fs::read_to_string(&fdinfo).unwrap();
            info.lines().filter(|l| l.starts_with("tfd:")).count()
        };
        let before = registered();
        let peer = std::net::TcpStream::connect(addr).unwrap();
        turn_until(&mut lp, |s| s.accepted == 1);
        assert_eq!(registered(), before + 1);
        // The echo closes once its peer has: the connection ends.
        drop(peer);
        turn_until(&mut lp, |s| s.open == 0);
        assert_eq!(registered(), before);
    }
}
