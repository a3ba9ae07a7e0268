//! What the peer echo servers share: their command line and their runtime.
//!
//! Each binary takes `--addr HOST:PORT` and `--threads N`. `--threads 1` runs a
//! current-thread tokio runtime, the fair match for wsloop's single event loop;
//! a larger N runs the multi-thread runtime with N workers.

use std::net::SocketAddr;

/// Options common to every peer server.
pub struct Args {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Runtime worker threads; 1 means a current-thread runtime.
    pub threads: usize,
}

impl Args {
    /// Reads `--addr` (default 127.0.0.1:9001) and `--threads` (default 1).
    pub fn parse() -> Args {
        let mut args = Args {
            addr: "127.0.0.1:9001".parse().unwrap(),
            threads: 1,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next();
            match (flag.as_str(), value) {
                ("--addr", Some(v)) => args.addr = v.parse().unwrap_or_else(|e| usage(&e)),
                ("--threads", Some(v)) => {
                    args.threads = v.parse().unwrap_or_else(|e| usage(&e));
                }
                _ => usage(&format!("unexpected argument {flag}")),
            }
        }
        if args.threads == 0 {
            usage(&"--threads must be at least 1");
        }
        args
    }

    /// A tokio runtime of the requested shape.
    pub fn runtime(&self) -> tokio::runtime::Runtime {
        let mut builder = if self.threads == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(self.threads);
            b
        };
        builder.enable_io().build().expect("tokio runtime")
    }
}

fn usage(err: &dyn std::fmt::Display) -> ! {
    eprintln!("{err}\nusage: SERVER [--addr HOST:PORT] [--threads N]");
    std::process::exit(2)
}
