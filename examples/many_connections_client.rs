//! The article's timestamp client: many short-lived connections, each
//! sending one message and printing the answer.
//!
//! `cargo run --example many_connections_client [URL] [COUNT] [INTERVAL_MS]`
//! (defaults ws://localhost:9999, 39, 1000; or set `COUNT` / `INTERVAL_MS`).

use std::time::Duration;

use wsloop::client::{self, ClientError};

fn setting(position: usize, env: &str, default: u64) -> u64 {
    let value = std::env::args().nth(position).or(std::env::var(env).ok());
    value.map_or(default, |v| v.parse().expect("a number"))
}

fn main() -> Result<(), ClientError> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or("ws://localhost:9999".into());
    let count = setting(2, "COUNT", 39);
    let interval = Duration::from_millis(setting(3, "INTERVAL_MS", 1000));
    for i in 1..=count {
        let mut ws = client::connect(&url)?;
        ws.send_text("Hello, I am PyPy.")?;
        let reply = ws.recv()?;
        println!("{i}: {}", String::from_utf8_lossy(reply.as_bytes()));
        ws.close(1000, "")?;
        if i < count {
            std::thread::sleep(interval);
        }
    }
    Ok(())
}
