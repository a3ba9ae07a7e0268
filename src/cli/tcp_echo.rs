//! `wsloop tcp-echo`: the raw TCP baseline.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;

use wsloop::{EventLoop, TcpEcho};

/// Options of `wsloop tcp-echo`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub workers: super::WorkerArgs,
    #[command(flatten)]
    pub tls: super::tls::ServerTls,
    #[command(flatten)]
    pub trace: super::TraceArgs,
}

/// Runs the TCP echo server until SIGINT/SIGTERM.
pub fn run(args: Args) -> std::io::Result<()> {
    let w = args.workers;
    let tls = args.tls.acceptor()?;
    let over = args.tls.scheme(" over TLS", "");
    if w.workers == 1 {
        let mut lp = EventLoop::<TcpEcho>::new(())?;
        let bound = match tls {
            Some(tls) => lp.listen_tls(args.addr, tls, || TcpEcho)?,
            None => lp.listen(args.addr, || TcpEcho)?,
        };
        lp.set_trace(args.trace.filter());
        let handle = lp.handle();
        super::on_shutdown_signal(move || {
            let _ = handle.stop();
        })?;
        log::info!("tcp-echo{over} listening on {bound}");
        return lp.run();
    }
    // TcpEcho keeps no state, so each worker is a bare loop on its own
    // thread: nothing crosses between them.
    let listeners = wsloop::server::bind_listeners(args.addr, w.workers, w.accept)?;
    let bound = listeners[0].local_addr()?;
    let mut handles = Vec::new();
    let mut threads = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        // A loop is not `Send`: each is built on the thread that runs it.
        let (tx, rx) = mpsc::channel();
        let tls = tls.clone();
        let trace = args.trace.filter();
        threads.push(
            thread::Builder::new()
                .name(format!("wsloop-worker-{index}"))
                .spawn(move || -> std::io::Result<()> {
                    let mut lp = EventLoop::<TcpEcho>::new(())?;
                    lp.add_listener_with(listener, tls, || TcpEcho)?;
                    lp.set_trace(trace);
                    let _ = tx.send(lp.handle());
                    let result = lp.run();
                    log::info!("worker {index}: {} connection(s) served", lp.stats().total);
                    result
                })?,
        );
        match rx.recv() {
            Ok(handle) => handles.push(handle),
            Err(_) => {
                // That worker failed to start: stop the others, report its error.
                for handle in &handles {
                    let _ = handle.stop();
                }
                return join(threads);
            }
        }
    }
    super::on_shutdown_signal(move || {
        for handle in &handles {
            let _ = handle.stop();
        }
    })?;
    w.log(threads.len());
    log::info!("tcp-echo{over} listening on {bound}");
    join(threads)
}

fn join(threads: Vec<thread::JoinHandle<std::io::Result<()>>>) -> std::io::Result<()> {
    for thread in threads {
        thread
            .join()
            .map_err(|_| std::io::Error::other("worker thread panicked"))??;
    }
    Ok(())
}
