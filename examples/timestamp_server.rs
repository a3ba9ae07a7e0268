//! The article's timestamp server: answers each message with what it got
//! and the time.
//!
//! `cargo run --example timestamp_server [ADDR]` (default localhost:9999).

use std::time::SystemTime;

use wsloop::{Config, Handler, Message, Server, WebSocket};

struct Timestamp;

impl Handler for Timestamp {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let data = String::from_utf8_lossy(msg.as_bytes());
        let now = humantime::format_rfc3339_millis(SystemTime::now());
        let reply = format!("Data received as \"{data}\". time: {now}");
        println!("{reply}");
        let _ = ws.send_text(&reply);
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:9999".into());
    let server = Server::bind(addr.parse().expect("address"), Config::default(), Timestamp)?;
    println!("listening on ws://{}", server.local_addr());
    server.run()
}
