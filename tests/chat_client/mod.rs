//! A chat user for the tests: a tungstenite client speaking the chat's
//! JSON protocol, with reads bounded by a timeout.
#![allow(dead_code)]

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One connected chat client.
pub struct User {
    ws: tungstenite::WebSocket<TcpStream>,
}

impl User {
    /// Connects and checks the greeting.
    pub fn connect(addr: SocketAddr) -> User {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
        let mut user = User { ws };
        assert_eq!(user.recv(), json!({"type": "handshake"}));
        user
    }

    /// Connects and registers as `uuid`; returns the user and its login notice.
    pub fn join(addr: SocketAddr, uuid: &str) -> (User, Value) {
        let mut user = User::connect(addr);
        user.send(json!({"type": "register", "uuid": uuid, "content": format!("{uuid} joined")}));
        let login = user.recv();
        assert_eq!(login["type"], "login", "{login}");
        assert_eq!(login["content"], format!("{uuid} joined"));
        (user, login)
    }

    /// Sends one JSON message.
    pub fn send(&mut self, value: Value) {
        self.ws
            .send(tungstenite::Message::text(value.to_string()))
            .unwrap();
    }

    /// Says `content`.
    pub fn say(&mut self, content: &str) {
        self.send(json!({"type": "send", "content": content}));
    }

    /// The next JSON message (panics after the 60 s read timeout).
    pub fn recv(&mut self) -> Value {
        self.try_recv(Duration::from_secs(60))
            .expect("a chat message in time")
    }

    /// The next JSON message within `limit`, or `None`.
    pub fn try_recv(&mut self, limit: Duration) -> Option<Value> {
        self.ws.get_ref().set_read_timeout(Some(limit)).unwrap();
        let start = Instant::now();
        loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).unwrap())
                }
                Ok(tungstenite::Message::Close(frame)) => panic!("closed: {frame:?}"),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return None
                }
                Err(e) => panic!("read: {e}"),
            }
            if start.elapsed() > limit {
                return None;
            }
        }
    }

    /// Reads until a message satisfies `want`, within `limit`; the ones
    /// before it are returned too, for the assertion message.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Result<Value, Vec<Value>> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.try_recv(left) {
                Some(v) if want(&v) => return Ok(v),
                Some(v) => seen.push(v),
                None => break,
            }
        }
        Err(seen)
    }

    /// Closes properly.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        while self.ws.read().is_ok() {}
    }
}
