//! The echo handler most tests run the server with.

use wsloop::{Handler, Message, WebSocket};

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
}

impl Handler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let sent = ws.send(msg);
        if self.strict {
            sent.expect("echo");
        }
    }
}
