//! The `wsloop` command line.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wsloop::{EventLoop, TcpEcho};

#[derive(Parser)]
#[command(
    name = "wsloop",
    version,
    about = "WebSocket server and client on a hand-written mio event loop"
)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raw TCP echo server: the baseline for benchmarks.
    TcpEcho {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        addr: SocketAddr,
    },
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::TcpEcho { addr } => run_tcp_echo(addr),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsloop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_tcp_echo(addr: SocketAddr) -> std::io::Result<()> {
    let mut lp = EventLoop::<TcpEcho>::new(())?;
    let bound = lp.listen(addr, || TcpEcho)?;
    eprintln!("wsloop tcp-echo listening on {bound}");
    lp.run()
}
