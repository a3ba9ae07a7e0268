//! Settings of a WebSocket endpoint, with the defaults of the design notes.

use crate::reactor::TraceFilter;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::{TlsAcceptor, WriteLimits};
use crate::ws::deflate::DeflateConfig;
use crate::ws::{HandshakeConfig, Limits};

/// What happens when a message forced onto a connection (a broadcast, or a
/// send from another thread) would push its write queue past
/// [`Config::max_write_buffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Close that connection with 1008: a consumer that cannot keep up is
    /// told so, and everyone else goes on (the default).
    Close,
    /// Drop the message for that connection only, and count it.
    Drop,
}

/// Settings of a WebSocket server or client loop.
#[derive(Clone, Debug)]
pub struct Config {
    /// Message and frame size limits (default 16 MiB each; past it: 1009).
    pub limits: Limits,
    /// Opening-handshake settings: head size limit, origins, subprotocols.
    pub handshake: HandshakeConfig,
    /// Watermarks of each connection's write queue (64 KiB / 16 KiB).
    pub write_limits: WriteLimits,
    /// Hard cap on one connection's write queue. `send` fails past it with
    /// `SendError::BufferFull`; forced messages follow [`Config::overflow`].
    pub max_write_buffer: usize,
    /// See [`Overflow`].
    pub overflow: Overflow,
    /// Close connections that have not completed the opening handshake by
    /// then (default 10 s). `None` turns it off.
    pub handshake_timeout: Option<Duration>,
    /// Drop a connection whose peer has not answered our close frame by
    /// then (default 10 s).
    pub close_timeout: Option<Duration>,
    /// Send a ping after this long without hearing from the peer (default 20 s).
    pub ping_interval: Option<Duration>,
    /// Close with 1011 when no frame arrives this long after a keepalive
    /// ping (default 20 s).
    pub ping_timeout: Option<Duration>,
    /// Close with 1001 after this long with no message either way (default
    /// off). Pings and pongs do not count, so keepalive does not defeat it.
    pub idle_timeout: Option<Duration>,
    /// Answer new connections past this many with HTTP 503 (default: no limit).
    pub max_connections: Option<usize>,
    /// When set, `max_connections` counts the server connections of every
    /// loop sharing this counter instead of this loop's connections: a
    /// server with several workers gives all of them one (default: unset).
    pub shared_connection_count: Option<Arc<AtomicUsize>>,
    /// Serve `wss://`: a server's listener runs TLS with this (default: none,
    /// plain `ws://`). The TLS handshake counts against `handshake_timeout`.
    pub tls: Option<TlsAcceptor>,
    /// Answer `GET /metrics` on this port with the loop's figures in the
    /// Prometheus text format, before the handler sees the request
    /// (default off; the command-line servers turn it on).
    pub metrics: bool,
    /// permessage-deflate: accepted (server) or offered (client) when
    /// `enabled`, with these compression settings. Off by default, since a
    /// compressing connection costs memory (see docs/PERFORMANCE.md);
    /// [`Config::with_deflate`] turns it on.
    pub deflate: DeflateConfig,
    /// `--trace`: which connections every worker's loop traces (default
    /// off). With several workers each line names its worker.
    pub trace: TraceFilter,
}

impl Default for Config {
    fn default() -> Self {
        let limits = Limits::default();
        Config {
            limits,
            handshake: HandshakeConfig::default(),
            write_limits: WriteLimits::default(),
            // Room for one maximal message plus a high watermark's worth.
            max_write_buffer: limits.max_message_size + 2 * WriteLimits::default().high,
            overflow: Overflow::Close,
            handshake_timeout: Some(Duration::from_secs(10)),
            close_timeout: Some(Duration::from_secs(10)),
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Some(Duration::from_secs(20)),
            idle_timeout: None,
            max_connections: None,
            shared_connection_count: None,
            tls: None,
            metrics: false,
            deflate: DeflateConfig {
                enabled: false,
                ..DeflateConfig::default()
            },
            trace: TraceFilter::Off,
        }
    }
}

impl Config {
    /// Serves over TLS with `tls` (see `wsloop::tls`).
    pub fn with_tls(mut self, tls: TlsAcceptor) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the message size limit and keeps `max_write_buffer` large
    /// enough for one such message.
    pub fn with_max_message_size(mut self, size: usize) -> Self {
        self.limits = Limits::new(size);
        self.max_write_buffer = self.max_write_buffer.max(size + 2 * self.write_limits.high);
        self
    }

    /// Turns permessage-deflate on with `deflate`'s settings.
    pub fn with_deflate(mut self, deflate: DeflateConfig) -> Self {
        self.deflate = DeflateConfig {
            enabled: true,
            ..deflate
        };
        self
    }
}
