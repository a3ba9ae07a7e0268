//! [`Server`]: a WebSocket server on one event loop or on several worker
//! loops sharing a port, and the [`ServerHandle`] other threads use to
//! reach it.

mod listeners;
mod workers;

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use listeners::{bind as bind_listeners, AcceptMode};

use crate::reactor::{ConnId, EventLoop, LoopGone, LoopHandle, LoopStats, TryPostError};
use crate::websocket::Handler;
use crate::websocket::{App, Config, WsCommand, WsCounters, WsProtocol};
use crate::ws::close;
use crate::ws::Message;
use workers::{Start, StopGate, WorkerThread};

/// A WebSocket server: a listener and its connections on one event loop,
/// or one listener and event loop per worker thread ([`Server::bind_workers`]).
///
/// # Example
///
/// ```no_run
/// use wsloop::{Config, Handler, Message, Server, WebSocket};
///
/// struct Echo;
/// impl Handler for Echo {
///     fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
///         let _ = ws.send(msg);
///     }
/// }
///
/// let server = Server::bind("127.0.0.1:9001".parse().unwrap(), Config::default(), Echo)?;
/// server.run()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server<H: Handler> {
    /// Worker 0's loop, run on the thread that calls [`Server::run`].
    lp: EventLoop<WsProtocol<H>>,
    addr: SocketAddr,
    counters: Arc<WsCounters>,
    loops: Arc<[LoopHandle<WsProtocol<H>>]>,
    /// Workers 1.., each parked on its own thread until `run`.
    others: Vec<WorkerThread<H>>,
}

impl<H: Handler> Server<H> {
    /// Binds `addr` and prepares to serve `handler` with `config`, on one
    /// event loop.
    pub fn bind(addr: SocketAddr, config: Config, handler: H) -> io::Result<Self> {
        let app = App::new(handler, config);
        let counters = app.counters.clone();
        let write_limits = app.config.write_limits;
        let tls = app.config.tls.clone();
        let metrics = app.metrics.clone();
        let trace = app.config.trace;
        let mut lp = EventLoop::new(app)?;
        metrics.add(lp.handle().stats_reader(), counters.clone());
        lp.set_default_write_limits(write_limits);
        lp.set_trace(trace);
        let addr = match tls {
            Some(tls) => lp.listen_tls(addr, tls, WsProtocol::server)?,
            None => lp.listen(addr, WsProtocol::server)?,
        };
        let loops = Arc::from([lp.handle()]);
        Ok(Server {
            lp,
            addr,
            counters,
            loops,
            others: Vec::new(),
        })
    }

    /// Binds `addr` for `workers` event loops (0 = one per available core),
    /// each on its own thread with its own poll, slab, timers and handler,
    /// sharing the port through `SO_REUSEPORT`: see
    /// [`Server::bind_workers_with`].
    pub fn bind_workers(
        addr: SocketAddr,
        config: Config,
        workers: usize,
        make_handler: impl Fn(usize) -> H + Send + Sync + 'static,
    ) -> io::Result<Self> {
        Self::bind_workers_with(addr, config, workers, AcceptMode::default(), make_handler)
    }

    /// Binds `addr` for `workers` event loops that share the port as `mode`
    /// says.
    ///
    /// Each worker gets its own handler, built by `make_handler(index)` on
    /// the worker's thread: handlers keep their lock-free, single-threaded
    /// state, and whatever workers must share (a chat's user list) is
    /// shared explicitly by the factory, for example through an `Arc` it
    /// captures. With one worker this is [`Server::bind`] with
    /// `make_handler(0)`.
    ///
    /// Connection ids name their worker, so a [`ServerHandle`] reaches any
    /// connection; [`Config::max_connections`] counts the connections of
    /// all workers together.
    pub fn bind_workers_with(
        addr: SocketAddr,
        mut config: Config,
        workers: usize,
        mode: AcceptMode,
        make_handler: impl Fn(usize) -> H + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let count = worker_count(workers);
        if count == 1 {
            return Self::bind(addr, config, make_handler(0));
        }
        let mut listeners = listeners::bind(addr, count, mode)?.into_iter();
        let first = listeners.next().expect("one listener per worker");
        let addr = first.local_addr()?;
        if config.max_connections.is_some() {
            // One count for all workers, so the limit is a total.
            config.shared_connection_count = Some(Arc::default());
        }
        let counters = Arc::new(WsCounters::default());
        // One registry, so `GET /metrics` on any worker sums them all.
        let metrics: Arc<crate::metrics::Registry> = Arc::default();
        let make_handler = Arc::new(make_handler);
        let shared = workers::Shared {
            counters: counters.clone(),
            metrics,
        };
        let lp = workers::build(
            0,
            count,
            first,
            config.clone(),
            shared.clone(),
            make_handler(0),
        )?;
        let mut loops = vec![lp.handle()];
        let mut others = Vec::new();
        for (index, listener) in (1..count).zip(listeners) {
            let (config, shared, make) = (config.clone(), shared.clone(), make_handler.clone());
            let (handle, thread) = workers::spawn(index, move || {
                workers::build(index, count, listener, config, shared, make(index))
            })?;
            loops.push(handle);
            others.push(thread);
        }
        Ok(Server {
            lp,
            addr,
            counters,
            loops: loops.into(),
            others,
        })
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many event loops serve connections.
    pub fn workers(&self) -> usize {
        self.loops.len()
    }

    /// The loops `GET /metrics` reports on; for [`crate::metrics::serve`].
    pub fn metrics(&mut self) -> Arc<crate::metrics::Registry> {
        self.lp.shared().metrics.clone()
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ServerHandle<H> {
        ServerHandle {
            loops: self.loops.clone(),
            counters: self.counters.clone(),
            addr: self.addr,
        }
    }

    /// The event loop underneath (worker 0's with several workers), e.g. to
    /// add listeners or client connections.
    pub fn event_loop(&mut self) -> &mut EventLoop<WsProtocol<H>> {
        &mut self.lp
    }

    /// Serves until [`ServerHandle::stop`] (or a callback) asks to stop, then
    /// shuts down gracefully: see [`Server::shutdown`]. Worker 0 runs on the
    /// calling thread; this returns once every worker has shut down.
    pub fn run(mut self) -> io::Result<()> {
        if self.others.is_empty() {
            self.lp.run()?;
            return self.shutdown();
        }
        let start = |gate: &Arc<StopGate>| Start {
            all: self.loops.clone(),
            gate: gate.clone(),
        };
        let gate = Arc::new(StopGate::new(self.loops.len()));
        for worker in &self.others {
            let _ = worker.start.send(start(&gate));
        }
        let mine = workers::serve(0, &mut self.lp, &start(&gate));
        let theirs = self.join_others();
        mine.and(theirs)
    }

    /// Graceful shutdown: stop accepting, send close 1001 to every open
    /// connection, and wait for the closing handshakes, at most the close
    /// timeout (10 s by default). With several workers, every worker does
    /// so (see [`Server::run`]); called without `run`, it stops worker 0
    /// and lets the parked workers go.
    pub fn shutdown(&mut self) -> io::Result<()> {
        if self.others.is_empty() {
            return workers::shutdown(&mut self.lp, None);
        }
        let result = workers::shutdown(&mut self.lp, None);
        result.and(self.join_others())
    }

    /// Waits for workers 1.. (a parked worker ends when its start channel drops).
    fn join_others(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for worker in std::mem::take(&mut self.others) {
            drop(worker.start);
            let outcome = worker
                .thread
                .join()
                .map_err(|_| io::Error::other("worker thread panicked"))
                .and_then(|r| r);
            result = result.and(outcome);
        }
        result
    }

    /// Runs a server on a background thread (the article's `startServer`):
    /// `make_handler` builds the handler on that thread. Returns once the
    /// server listens; [`ServerHandle::stop`] ends it, and
    /// [`RunningServer::join`] waits for the graceful shutdown to finish.
    pub fn spawn(
        addr: SocketAddr,
        config: Config,
        make_handler: impl FnOnce() -> H + Send + 'static,
    ) -> io::Result<RunningServer<H>> {
        Self::spawn_with(move || Server::bind(addr, config, make_handler()))
    }

    /// [`Server::spawn`] with `workers` event loops: see [`Server::bind_workers`].
    pub fn spawn_workers(
        addr: SocketAddr,
        config: Config,
        workers: usize,
        make_handler: impl Fn(usize) -> H + Send + Sync + 'static,
    ) -> io::Result<RunningServer<H>> {
        Self::spawn_with(move || Server::bind_workers(addr, config, workers, make_handler))
    }

    fn spawn_with(
        bind: impl FnOnce() -> io::Result<Server<H>> + Send + 'static,
    ) -> io::Result<RunningServer<H>> {
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("wsloop-server".into())
            .spawn(move || {
                let server = match bind() {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = tx.send(Ok(server.handle()));
                server.run()
            })?;
        let handle = rx
            .recv()
            .map_err(|_| io::Error::other("server thread died"))??;
        Ok(RunningServer { handle, thread })
    }
}

/// Sends close 1001 to every open connection of `lp` and waits for the
/// closing handshakes, at most the close timeout plus the linger.
fn close_all<H: Handler>(lp: &mut EventLoop<WsProtocol<H>>) -> io::Result<()> {
    let ids = lp.connection_ids();
    log::info!(
        "shutting down: closing {} connection(s) with 1001",
        ids.len()
    );
    for id in ids {
        let command = WsCommand::Close {
            code: close::GOING_AWAY,
            reason: "server shutting down".into(),
        };
        lp.with_conn(id, |p, cx| crate::Protocol::command(p, cx, command));
    }
    let limit = lp
        .shared()
        .config
        .close_timeout
        .unwrap_or(Duration::from_secs(10));
    // Sockets linger briefly after the closing handshake; allow for it.
    let deadline = Instant::now() + limit + crate::reactor::CLOSE_LINGER;
    while lp.open_connections() > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log::warn!(
                "{} connection(s) did not close in time",
                lp.open_connections()
            );
            break;
        }
        lp.turn(Some(left))?;
    }
    Ok(())
}

/// How many workers a request for `requested` means: `0` is one per
/// available core.
pub fn worker_count(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// A server running on a background thread; see [`Server::spawn`].
pub struct RunningServer<H: Handler> {
    /// The handle to reach it.
    pub handle: ServerHandle<H>,
    thread: thread::JoinHandle<io::Result<()>>,
}

impl<H: Handler> RunningServer<H> {
    /// Asks the server to stop and waits for its graceful shutdown.
    pub fn stop(self) -> io::Result<()> {
        let _ = self.handle.stop();
        self.join()
    }

    /// Waits for the server thread to end.
    pub fn join(self) -> io::Result<()> {
        self.thread
            .join()
            .map_err(|_| io::Error::other("server thread panicked"))?
    }
}

/// What [`ServerHandle::connections`] reports about one connection.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// Its id, for [`ServerHandle::send`].
    pub id: ConnId,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The worker (event loop) serving it, `0..workers`.
    pub worker: usize,
}

/// A `Send + Clone` handle to a running [`Server`], for other threads.
///
/// Commands reach each worker's loop through its waker; no connection state
/// is shared across threads. A connection's id names its worker, so
/// [`ServerHandle::send`] goes straight to the right loop. A broadcast is
/// encoded once, on the calling thread, and every connection of every
/// worker queues the same bytes.
pub struct ServerHandle<H: Handler> {
    loops: Arc<[LoopHandle<WsProtocol<H>>]>,
    counters: Arc<WsCounters>,
    addr: SocketAddr,
}

impl<H: Handler> Clone for ServerHandle<H> {
    fn clone(&self) -> Self {
        ServerHandle {
            loops: self.loops.clone(),
            counters: self.counters.clone(),
            addr: self.addr,
        }
    }
}

impl<H: Handler> ServerHandle<H> {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many workers (event loops) serve connections.
    pub fn workers(&self) -> usize {
        self.loops.len()
    }

    /// The worker that serves connection `id`.
    pub fn worker_of(&self, id: ConnId) -> usize {
        (id.generation() % self.loops.len() as u64) as usize
    }

    /// The loop handle of worker `index`, to run code on that worker.
    pub fn worker(&self, index: usize) -> &LoopHandle<WsProtocol<H>> {
        &self.loops[index]
    }

    /// Sends `msg` to one connection.
    pub fn send(&self, to: ConnId, msg: Message<'_>) -> Result<(), LoopGone> {
        self.loops[self.worker_of(to)].send_to(to, WsCommand::send(msg))
    }

    /// Sends `msg` to every open connection.
    pub fn broadcast(&self, msg: Message<'_>) -> Result<(), LoopGone> {
        self.broadcast_where(msg, |_| true)
    }

    /// Sends `msg` to the open connections for which `filter` returns true.
    ///
    /// Every worker is offered the broadcast without blocking first, and
    /// only then are the workers whose queue was full waited for: one
    /// worker that is behind does not hold the message up for the others.
    /// With several workers, `filter` runs on each of them in turn (it sits
    /// behind a mutex, which only a filtered broadcast ever takes).
    pub fn broadcast_where(
        &self,
        msg: Message<'_>,
        filter: impl Fn(&ConnectionInfo) -> bool + Send + 'static,
    ) -> Result<(), LoopGone> {
        // Encoded here, once; every connection queues the same bytes.
        let command = WsCommand::frame(msg);
        let filter = Arc::new(Mutex::new(filter));
        let workers = self.loops.len() as u64;
        // Queued like `send`, so one thread's sends and broadcasts keep
        // their order, and delivered corked: one flush per connection.
        self.on_every_worker(|| {
            let (command, filter) = (command.clone(), filter.clone());
            move |lp: &mut EventLoop<WsProtocol<H>>| {
                let filter = filter.lock().unwrap_or_else(|e| e.into_inner());
                for id in lp.connection_ids() {
                    let Some(peer) = lp.peer_addr(id) else {
                        continue;
                    };
                    let worker = (id.generation() % workers) as usize;
                    if filter(&ConnectionInfo { id, peer, worker }) {
                        lp.send_to(id, command.clone());
                    }
                }
            }
        })
    }

    /// Posts a task made by `make` to every worker, never waiting on one
    /// worker before the others have theirs.
    fn on_every_worker<T>(&self, make: impl Fn() -> T) -> Result<(), LoopGone>
    where
        T: FnOnce(&mut EventLoop<WsProtocol<H>>) + Send + 'static,
    {
        let mut behind = Vec::new();
        for (index, lp) in self.loops.iter().enumerate() {
            match lp.try_run(make()) {
                Ok(()) => {}
                Err(TryPostError::Full) => behind.push(index),
                Err(TryPostError::Gone) => return Err(LoopGone),
            }
        }
        for index in behind {
            self.loops[index].run(make())?;
        }
        Ok(())
    }

    /// Starts the closing handshake on one connection.
    pub fn close(&self, to: ConnId, code: u16, reason: &str) -> Result<(), LoopGone> {
        self.loops[self.worker_of(to)].send_to(
            to,
            WsCommand::Close {
                code,
                reason: reason.into(),
            },
        )
    }

    /// The open connections of every worker, as of each loop's next turn
    /// (blocks until then, at most 10 s).
    pub fn connections(&self) -> Result<Vec<ConnectionInfo>, LoopGone> {
        let (tx, rx) = mpsc::channel();
        for (worker, lp) in self.loops.iter().enumerate() {
            let tx = tx.clone();
            lp.run(move |lp| {
                let mut list = Vec::new();
                for id in lp.connection_ids() {
                    if let Some(info) = lp.with_conn(id, |_, cx| ConnectionInfo {
                        id,
                        peer: cx.peer_addr(),
                        worker,
                    }) {
                        list.push(info);
                    }
                }
                let _ = tx.send(list);
            })?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut all = Vec::new();
        for _ in 0..self.loops.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            all.extend(rx.recv_timeout(left).map_err(|_| LoopGone)?);
        }
        Ok(all)
    }

    /// Stops the server: every worker stops accepting, closes its
    /// connections with 1001 and waits for the closing handshakes (see
    /// [`Server::shutdown`]).
    pub fn stop(&self) -> Result<(), LoopGone> {
        let mut result = Ok(());
        for lp in self.loops.iter() {
            result = result.and(lp.stop());
        }
        result
    }

    /// The event loops' counters, added up over the workers (the peak
    /// queue is the largest of any).
    pub fn loop_stats(&self) -> LoopStats {
        self.worker_stats()
            .into_iter()
            .reduce(add_stats)
            .unwrap_or_default()
    }

    /// Each worker's loop counters, in worker order: how the connections
    /// spread over the workers.
    pub fn worker_stats(&self) -> Vec<LoopStats> {
        self.loops.iter().map(LoopHandle::stats).collect()
    }

    /// WebSocket-level counters, shared by all workers.
    pub fn counters(&self) -> &WsCounters {
        &self.counters
    }
}

fn add_stats(a: LoopStats, b: LoopStats) -> LoopStats {
    let mut turn_buckets = a.turn_buckets;
    for (sum, n) in turn_buckets.iter_mut().zip(b.turn_buckets) {
        *sum += n;
    }
    LoopStats {
        open: a.open + b.open,
        total: a.total + b.total,
        accepted: a.accepted + b.accepted,
        messages_in: a.messages_in + b.messages_in,
        messages_out: a.messages_out + b.messages_out,
        bytes_in: a.bytes_in + b.bytes_in,
        bytes_out: a.bytes_out + b.bytes_out,
        pauses: a.pauses + b.pauses,
        resumes: a.resumes + b.resumes,
        read_pauses: a.read_pauses + b.read_pauses,
        read_yields: a.read_yields + b.read_yields,
        queued: a.queued + b.queued,
        peak_queued: a.peak_queued.max(b.peak_queued),
        accept_fd_errors: a.accept_fd_errors + b.accept_fd_errors,
        turns: a.turns + b.turns,
        timers: a.timers + b.timers,
        turn_buckets,
        turn_nanos: a.turn_nanos + b.turn_nanos,
    }
}
