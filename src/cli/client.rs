//! `wsloop client`: an interactive client, like the article's.
//!
//! Lines typed on stdin go out as text messages and what arrives is
//! printed. `exit` closes with reason `exit`; at the end of stdin it waits
//! (bounded by `--wait`) for the replies to what it sent, then closes with
//! 1000. So it works in a pipe: `echo hi | wsloop client ws://127.0.0.1:9001/`.
//!
//! It runs on the event loop in client role: the loop owns the socket on the
//! main thread, and a thread reading stdin posts to it through a
//! `LoopHandle`, the same way any other thread talks to a loop.

use std::io::{self, BufRead};
use std::time::{Duration, Instant};

use wsloop::client::WsUrl;
use wsloop::ws::Request;
use wsloop::{
    App, Config, ConnId, EventLoop, Handler, LoopHandle, Message, WebSocket, WsCommand, WsProtocol,
};

use super::{parse_timeout, Timeout};

/// Options of `wsloop client`.
#[derive(clap::Args)]
pub struct Args {
    /// Server URL, e.g. ws://127.0.0.1:9001/ or wss://example.com/
    pub url: String,
    /// Subprotocol to offer (repeatable).
    #[arg(long = "protocol")]
    pub protocols: Vec<String>,
    /// At the end of stdin, wait this long at most for outstanding replies.
    #[arg(long, default_value = "5s", value_parser = parse_timeout)]
    pub wait: Timeout,
    #[command(flatten)]
    pub tls: super::tls::ClientTls,
    /// permessage-deflate settings.
    #[command(flatten)]
    pub deflate: super::deflate::DeflateArgs,
}

/// What the loop thread knows about the one connection.
#[derive(Default)]
struct Console {
    opened: bool,
    /// Messages sent from stdin, and messages received.
    sent: u64,
    received: u64,
    /// When stdin ended.
    stdin_done: Option<Instant>,
    closing: bool,
    closed: Option<(u16, String)>,
    connect_error: Option<String>,
}

impl Handler for Console {
    fn on_open(&mut self, _ws: &mut WebSocket<'_>, request: &Request) {
        self.opened = true;
        match &request.subprotocol {
            Some(p) => eprintln!("connected (subprotocol {p})"),
            None => eprintln!("connected"),
        }
    }

    fn on_message(&mut self, _ws: &mut WebSocket<'_>, msg: Message<'_>) {
        self.received += 1;
        match msg {
            Message::Text(text) => println!("{text}"),
            Message::Binary(data) => println!("[binary message, {} bytes]", data.len()),
        }
    }

    fn on_close(&mut self, _ws: &mut WebSocket<'_>, code: u16, reason: &str) {
        eprintln!("closed ({code}) {reason}");
        self.closed = Some((code, reason.to_string()));
    }

    fn on_connect_error(&mut self, _ws: &mut WebSocket<'_>, reason: &str) {
        self.connect_error = Some(reason.to_string());
    }
}

type ConsoleLoop = EventLoop<WsProtocol<Console>>;

/// Connects, then relays stdin and the connection until it closes.
pub fn run(args: Args) -> io::Result<()> {
    let url = WsUrl::parse(&args.url).map_err(io::Error::other)?;
    let addr = url.socket_addrs().map_err(io::Error::other)?[0];
    let protocols: Vec<&str> = args.protocols.iter().map(String::as_str).collect();
    // An interactive session may sit quiet for long: keepalive pings keep
    // middleboxes from dropping it, and there is no idle timeout.
    let mut config = Config::default();
    config.deflate = args
        .deflate
        .config(wsloop::ws::Role::Client)
        .map_err(io::Error::other)?;
    let mut lp: ConsoleLoop = EventLoop::new(App::new(Console::default(), config))?;
    let protocol = WsProtocol::client(url.client_request(&protocols));
    let id = if url.secure {
        lp.connect_tls(addr, &args.tls.connector(&url.host)?, protocol)?
    } else {
        lp.connect(addr, protocol)?
    };
    let wait = args.wait.0.unwrap_or(Duration::ZERO);
    let mut stdin_started = false;
    loop {
        lp.turn(Some(Duration::from_millis(100)))?;
        let console = &mut lp.shared().handler;
        if let Some(reason) = &console.connect_error {
            return Err(io::Error::other(format!(
                "cannot connect to {url}: {reason}"
            )));
        }
        if console.opened && !stdin_started {
            stdin_started = true;
            spawn_stdin_reader(lp.handle(), id)?;
        }
        let console = &mut lp.shared().handler;
        if let Some(done) = console.stdin_done {
            let answered = console.received >= console.sent;
            if !console.closing && (answered || done.elapsed() >= wait) {
                console.closing = true;
                let _ = lp.handle().send_to(id, close_command(""));
            }
        }
        if lp.open_connections() == 0 {
            break;
        }
    }
    match lp.shared().handler.closed.take() {
        Some((1006, reason)) => Err(io::Error::other(format!("connection lost: {reason}"))),
        _ => Ok(()),
    }
}

fn close_command(reason: &str) -> WsCommand {
    WsCommand::Close {
        code: 1000,
        reason: reason.into(),
    }
}

/// Reads stdin on its own thread (reading a terminal blocks) and posts
/// each line to the loop.
fn spawn_stdin_reader(handle: LoopHandle<WsProtocol<Console>>, id: ConnId) -> io::Result<()> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line.trim() == "exit" {
                    let _ = handle.run(|lp: &mut ConsoleLoop| lp.shared().handler.closing = true);
                    let _ = handle.send_to(id, close_command("exit"));
                    return;
                }
                let sent = handle
                    .send_to(id, WsCommand::send(Message::Text(&line)))
                    .and_then(|()| {
                        handle.run(|lp: &mut ConsoleLoop| lp.shared().handler.sent += 1)
                    });
                if sent.is_err() {
                    return;
                }
            }
            let _ = handle.run(|lp: &mut ConsoleLoop| {
                lp.shared().handler.stdin_done = Some(Instant::now());
            });
        })?;
    Ok(())
}
