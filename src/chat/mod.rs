//! The article's chat room as a [`Handler`]: JSON messages over WebSocket,
//! and a single-page browser client served over plain HTTP on the same port.
//!
//! Protocol (see [`messages`]): the server greets every connection with
//! `{"type":"handshake"}`; `register` joins under a uuid, `send` speaks,
//! `unregister` leaves. Unlike the article's server, a disconnect counts
//! as leaving, and a bad message gets an `error` answer to its sender only.
//!
//! Every broadcast is encoded once and queued to each registered user in
//! order, so a client that keeps up sees every message in the order the
//! server handled them. A client that does not keep up is dealt with by
//! [`Config::overflow`](crate::Config::overflow) without holding up others.

pub mod event_log;
pub mod messages;

use std::collections::{BTreeMap, HashMap};

use crate::reactor::ConnId;
use crate::websocket::{Handler, WebSocket};
use crate::ws::{HttpRequest, HttpResponse, Message, Request};

pub use event_log::EventLog;
use messages::{Incoming, Outgoing};

/// The browser client, served at `/`.
pub const PAGE: &str = include_str!("page.html");

/// Longest uuid accepted.
const MAX_UUID: usize = 64;

/// The chat room: who is registered, on which connection.
#[derive(Default)]
pub struct Chat {
    by_uuid: BTreeMap<String, ConnId>,
    by_conn: HashMap<ConnId, String>,
    log: Option<EventLog>,
}

impl Chat {
    /// An empty room.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also appends every event to `log`.
    pub fn with_log(mut self, log: EventLog) -> Self {
        self.log = Some(log);
        self
    }

    /// Registered uuids, sorted.
    pub fn users(&self) -> Vec<&str> {
        self.by_uuid.keys().map(String::as_str).collect()
    }

    fn record(&mut self, ws: &mut WebSocket<'_>, kind: &str, uuid: Option<&str>) {
        if let Some(log) = &mut self.log {
            log.record(ws.peer_addr(), kind, uuid);
        }
    }

    /// Sends `msg` to every registered user, one shared frame for all.
    fn broadcast(&self, ws: &mut WebSocket<'_>, msg: &Outgoing<'_>) {
        let text = msg.to_json();
        let ids: Vec<ConnId> = self.by_uuid.values().copied().collect();
        ws.send_to_many(ids, Message::Text(&text));
    }

    fn refuse(&mut self, ws: &mut WebSocket<'_>, reason: &str) {
        let peer = ws.peer_addr();
        log::info!("{peer}: chat message refused: {reason}");
        let uuid = self.by_conn.get(&ws.id()).cloned();
        self.record(ws, "error", uuid.as_deref());
        let _ = ws.send_text(&Outgoing::Error { reason }.to_json());
    }

    fn register(&mut self, ws: &mut WebSocket<'_>, uuid: String, content: &str) {
        if let Some(current) = self.by_conn.get(&ws.id()) {
            let reason = format!("already registered as {current:?}");
            return self.refuse(ws, &reason);
        }
        if uuid.is_empty() || uuid.chars().count() > MAX_UUID {
            let reason = format!("uuid must have 1 to {MAX_UUID} characters");
            return self.refuse(ws, &reason);
        }
        if self.by_uuid.contains_key(&uuid) {
            return self.refuse(ws, "uuid already taken");
        }
        self.by_uuid.insert(uuid.clone(), ws.id());
        self.by_conn.insert(ws.id(), uuid.clone());
        self.record(ws, "register", Some(&uuid));
        let login = Outgoing::Login {
            content,
            user_list: self.users(),
        };
        self.broadcast(ws, &login);
    }

    fn say(&mut self, ws: &mut WebSocket<'_>, content: &str) {
        let Some(from) = self.by_conn.get(&ws.id()).cloned() else {
            return self.refuse(ws, "register first");
        };
        self.record(ws, "send", Some(&from));
        self.broadcast(
            ws,
            &Outgoing::User {
                content,
                from: &from,
            },
        );
    }

    /// Removes this connection's user and tells the others; `explicit` is
    /// an `unregister` (the leaver is told too) rather than a disconnect.
    fn leave(&mut self, ws: &mut WebSocket<'_>, content: Option<&str>, explicit: bool) {
        let Some(uuid) = self.by_conn.remove(&ws.id()) else {
            return;
        };
        self.by_uuid.remove(&uuid);
        self.record(
            ws,
            if explicit { "unregister" } else { "disconnect" },
            Some(&uuid),
        );
        let default = format!("{uuid} left");
        let logout = Outgoing::Logout {
            content: content.unwrap_or(&default),
            user_list: self.users(),
        };
        if explicit {
            let _ = ws.send_text(&logout.to_json());
        }
        self.broadcast(ws, &logout);
    }
}

impl Handler for Chat {
    fn on_request(&mut self, request: &HttpRequest) -> Option<HttpResponse> {
        if request.is_upgrade() {
            return None;
        }
        let response = match (request.method.as_str(), request.path_only()) {
            ("GET" | "HEAD", "/" | "/index.html") => HttpResponse::html(PAGE),
            ("GET" | "HEAD", "/healthz") => HttpResponse::text(200, "ok"),
            (_, "/" | "/index.html" | "/healthz") => {
                HttpResponse::text(405, "method not allowed").with_header("Allow", "GET, HEAD")
            }
            _ => HttpResponse::not_found(),
        };
        Some(response)
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_>, _request: &Request) {
        self.record(ws, "connect", None);
        let _ = ws.send_text(&Outgoing::Handshake.to_json());
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let Message::Text(text) = msg else {
            return self.refuse(ws, "expected a JSON text message");
        };
        match serde_json::from_str::<Incoming>(text) {
            Ok(Incoming::Register { uuid, content }) => self.register(ws, uuid, &content),
            Ok(Incoming::Send { content }) => self.say(ws, &content),
            Ok(Incoming::Unregister { uuid, content }) => {
                let own = self.by_conn.get(&ws.id());
                match (own, uuid) {
                    (None, _) => self.refuse(ws, "not registered"),
                    (Some(own), Some(uuid)) if *own != uuid => {
                        self.refuse(ws, "can only unregister yourself")
                    }
                    _ => self.leave(ws, content.as_deref(), true),
                }
            }
            Err(e) => self.refuse(ws, &format!("bad message: {e}")),
        }
    }

    fn on_close(&mut self, ws: &mut WebSocket<'_>, _code: u16, _reason: &str) {
        if self.by_conn.contains_key(&ws.id()) {
            self.leave(ws, None, false);
        } else {
            self.record(ws, "disconnect", None);
        }
    }
}
