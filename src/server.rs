//! [`Server`]: a WebSocket server on one event loop, and the
//! [`ServerHandle`] other threads use to reach it.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::reactor::{ConnId, EventLoop, LoopGone, LoopHandle, LoopStats};
use crate::websocket::Handler;
use crate::websocket::{App, Config, WsCommand, WsCounters, WsProtocol};
use crate::ws::close;
use crate::ws::Message;

/// A WebSocket server: a listener and its connections on one event loop.
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
    lp: EventLoop<WsProtocol<H>>,
    addr: SocketAddr,
    counters: Arc<WsCounters>,
}

impl<H: Handler> Server<H> {
    /// Binds `addr` and prepares to serve `handler` with `config`.
    pub fn bind(addr: SocketAddr, config: Config, handler: H) -> io::Result<Self> {
        let app = App::new(handler, config);
        let counters = app.counters.clone();
        let write_limits = app.config.write_limits;
        let mut lp = EventLoop::new(app)?;
        lp.set_default_write_limits(write_limits);
        let addr = lp.listen(addr, WsProtocol::server)?;
        Ok(Server { lp, addr, counters })
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ServerHandle<H> {
        ServerHandle {
            inner: self.lp.handle(),
            counters: self.counters.clone(),
            addr: self.addr,
        }
    }

    /// The event loop underneath, e.g. to add listeners or client connections.
    pub fn event_loop(&mut self) -> &mut EventLoop<WsProtocol<H>> {
        &mut self.lp
    }

    /// Serves until [`ServerHandle::stop`] (or a callback) asks to stop, then
    /// shuts down gracefully: see [`Server::shutdown`].
    pub fn run(mut self) -> io::Result<()> {
        self.lp.run()?;
        self.shutdown()
    }

    /// Graceful shutdown: stop accepting, send close 1001 to every open
    /// connection, and wait for the closing handshakes, at most the close
    /// timeout (10 s by default).
    pub fn shutdown(&mut self) -> io::Result<()> {
        self.lp.stop_accepting();
        let ids = self.lp.connection_ids();
        log::info!(
            "shutting down: closing {} connection(s) with 1001",
            ids.len()
        );
        for id in ids {
            let command = WsCommand::Close {
                code: close::GOING_AWAY,
                reason: "server shutting down".into(),
            };
            self.lp
                .with_conn(id, |p, cx| crate::Protocol::command(p, cx, command));
        }
        let limit = self
            .lp
            .shared()
            .config
            .close_timeout
            .unwrap_or(Duration::from_secs(10));
        // Sockets linger briefly after the closing handshake; allow for it.
        let deadline = Instant::now() + limit + crate::reactor::CLOSE_LINGER;
        while self.lp.open_connections() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!(
                    "{} connection(s) did not close in time",
                    self.lp.open_connections()
                );
                break;
            }
            self.lp.turn(Some(left))?;
        }
        Ok(())
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
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("wsloop-server".into())
            .spawn(move || {
                let server = match Server::bind(addr, config, make_handler()) {
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
}

/// A `Send + Clone` handle to a running [`Server`], for other threads.
///
/// Commands reach the loop through its waker; no connection state is
/// shared across threads. A broadcast is encoded once, on the calling
/// thread, and every connection queues the same bytes.
pub struct ServerHandle<H: Handler> {
    inner: LoopHandle<WsProtocol<H>>,
    counters: Arc<WsCounters>,
    addr: SocketAddr,
}

impl<H: Handler> Clone for ServerHandle<H> {
    fn clone(&self) -> Self {
        ServerHandle {
            inner: self.inner.clone(),
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

    /// Sends `msg` to one connection.
    pub fn send(&self, to: ConnId, msg: Message<'_>) -> Result<(), LoopGone> {
        self.inner.send_to(to, WsCommand::send(msg))
    }

    /// Sends `msg` to every open connection.
    pub fn broadcast(&self, msg: Message<'_>) -> Result<(), LoopGone> {
        self.broadcast_where(msg, |_| true)
    }

    /// Sends `msg` to the open connections for which `filter` returns true.
    pub fn broadcast_where(
        &self,
        msg: Message<'_>,
        filter: impl Fn(&ConnectionInfo) -> bool + Send + 'static,
    ) -> Result<(), LoopGone> {
        // Encoded here, once; every connection queues the same bytes.
        let command = WsCommand::frame(msg);
        // Queued like `send`, so one thread's sends and broadcasts keep
        // their order, and delivered corked: one flush per connection.
        self.inner.run(move |lp| {
            for id in lp.connection_ids() {
                let Some(peer) = lp.peer_addr(id) else {
                    continue;
                };
                if filter(&ConnectionInfo { id, peer }) {
                    lp.send_to(id, command.clone());
                }
            }
        })
    }

    /// Starts the closing handshake on one connection.
    pub fn close(&self, to: ConnId, code: u16, reason: &str) -> Result<(), LoopGone> {
        self.inner.send_to(
            to,
            WsCommand::Close {
                code,
                reason: reason.into(),
            },
        )
    }

    /// The open connections, as of the loop's next turn (blocks until then,
    /// at most 10 s).
    pub fn connections(&self) -> Result<Vec<ConnectionInfo>, LoopGone> {
        let (tx, rx) = mpsc::channel();
        self.inner.run(move |lp| {
            let mut list = Vec::new();
            for id in lp.connection_ids() {
                if let Some(info) = lp.with_conn(id, |_, cx| ConnectionInfo {
                    id,
                    peer: cx.peer_addr(),
                }) {
                    list.push(info);
                }
            }
            let _ = tx.send(list);
        })?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| LoopGone)
    }

    /// Stops the server: it stops accepting, closes every connection with
    /// 1001 and waits for the closing handshakes (see [`Server::shutdown`]).
    pub fn stop(&self) -> Result<(), LoopGone> {
        self.inner.stop()
    }

    /// The event loop's counters.
    pub fn loop_stats(&self) -> LoopStats {
        self.inner.stats()
    }

    /// WebSocket-level counters.
    pub fn counters(&self) -> &WsCounters {
        &self.counters
    }
}
