//! The blocking client's byte stream: plain TCP, or TLS over it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

use rustls::{ClientConnection, StreamOwned};

/// A `ws://` or `wss://` connection's socket, read and written alike.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// TLS over `tcp`; the TLS handshake runs with the first read or write.
    pub(crate) fn tls(conn: ClientConnection, tcp: TcpStream) -> Stream {
        Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// Shuts the socket down; over TLS, close_notify goes first.
    pub(crate) fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        self.tcp().shutdown(how)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
