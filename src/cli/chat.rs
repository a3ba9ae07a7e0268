//! `wsloop chat`: the chat server, with its browser page on the same port.

use std::net::SocketAddr;
use std::path::PathBuf;

use wsloop::chat::{Chat, EventLog};
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
    /// permessage-deflate settings.
    #[command(flatten)]
    pub deflate: super::deflate::DeflateArgs,
}

/// Runs the chat server until SIGINT/SIGTERM.
pub fn run(args: Args) -> std::io::Result<()> {
    let mut chat = Chat::new();
    if let Some(path) = &args.log_file {
        chat = chat.with_log(EventLog::open(path)?);
    }
    let mut config = Config::default().with_max_message_size(args.max_message_size);
    // A chat has many small messages: a client this far behind is gone.
    config.max_write_buffer = args.max_write_buffer.max(args.max_message_size + 64);
    config.deflate = args
        .deflate
        .config(wsloop::ws::Role::Server)
        .map_err(std::io::Error::other)?;
    let server = Server::bind(args.addr, config, chat)?;
    let handle = server.handle();
    super::on_shutdown_signal(move || {
        let _ = handle.stop();
    })?;
    log::info!("chat server listening on http://{}/", server.local_addr());
    server.run()
}
