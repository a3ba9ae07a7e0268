//! The article's class-based server: the event loop runs on a background
//! thread, and the main thread pushes a message to every client each second
//! through the server's handle.
//!
//! `cargo run --example background_thread_server [ADDR]` (default 127.0.0.1:9090).

use std::time::Duration;

use wsloop::ws::Request;
use wsloop::{Config, Handler, Message, Server, WebSocket};

/// Greets each connection and acknowledges every message.
struct Acknowledge;

impl Handler for Acknowledge {
    fn on_open(&mut self, ws: &mut WebSocket<'_, Self>, _request: &Request) {
        let _ = ws.send_text(r#"{"type": "handshake"}"#);
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, Self>, msg: Message<'_>) {
        let text = String::from_utf8_lossy(msg.as_bytes());
        let _ = ws.send_text(&format!("Get message: {text}"));
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:9090".into());
    let server = Server::spawn(addr.parse().expect("address"), Config::default(), || {
        Acknowledge
    })?;
    let handle = server.handle.clone();
    println!("listening on ws://{}", handle.local_addr());
    // The main thread is free: here it pushes a message every second.
    for tick in 1.. {
        std::thread::sleep(Duration::from_secs(1));
        let clients = handle.connections().map_or(0, |c| c.len());
        if handle
            .broadcast(Message::Text(&format!("tick {tick}")))
            .is_err()
        {
            break;
        }
        println!("tick {tick} pushed to {clients} client(s)");
    }
    server.join()
}
