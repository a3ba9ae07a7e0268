//! The article's echo server: prints every message and answers `Echo: ...`.
//!
//! `cargo run --example echo_server [ADDR]` (default localhost:8765).

use wsloop::{Config, Handler, Message, Server, WebSocket};

struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let Message::Text(text) = msg else { return };
        println!("Received message: {text}");
        let _ = ws.send_text(&format!("Echo: {text}"));
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8765".into());
    let server = Server::bind(addr.parse().expect("address"), Config::default(), Echo)?;
    println!("listening on ws://{}", server.local_addr());
    server.run()
}
