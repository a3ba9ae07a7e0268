//! `wsloop chat`: the chat server, with its browser page on the same port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wsloop::chat::redis::{RedisOptions, RedisRoom};
use wsloop::chat::{Chat, EventLog, Room, ServerCell, SharedRoom};
use wsloop::{Config, Server};

/// Options of `wsloop chat`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (the page is at http://ADDR/).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub addr: SocketAddr,
    /// Append one JSON line per chat event (time, peer, type, uuid) to this file.
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// Largest chat message accepted (bytes; k/m suffixes).
    #[arg(long, default_value = "64k", value_parser = super::parse_size)]
    pub max_message_size: usize,
    /// Most bytes queued for one client; past it a client that does not read is closed with 1008.
    #[arg(long, default_value = "1m", value_parser = super::parse_size)]
    pub max_write_buffer: usize,
    #[command(flatten)]
    pub workers: super::WorkerArgs,
    /// Share the room with other chat processes through Redis (redis://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// With --redis: a node's users are removed this long after its last heartbeat.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = super::parse_timeout)]
    pub redis_ttl: super::Timeout,
    #[command(flatten)]
    pub tls: super::tls::ServerTls,
    #[command(flatten)]
    pub metrics: super::MetricsArgs,
    #[command(flatten)]
    pub trace: super::TraceArgs,
    /// permessage-deflate settings.
    #[command(flatten)]
    pub deflate: super::deflate::DeflateArgs,
}

/// Runs the chat server until SIGINT/SIGTERM.
pub fn run(args: Args) -> std::io::Result<()> {
    let log = match &args.log_file {
        Some(path) => Some(EventLog::open(path)?),
        None => None,
    };
    let mut config = Config::default().with_max_message_size(args.max_message_size);
    // A chat has many small messages: a client this far behind is gone.
    config.max_write_buffer = args.max_write_buffer.max(args.max_message_size + 64);
    config.tls = args.tls.acceptor()?;
    config.metrics = args.metrics.on_server_port();
    config.deflate = args
        .deflate
        .config(wsloop::ws::Role::Server)
        .map_err(std::io::Error::other)?;
    config.trace = args.trace.filter();

    // The room outlives any one loop: it is made first, and learns the
    // server's handle once the server is bound.
    let cell = ServerCell::default();
    let mut redis = None;
    let room: Option<Arc<dyn Room>> = match &args.redis {
        Some(url) => {
            let mut options = RedisOptions::new(url);
            options.ttl = args.redis_ttl.0.unwrap_or(options.ttl);
            let node = RedisRoom::start(options, cell.clone())?;
            redis = Some(node.clone());
            Some(node)
        }
        None if args.workers.workers > 1 => Some(Arc::new(SharedRoom::new(cell.clone()))),
        None => None,
    };
    let w = args.workers;
    let mut server =
        Server::bind_workers_with(args.addr, config, w.workers, w.accept, move |worker| {
            let mut chat = Chat::new();
            if let Some(log) = log.as_ref().and_then(|l| l.try_clone().ok()) {
                chat = chat.with_log(log);
            }
            match &room {
                Some(room) => chat.in_room(room.clone(), worker),
                None => chat,
            }
        })?;
    let _ = cell.set(server.handle());
    args.metrics.serve_apart(server.metrics())?;
    let handle = server.handle();
    super::on_shutdown_signal(move || {
        let _ = handle.stop();
    })?;
    w.log(server.workers());
    let scheme = args.tls.scheme("https", "http");
    log::info!(
        "chat server listening on {scheme}://{}/",
        server.local_addr()
    );
    let result = server.run();
    if let Some(node) = redis {
        node.depart(Duration::from_secs(2));
    }
    result
}
