//! `wsloop tcp-echo`: the raw TCP baseline.

use std::net::SocketAddr;

use wsloop::{EventLoop, TcpEcho};

/// Options of `wsloop tcp-echo`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub tls: super::tls::ServerTls,
}

/// Runs the TCP echo server until SIGINT/SIGTERM.
pub fn run(args: Args) -> std::io::Result<()> {
    let mut lp = EventLoop::<TcpEcho>::new(())?;
    let bound = match args.tls.acceptor()? {
        Some(tls) => lp.listen_tls(args.addr, tls, || TcpEcho)?,
        None => lp.listen(args.addr, || TcpEcho)?,
    };
    let handle = lp.handle();
    super::on_shutdown_signal(move || {
        let _ = handle.stop();
    })?;
    let over = args.tls.scheme(" over TLS", "");
    log::info!("tcp-echo{over} listening on {bound}");
    lp.run()
}
