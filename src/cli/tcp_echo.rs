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
    pub trace: super::TraceArgs,
}

/// Runs the TCP echo server until SIGINT/SIGTERM.
pub fn run(args: Args) -> std::io::Result<()> {
    let mut lp = EventLoop::<TcpEcho>::new(())?;
    let bound = lp.listen(args.addr, || TcpEcho)?;
    lp.set_trace(args.trace.filter());
    let handle = lp.handle();
    super::on_shutdown_signal(move || {
        let _ = handle.stop();
    })?;
    log::info!("tcp-echo listening on {bound}");
    lp.run()
}
