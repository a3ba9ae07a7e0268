//! The worker threads of a multi-worker [`Server`](super::Server): each
//! builds its own event loop and handler, waits for the server to start,
//! serves, and shuts down in step with the others.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpListener;

use crate::reactor::{EventLoop, LoopHandle};
use crate::websocket::Handler;
use crate::websocket::{App, Config, WsCounters, WsProtocol};

/// The loop type every worker runs.
pub(crate) type WorkerLoop<H> = EventLoop<WsProtocol<H>>;

/// How long a worker that stopped accepting waits for the others to stop
/// too before it closes its connections anyway.
const STOP_ACCEPTING_WAIT: Duration = Duration::from_secs(2);

/// Builds worker `index` of `count`: its handler, its loop, its listener.
/// What every worker of one server shares: one set of counters, whichever
/// worker counts, and the registry `GET /metrics` sums over.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) counters: Arc<WsCounters>,
    pub(crate) metrics: Arc<crate::metrics::Registry>,
}

pub(crate) fn build<H: Handler>(
    index: usize,
    count: usize,
    listener: TcpListener,
    config: Config,
    shared: Shared,
    handler: H,
) -> io::Result<WorkerLoop<H>> {
    let trace = config.trace;
    let mut app = App::new(handler, config);
    app.counters = shared.counters.clone();
    app.metrics = shared.metrics.clone();
    let write_limits = app.config.write_limits;
    let app_tls = app.config.tls.clone();
    let mut lp = EventLoop::new(app)?;
    shared
        .metrics
        .add(lp.handle().stats_reader(), shared.counters);
    let tls = app_tls;
    lp.set_default_write_limits(write_limits);
    // Ids say which worker they belong to: generation % count == index.
    lp.set_generations(index as u64, count as u64);
    lp.set_trace(trace);
    if count > 1 {
        lp.name_trace_lines(index);
    }
    lp.add_listener_with(listener, tls, WsProtocol::server)?;
    Ok(lp)
}

/// What a waiting worker thread is told when the server starts.
pub(crate) struct Start<H: Handler> {
    /// Every worker's handle, for passing a stop on.
    pub(crate) all: Arc<[LoopHandle<WsProtocol<H>>]>,
    pub(crate) gate: Arc<StopGate>,
}

/// A worker thread, parked until [`Server::run`](super::Server::run).
pub(crate) struct WorkerThread<H: Handler> {
    pub(crate) start: mpsc::Sender<Start<H>>,
    pub(crate) thread: thread::JoinHandle<io::Result<()>>,
}

/// Spawns worker `index`: the thread builds the loop with `make` (so the
/// handler, which need not be `Send`, is born on the thread that uses it)
/// and hands back its handle once it listens.
pub(crate) fn spawn<H: Handler>(
    index: usize,
    make: impl FnOnce() -> io::Result<WorkerLoop<H>> + Send + 'static,
) -> io::Result<(LoopHandle<WsProtocol<H>>, WorkerThread<H>)> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (start_tx, start_rx) = mpsc::channel::<Start<H>>();
    let thread = thread::Builder::new()
        .name(format!("wsloop-worker-{index}"))
        .spawn(move || {
            let mut lp = match make() {
                Ok(lp) => lp,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return Ok(());
                }
            };
            let _ = ready_tx.send(Ok(lp.handle()));
            // The server was dropped without running: nothing to serve.
            let Ok(start) = start_rx.recv() else {
                return Ok(());
            };
            serve(index, &mut lp, &start)
        })?;
    let handle = ready_rx
        .recv()
        .map_err(|_| io::Error::other("worker thread died"))??;
    Ok((
        handle,
        WorkerThread {
            start: start_tx,
            thread,
        },
    ))
}

/// Runs one worker until a stop, then shuts it down in step with the others.
pub(crate) fn serve<H: Handler>(
    index: usize,
    lp: &mut WorkerLoop<H>,
    start: &Start<H>,
) -> io::Result<()> {
    let result = lp.run();
    // Whatever stopped this worker stops the server.
    for other in start.all.iter() {
        let _ = other.stop();
    }
    let shutdown = shutdown(lp, Some(&start.gate));
    let stats = lp.stats();
    log::info!("worker {index}: {} connection(s) served", stats.total);
    result.and(shutdown)
}

/// Counts the workers that have stopped accepting, so that none sends its
/// close frames while another still takes new connections.
pub(crate) struct StopGate {
    stopped: AtomicUsize,
    workers: usize,
}

impl StopGate {
    pub(crate) fn new(workers: usize) -> Self {
        StopGate {
            stopped: AtomicUsize::new(0),
            workers,
        }
    }
}

/// Graceful shutdown of one loop: stop accepting, close every connection
/// with 1001, wait for the closing handshakes (at most the close timeout).
///
/// With a `gate` (several workers), connections already waiting in this
/// worker's accept queue are taken first: closing a `SO_REUSEPORT` socket
/// resets the connections in its queue instead of passing them to a sibling.
/// Then the worker waits, still serving, until every worker has closed its
/// listener, so that a client told 1001 can count on the port refusing it.
pub(crate) fn shutdown<H: Handler>(
    lp: &mut WorkerLoop<H>,
    gate: Option<&StopGate>,
) -> io::Result<()> {
    if gate.is_some() {
        lp.turn(Some(Duration::ZERO))?;
    }
    lp.stop_accepting();
    if let Some(gate) = gate {
        gate.stopped.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + STOP_ACCEPTING_WAIT;
        while gate.stopped.load(Ordering::SeqCst) < gate.workers && Instant::now() < deadline {
            lp.turn(Some(Duration::from_millis(5)))?;
        }
    }
    super::close_all(lp)
}
