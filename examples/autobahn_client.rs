//! Drives the Autobahn|Testsuite fuzzing *server* with our client, to check
//! the client role: every case's messages are echoed back.
//!
//!   cargo run --release --example autobahn_client -- ws://127.0.0.1:9002 AGENT [--loop]
//!
//! By default the blocking `wsloop::client` runs each case; with `--loop` a
//! `WsProtocol::client` connection on an event loop does. Both offer
//! permessage-deflate with the default settings. See
//! `scripts/autobahn-client.sh`.

use std::error::Error;
use std::time::Duration;

use wsloop::client::{self, ClientError, WsUrl};
use wsloop::ws::deflate::DeflateConfig;
use wsloop::{App, Config, EventLoop, Handler, Message, WebSocket, WsProtocol};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (base, agent) = match &args[..] {
        [base, agent, ..] => (base.trim_end_matches('/'), agent.as_str()),
        _ => return Err("usage: autobahn_client ws://HOST:PORT AGENT [--loop]".into()),
    };
    let on_loop = args.iter().any(|a| a == "--loop");

    let mut counter = client::connect(&format!("{base}/getCaseCount"))?;
    let count: u32 = counter.recv()?.as_text().unwrap_or("0").parse()?;
    let _ = counter.close(1000, "");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if on_loop {
            run_on_loop(&url)?;
        } else {
            run_blocking(&url);
        }
    }
    let mut reports = client::connect(&format!("{base}/updateReports?agent={agent}"))?;
    let _ = reports.close(1000, "");
    println!("ran {count} cases as {agent}");
    Ok(())
}

fn run_blocking(url: &str) {
    let options = client::ConnectOptions {
        deflate: DeflateConfig::default(),
        ..Default::default()
    };
    let mut ws = match client::connect_with(url, &options) {
        Ok(ws) => ws,
        Err(e) => return eprintln!("{url}: {e}"),
    };
    loop {
        match ws.recv() {
            Ok(msg) => {
                if ws.send(msg.as_message()).is_err() {
                    return;
                }
            }
            Err(ClientError::Closed { .. }) | Err(ClientError::Protocol { .. }) => return,
            Err(e) => return eprintln!("{url}: {e}"),
        }
    }
}

struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let _ = ws.send(msg);
    }
}

fn run_on_loop(url: &str) -> Result<(), Box<dyn Error>> {
    let parsed = WsUrl::parse(url)?;
    let addr = parsed.socket_addrs()?[0];
    let config = Config::default().with_deflate(DeflateConfig::default());
    let mut lp = EventLoop::new(App::new(Echo, config))?;
    lp.connect(addr, WsProtocol::client(parsed.client_request(&[])))?;
    while lp.open_connections() > 0 {
        lp.turn(Some(Duration::from_millis(100)))?;
    }
    Ok(())
}
