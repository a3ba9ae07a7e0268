//! One listening socket per worker, all on the same port.
//!
//! Two ways to let N event loops accept on one port, both offered because
//! they fail differently (docs/ARCHITECTURE.md, "Workers"):
//!
//! - [`AcceptMode::ReusePort`]: each worker binds its own socket with
//!   `SO_REUSEPORT`; the kernel picks one socket per incoming connection by
//!   a hash of its 4-tuple. No worker is woken for a connection it does not
//!   get, but the spread follows the hash, not the load.
//! - [`AcceptMode::Shared`]: one socket, duplicated into every worker's
//!   `Poll`. Every worker is woken for every connection (mio cannot ask for
//!   `EPOLLEXCLUSIVE`) and the first to call `accept` wins; the others find
//!   nothing. A busy worker simply loses the race, so load steers the spread.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// How the workers of a server share its port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AcceptMode {
    /// One `SO_REUSEPORT` socket per worker (the default).
    #[default]
    ReusePort,
    /// One socket whose descriptor every worker polls.
    Shared,
}

impl std::str::FromStr for AcceptMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "reuseport" => Ok(AcceptMode::ReusePort),
            "shared" => Ok(AcceptMode::Shared),
            _ => Err(format!("{text:?}: expected reuseport or shared")),
        }
    }
}

/// The kernel's accept queue per socket; Linux caps it at `somaxconn`.
const BACKLOG: i32 = 1024;

/// Binds `count` listeners for `addr` (the first one decides the port when
/// `addr` has port 0), non-blocking and ready for mio: one per event loop
/// that is to accept on the port, shared as `mode` says.
pub fn bind(addr: SocketAddr, count: usize, mode: AcceptMode) -> io::Result<Vec<TcpListener>> {
    let first = bind_one(addr, mode == AcceptMode::ReusePort)?;
    let addr = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    let mut sockets = vec![first];
    while sockets.len() < count {
        let next = match mode {
            AcceptMode::ReusePort => bind_one(addr, true)?,
            AcceptMode::Shared => sockets[0].try_clone()?,
        };
        sockets.push(next);
    }
    Ok(sockets
        .into_iter()
        .map(|s| TcpListener::from_std(s.into()))
        .collect())
}

fn bind_one(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std's TcpListener::bind does: a restarted server may bind at once.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
