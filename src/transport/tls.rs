//! TLS between the socket and the protocol: rustls inside the transport.
//!
//! A TLS transport keeps the plain transport's contract. Its protocol reads
//! plaintext from `data_received` and writes plaintext into the same write
//! queue; this layer sits at the two places where bytes meet the socket:
//!
//! - **reading**: ciphertext goes from the socket into rustls, and the
//!   plaintext rustls yields is copied into the loop's read buffer, which
//!   the protocol then parses in place as over plain TCP;
//! - **flushing**: plaintext leaves the write queue through rustls, and the
//!   records it produces wait in a second queue (`cipher`) that is written
//!   to the socket with the same vectored writes.
//!
//! rustls never keeps outgoing records between two calls: they are moved
//! into `cipher` at once, so the transport always knows exactly how many
//! bytes wait (plaintext queued plus ciphertext queued), and the watermarks
//! count both. Plaintext is encrypted only a little ahead of the socket
//! ([`ENCRYPT_AHEAD`]), so a broadcast's shared frames stay shared while the
//! socket is full.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::WriteQueue;

/// Plaintext is moved through rustls only while less ciphertext than this
/// waits for the socket: enough to fill a socket buffer, no more.
const ENCRYPT_AHEAD: usize = 64 * 1024;

/// The server side of TLS for a listener: every accepted connection starts
/// a TLS session with this configuration.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl TlsAcceptor {
    /// Wraps a rustls server configuration (see `wsloop::tls` for one built
    /// from PEM files).
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor { config }
    }

    pub(crate) fn session(&self) -> io::Result<Box<TlsLayer>> {
        let conn = ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        Ok(TlsLayer::new(conn.into()))
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("alpn", &self.config.alpn_protocols.len())
            .finish_non_exhaustive()
    }
}

/// The client side of TLS for connections to one server name.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl TlsConnector {
    /// A connector that verifies the server's certificate for `server_name`
    /// (a DNS name or an IP address) with `config`.
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> io::Result<Self> {
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(TlsConnector {
            config,
            server_name,
        })
    }

    /// The configuration, e.g. for a blocking client.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// A new client session for this server name.
    pub fn client_connection(&self) -> io::Result<ClientConnection> {
        ClientConnection::new(self.config.clone(), self.server_name.clone())
            .map_err(io::Error::other)
    }

    pub(crate) fn session(&self) -> io::Result<Box<TlsLayer>> {
        Ok(TlsLayer::new(self.client_connection()?.into()))
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// One connection's TLS session and the records waiting for the socket.
pub(crate) struct TlsLayer {
    conn: Connection,
    cipher: WriteQueue,
    close_notify_queued: bool,
}

impl TlsLayer {
    fn new(conn: Connection) -> Box<Self> {
        Box::new(TlsLayer {
            conn,
            cipher: WriteQueue::default(),
            close_notify_queued: false,
        })
    }

    /// Ciphertext waiting for the socket.
    pub(crate) fn queued(&self) -> usize {
        self.cipher.len()
    }

    /// Whether the TLS handshake is still in progress.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Fills `buf` with plaintext: first what rustls already decrypted, then
    /// from new ciphertext read from `socket`, until `buf` is full or the
    /// socket has nothing more. A return shorter than `buf` therefore means
    /// the socket was drained, as a short read does over plain TCP. Returns
    /// 0 at the end of input (the peer's close_notify or its FIN).
    /// `bytes_in` counts the ciphertext read.
    pub(crate) fn read(
        &mut self,
        socket: &mut (impl Read + Write),
        buf: &mut [u8],
        bytes_in: &mut u64,
    ) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            if filled == buf.len() {
                return Ok(filled);
            }
            match self.conn.reader().read(&mut buf[filled..]) {
                // close_notify: a clean end of input.
                Ok(0) => return Ok(filled),
                Ok(n) => {
                    filled += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP ended without close_notify. A WebSocket has its own
                // closing handshake, so truncation is detected above us.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(filled),
                Err(e) => return Err(e),
            }
            // rustls yielded all it had, so its plaintext buffer is empty
            // and this read cannot overrun it.
            match self.conn.read_tls(socket) {
                Ok(0) => return Ok(filled),
                Ok(n) => {
                    *bytes_in += n as u64;
                    if let Err(e) = self.conn.process_new_packets() {
                        self.send_alert(socket);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && filled > 0 => return Ok(filled),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Tells the peer why we give up, once and without waiting: the
    /// connection fails right after.
    fn send_alert(&mut self, socket: &mut impl Write) {
        self.take_records();
        let _ = self.cipher.write_to(socket);
    }

    /// Moves the records rustls produced (handshake messages, alerts,
    /// encrypted data) into the cipher queue.
    fn take_records(&mut self) {
        let conn = &mut self.conn;
        while conn.wants_write() {
            // Writing into a `Vec` cannot fail.
            if self.cipher.append_with(|v| conn.write_tls(v)).is_err() {
                break;
            }
        }
    }

    /// Encrypts plaintext from `plain` (once the handshake is done) and
    /// writes ciphertext to `socket` until both queues are empty or the
    /// socket is full. Returns the ciphertext bytes written.
    pub(crate) fn flush(
        &mut self,
        plain: &mut WriteQueue,
        socket: &mut impl Write,
    ) -> io::Result<usize> {
        self.take_records();
        let mut written = 0;
        loop {
            if !self.conn.is_handshaking() && !plain.is_empty() {
                plain.write_to(&mut Encrypt { tls: self })?;
            }
            if self.cipher.is_empty() {
                return Ok(written);
            }
            let n = self.cipher.write_to(socket)?;
            written += n;
            if !self.cipher.is_empty() || plain.is_empty() || self.conn.is_handshaking() {
                return Ok(written);
            }
        }
    }

    /// Queues close_notify, the TLS end of our output, before the write
    /// half shuts. Returns true the first time (there is something to send).
    pub(crate) fn queue_close_notify(&mut self) -> bool {
        if std::mem::replace(&mut self.close_notify_queued, true) {
            return false;
        }
        self.conn.send_close_notify();
        self.take_records();
        true
    }
}

/// The write queue's sink while it drains into rustls: each chunk is
/// encrypted and its records moved to the cipher queue; "would block" once
/// enough ciphertext waits.
struct Encrypt<'a> {
    tls: &'a mut TlsLayer,
}

impl Write for Encrypt<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.tls.cipher.len() >= ENCRYPT_AHEAD {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.tls.conn.writer().write(buf)?;
        self.tls.take_records();
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
