//! The article's application-level handshake: a client must say `Hi`
//! before anything else it sends is accepted.
//!
//! `cargo run --example app_handshake_server [ADDR]` (default 127.0.0.1:9090).

use std::collections::HashSet;

use wsloop::ws::Request;
use wsloop::{Config, ConnId, Handler, Message, Server, WebSocket};

/// The connections that have said `Hi`.
#[derive(Default)]
struct AppHandshake {
    greeted: HashSet<ConnId>,
}

impl Handler for AppHandshake {
    fn on_open(&mut self, _ws: &mut WebSocket<'_>, request: &Request) {
        println!("new connection, path {}", request.path);
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let text = String::from_utf8_lossy(msg.as_bytes());
        let reply = if self.greeted.contains(&ws.id()) {
            format!("success,get mess: {text}")
        } else if text == "Hi" {
            self.greeted.insert(ws.id());
            "success".to_string()
        } else {
            "connected fail".to_string()
        };
        let _ = ws.send_text(&reply);
    }

    fn on_close(&mut self, ws: &mut WebSocket<'_>, code: u16, reason: &str) {
        self.greeted.remove(&ws.id());
        println!("connection closed: {code} {reason}");
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:9090".into());
    let handler = AppHandshake::default();
    let server = Server::bind(addr.parse().expect("address"), Config::default(), handler)?;
    println!("listening on ws://{}", server.local_addr());
    server.run()
}
