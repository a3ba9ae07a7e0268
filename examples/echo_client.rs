//! The article's echo client: sends one greeting and prints the answer.
//!
//! `cargo run --example echo_client [URL]` (default ws://localhost:8765).

use wsloop::client::{self, ClientError};

fn main() -> Result<(), ClientError> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or("ws://localhost:8765".into());
    let mut ws = client::connect(&url)?;
    let greeting = "Hello, server!";
    ws.send_text(greeting)?;
    println!("Sent: {greeting}");
    let reply = ws.recv()?;
    println!("Received: {}", String::from_utf8_lossy(reply.as_bytes()));
    ws.close(1000, "done")
}
