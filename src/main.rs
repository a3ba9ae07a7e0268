//! The `wsloop` command line: thin wrappers over the library, one module
//! per subcommand under `src/cli/`.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Chat server with a browser page (default http://127.0.0.1:9090/).
    Chat(cli::chat::Args),
    /// WebSocket echo server (default ws://127.0.0.1:9001).
    ///
    /// Durations are written like 10s, 500ms or 2m. On SIGINT or SIGTERM the
    /// server stops accepting, closes every connection with 1001, waits for
    /// the closing handshakes (at most the close timeout) and exits 0; a
    /// second signal exits at once with status 130.
    Echo(cli::echo::Args),
    /// Raw TCP echo server: the baseline for benchmarks (default 127.0.0.1:9000).
    TcpEcho(cli::tcp_echo::Args),
    /// Interactive client: sends stdin lines, prints what arrives (`exit` closes).
    Client(cli::client::Args),
    /// Load generator: echo throughput and latency, or connect rate (--connect-rate).
    Bench(cli::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.verbose, "info");
    let result = match cli.command {
        Command::Chat(args) => cli::chat::run(args),
        Command::Echo(args) => cli::echo::run(args),
        Command::TcpEcho(args) => cli::tcp_echo::run(args),
        Command::Client(args) => cli::client::run(args),
        Command::Bench(args) => cli::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsloop: {e}");
            ExitCode::FAILURE
        }
    }
}
