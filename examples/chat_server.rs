//! The article's chat server, with its browser page at `http://ADDR/` and
//! every event appended to a log file as a JSON line.
//!
//! `cargo run --example chat_server [ADDR] [LOG]` (default 0.0.0.0:9090, chat.log).

use wsloop::chat::{Chat, EventLog};
use wsloop::{Config, Server};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or("0.0.0.0:9090".into());
    let log = args.next().unwrap_or("chat.log".into());
    let chat = Chat::new().with_log(EventLog::open(log.as_ref())?);
    let server = Server::bind(addr.parse().expect("address"), Config::default(), chat)?;
    println!("chat on http://{}/", server.local_addr());
    server.run()
}
