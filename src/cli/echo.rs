//! `wsloop echo`: the WebSocket echo server.

use std::net::SocketAddr;
use wsloop::ws::Role;
use wsloop::{Config, Handler, Message, MessagePart, Server, WebSocket, WriteLimits};

use super::deflate::DeflateArgs;
use super::{parse_size, parse_timeout, Timeout};

/// Options of `wsloop echo`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub addr: SocketAddr,
    /// Largest message accepted (bytes; k/m suffixes); larger ones close with 1009.
    #[arg(long, default_value = "16m", value_parser = parse_size)]
    pub max_message_size: usize,
    /// Write-queue high watermark per connection: above it, reading from that peer pauses.
    #[arg(long, default_value = "64k", value_parser = parse_size)]
    pub high_water: usize,
    /// Write-queue low watermark: reading resumes at or below it [default: high/4].
    #[arg(long, value_parser = parse_size)]
    pub low_water: Option<usize>,
    /// Echo messages at least this large (by their first frame) piece by piece as they arrive, instead of whole once all of them is in (k/m suffixes; 0 = never).
    #[arg(long, default_value = "64k", value_parser = parse_size)]
    pub parts_from: usize,
    /// Close connections that have not finished the opening handshake in time (0 = off).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_timeout)]
    pub handshake_timeout: Timeout,
    /// Drop a peer that does not answer our close frame in time, also at shutdown (0 = off; shutdown then waits at most 10s).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_timeout)]
    pub close_timeout: Timeout,
    /// Send a keepalive ping after this long without traffic from the peer (0 = off).
    #[arg(long, default_value = "20s", value_name = "DURATION", value_parser = parse_timeout)]
    pub ping_interval: Timeout,
    /// Close with 1011 when nothing (pong or any other frame) arrives in time after a keepalive ping (0 = off).
    #[arg(long, default_value = "20s", value_name = "DURATION", value_parser = parse_timeout)]
    pub ping_timeout: Timeout,
    /// Close with 1001 after this long without a message either way; pings do not count (0 = off).
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_timeout)]
    pub idle_timeout: Timeout,
    /// Answer connections past this many (in total over the workers) with HTTP 503 (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub max_connections: usize,
    #[command(flatten)]
    pub workers: super::WorkerArgs,
    #[command(flatten)]
    pub tls: super::tls::ServerTls,
    #[command(flatten)]
    pub metrics: super::MetricsArgs,
    #[command(flatten)]
    pub trace: super::TraceArgs,
    /// permessage-deflate settings.
    #[command(flatten)]
    pub deflate: DeflateArgs,
}

impl Args {
    /// The server settings these options describe.
    pub fn config(&self) -> Result<Config, String> {
        let mut config = Config::default().with_max_message_size(self.max_message_size);
        config.write_limits =
            WriteLimits::new(self.high_water, self.low_water).map_err(|e| e.to_string())?;
        config.handshake_timeout = self.handshake_timeout.0;
        config.close_timeout = self.close_timeout.0;
        config.ping_interval = self.ping_interval.0;
        config.ping_timeout = self.ping_timeout.0;
        config.idle_timeout = self.idle_timeout.0;
        config.max_connections = (self.max_connections > 0).then_some(self.max_connections);
        config.tls = self.tls.acceptor().map_err(|e| e.to_string())?;
        config.metrics = self.metrics.on_server_port();
        config.deflate = self.deflate.config(Role::Server)?;
        config.trace = self.trace.filter();
        Ok(config)
    }
}

/// Echoes every message back with its opcode; messages of at least
/// `parts_from` bytes piece by piece, as fragments of the same message.
pub struct Echo {
    parts_from: usize,
}

impl Echo {
    /// An echo that takes messages of at least `parts_from` bytes in
    /// parts (0: none).
    pub fn new(parts_from: usize) -> Self {
        let parts_from = if parts_from == 0 {
            usize::MAX
        } else {
            parts_from
        };
        Echo { parts_from }
    }
}

impl Handler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        if let Err(e) = ws.send(msg) {
            let peer = ws.peer_addr();
            log::warn!("{peer}: echo not sent: {e}");
        }
    }

    fn parts_from(&self) -> usize {
        self.parts_from
    }

    fn on_message_part(&mut self, ws: &mut WebSocket<'_>, part: MessagePart<'_>) {
        if let Err(e) = ws.send_fragment(part.opcode(), part.as_bytes(), part.is_last()) {
            let peer = ws.peer_addr();
            log::warn!("{peer}: echo of a message part not sent: {e}");
        }
    }
}

/// Runs the echo server until SIGINT/SIGTERM, then shuts down gracefully.
pub fn run(args: Args) -> std::io::Result<()> {
    let config = args.config().map_err(std::io::Error::other)?;
    let w = args.workers;
    let parts_from = args.parts_from;
    let mut server =
        Server::bind_workers_with(args.addr, config, w.workers, w.accept, move |_| {
            Echo::new(parts_from)
        })?;
    args.metrics.serve_apart(server.metrics())?;
    let handle = server.handle();
    super::on_shutdown_signal(move || {
        let _ = handle.stop();
    })?;
    w.log(server.workers());
    let scheme = args.tls.scheme("wss", "ws");
    log::info!(
        "echo server listening on {scheme}://{}",
        server.local_addr()
    );
    server.run()
}
