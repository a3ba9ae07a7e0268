//! The article's interactive client: says `Hi` until the server answers
//! `success`, then sends each line typed; `exit` closes with reason `exit`.
//!
//! `cargo run --example app_handshake_client [URL]` (default ws://127.0.0.1:9090).

use std::io::{self, BufRead, Write};

use wsloop::client::{self, ClientError};

fn main() -> Result<(), ClientError> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or("ws://127.0.0.1:9090".into());
    let mut ws = client::connect(&url)?;
    loop {
        ws.send_text("Hi")?;
        let reply = ws.recv()?;
        let reply = String::from_utf8_lossy(reply.as_bytes());
        println!("{reply}");
        if reply.contains("success") {
            break;
        }
    }
    let mut lines = io::stdin().lock().lines();
    loop {
        print!("> ");
        io::stdout().flush()?;
        // End of input counts as `exit`.
        let line = lines.next().transpose()?.unwrap_or("exit".into());
        if line.trim() == "exit" {
            return ws.close(1000, "exit");
        }
        ws.send_text(&line)?;
        let reply = ws.recv()?;
        println!("{}", String::from_utf8_lossy(reply.as_bytes()));
    }
}
