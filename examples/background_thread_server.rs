//! The article's class-based server: a uuid registry with register / send /
//! unregister (reused from `wsloop::chat`), an acknowledgement of every
//! message, and the event loop on a background thread so the main thread
//! stays free to push a message to every client each second.
//!
//! `cargo run --example background_thread_server [ADDR]` (default 127.0.0.1:9090).

use std::time::Duration;

use wsloop::chat::Chat;
use wsloop::ws::Request;
use wsloop::{Config, Handler, Message, Server, WebSocket};

/// Acknowledges every message, then lets the chat registry handle the
/// JSON commands among them.
struct Registry(Chat);

impl Handler for Registry {
    fn on_open(&mut self, ws: &mut WebSocket<'_>, request: &Request) {
        self.0.on_open(ws, request); // sends {"type":"handshake"}
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let text = String::from_utf8_lossy(msg.as_bytes());
        let _ = ws.send_text(&format!("Get message: {text}"));
        if text.starts_with('{') {
            self.0.on_message(ws, msg);
        }
    }

    fn on_close(&mut self, ws: &mut WebSocket<'_>, code: u16, reason: &str) {
        self.0.on_close(ws, code, reason); // an implicit unregister
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:9090".into());
    let server = Server::spawn(addr.parse().expect("address"), Config::default(), || {
        Registry(Chat::new())
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
