//! The echo handler most tests run the server with.

use wsloop::{Config, Handler, Message, RunningServer, Server, WebSocket};

/// Echoes every message back.
///
/// A strict echo treats a failed send as a test failure: the handler
/// panics, so the server closes the connection with 1011 and the test sees
/// it at once. A tolerant one drops the echo, for tests that close or
/// overflow connections on purpose while messages are still arriving.
#[derive(Clone, Copy, Debug)]
pub struct Echo {
    strict: bool,
}

impl Echo {
    /// Every echo must be sent.
    pub fn strict() -> Echo {
        Echo { strict: true }
    }

    /// An echo that cannot be sent is dropped.
    pub fn tolerant() -> Echo {
        Echo { strict: false }
    }

    /// A strict echo server with the default configuration on a free
    /// loopback port, its loop on a thread of its own.
    pub fn serve() -> RunningServer<Echo> {
        Server::spawn(
            "127.0.0.1:0".parse().unwrap(),
            Config::default(),
            Echo::strict,
        )
        .unwrap()
    }
}

impl Handler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let sent = ws.send(msg);
        if self.strict {
            sent.expect("echo");
        }
    }
}
