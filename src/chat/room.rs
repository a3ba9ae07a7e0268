//! A chat room larger than one event loop: the [`Room`] trait, the loop
//! tasks a room uses to reach the users of one worker, and [`SharedRoom`],
//! the room of one process with several workers.
//!
//! On one loop the [`Chat`] handler is the whole room. Once users sit on
//! several loops (workers of one server, or nodes sharing Redis), the
//! handler keeps only its own loop's users and asks a `Room` for the rest:
//! who is registered, and delivery to every loop. A room never calls back
//! into a handler directly; it posts tasks to the workers' loops through
//! their handles (never blocking: a worker that is
//! [`MESSAGE_QUEUE_CAPACITY`](crate::MESSAGE_QUEUE_CAPACITY) messages
//! behind misses a message rather than stall the sender).
//!
//! Delivery is at most once, in order per sender: each sender's messages
//! reach each worker through one FIFO channel. Two senders on different
//! workers may be seen in different orders by different users.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::messages::Outgoing;
use super::Chat;
use crate::reactor::{ConnId, EventLoop, TryPostError};
use crate::server::ServerHandle;
use crate::websocket::{WsCommand, WsProtocol};
use crate::ws::Message;

/// The loop of one chat worker.
pub type ChatLoop = EventLoop<WsProtocol<Chat>>;

/// The server a room delivers to, known once it is bound (the room exists
/// before the server, since the server's handlers hold the room).
pub type ServerCell = Arc<OnceLock<ServerHandle<Chat>>>;

/// Where a connection sits: its worker and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The worker serving the connection.
    pub worker: usize,
    /// The connection.
    pub conn: ConnId,
}

/// The room could not take the request now (its queue is full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomBusy;

/// A chat room spanning several loops. Every method returns at once; the
/// outcome arrives later as tasks on the loops concerned.
pub trait Room: Send + Sync + 'static {
    /// `seat` asks to join as `uuid`. The room answers on the seat's worker
    /// with [`admit`] (then everyone gets the login notice) or [`refuse`].
    fn join(&self, seat: Seat, uuid: String, content: String) -> Result<(), RoomBusy>;
    /// `seat` closed before the answer to its `join` as `uuid` came: if the
    /// name went to it, it leaves again (announced like a disconnect).
    fn abandon(&self, seat: Seat, uuid: String) -> Result<(), RoomBusy>;
    /// `from` says `content` to everyone.
    fn say(&self, from: String, content: String) -> Result<(), RoomBusy>;
    /// `uuid` leaves; everyone gets the logout notice, and so does `notify`
    /// (the leaver of an explicit `unregister`, no longer among the users).
    fn leave(
        &self,
        uuid: String,
        content: Option<String>,
        notify: Option<Seat>,
    ) -> Result<(), RoomBusy>;
}

/// The login notice for `uuid`'s arrival, given the users now registered.
pub(crate) fn login_text(content: &str, users: &[&str]) -> String {
    Outgoing::Login {
        content,
        user_list: users.to_vec(),
    }
    .to_json()
}

/// The logout notice for `uuid`'s departure.
pub(crate) fn logout_text(uuid: &str, content: Option<&str>, users: &[&str]) -> String {
    let default = format!("{uuid} left");
    Outgoing::Logout {
        content: content.unwrap_or(&default),
        user_list: users.to_vec(),
    }
    .to_json()
}

/// The chat message `content` from `from`.
pub(crate) fn user_text(from: &str, content: &str) -> String {
    Outgoing::User { content, from }.to_json()
}

/// Posts `task` to `worker` without blocking; a worker that is that far
/// behind misses it (at most once), which is logged.
fn post(
    server: &ServerHandle<Chat>,
    worker: usize,
    task: impl FnOnce(&mut ChatLoop) + Send + 'static,
) {
    match server.worker(worker).try_run(task) {
        Ok(()) => {}
        Err(TryPostError::Full) => log::warn!("chat: worker {worker} is behind; a message is lost"),
        Err(TryPostError::Gone) => {}
    }
}

/// Delivers `text` to the registered users of every worker of `server`,
/// encoded once for all of them.
pub fn deliver_everywhere(server: &ServerHandle<Chat>, text: &str) {
    let command = WsCommand::frame(Message::Text(text));
    for worker in 0..server.workers() {
        let command = command.clone();
        post(server, worker, move |lp| {
            let users: Vec<ConnId> = lp.shared().handler.by_uuid.values().copied().collect();
            for id in users {
                lp.send_to(id, command.clone());
            }
        });
    }
}

/// Sends `text` to the one connection at `seat`.
pub fn deliver_to(server: &ServerHandle<Chat>, seat: Seat, text: &str) {
    let command = WsCommand::send(Message::Text(text));
    post(server, seat.worker, move |lp| {
        lp.send_to(seat.conn, command)
    });
}

/// The room let `seat` in as `uuid`: it becomes one of its worker's users.
/// A connection that closed meanwhile has told the room already.
pub fn admit(server: &ServerHandle<Chat>, seat: Seat, uuid: String) {
    post(server, seat.worker, move |lp| {
        let chat = &mut lp.shared().handler;
        if chat.by_conn.get(&seat.conn) == Some(&uuid) {
            chat.by_uuid.insert(uuid, seat.conn);
        }
    });
}

/// The room turned `seat`'s request to join as `uuid` down.
pub fn refuse(server: &ServerHandle<Chat>, seat: Seat, uuid: String, reason: String) {
    post(server, seat.worker, move |lp| {
        let chat = &mut lp.shared().handler;
        if chat.by_conn.get(&seat.conn) == Some(&uuid) {
            chat.by_conn.remove(&seat.conn);
        }
        log::info!("chat: {uuid:?} refused: {reason}");
        let text = Outgoing::Error { reason: &reason }.to_json();
        lp.send_to(seat.conn, WsCommand::send(Message::Text(&text)));
    });
}

/// The room of one process whose chat runs on several workers: the user
/// list behind a mutex (taken once per register or leave, never per
/// message), delivery through the workers' loop handles.
pub struct SharedRoom {
    /// Everyone registered, and where.
    users: Mutex<BTreeMap<String, Seat>>,
    server: ServerCell,
}

impl SharedRoom {
    /// An empty room delivering to the server `server` will hold.
    pub fn new(server: ServerCell) -> Self {
        SharedRoom {
            users: Mutex::default(),
            server,
        }
    }

    fn users(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Seat>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Room for SharedRoom {
    fn join(&self, seat: Seat, uuid: String, content: String) -> Result<(), RoomBusy> {
        let Some(server) = self.server.get() else {
            return Err(RoomBusy);
        };
        let text = {
            let mut users = self.users();
            if users.contains_key(&uuid) {
                drop(users);
                refuse(server, seat, uuid, "uuid already taken".into());
                return Ok(());
            }
            users.insert(uuid.clone(), seat);
            let list: Vec<&str> = users.keys().map(String::as_str).collect();
            login_text(&content, &list)
        };
        // Posted before the notice, so the newcomer is a user when it comes.
        admit(server, seat, uuid);
        deliver_everywhere(server, &text);
        Ok(())
    }

    fn abandon(&self, seat: Seat, uuid: String) -> Result<(), RoomBusy> {
        if self.users().get(&uuid) != Some(&seat) {
            return Ok(());
        }
        self.leave(uuid, None, None)
    }

    fn say(&self, from: String, content: String) -> Result<(), RoomBusy> {
        let server = self.server.get().ok_or(RoomBusy)?;
        deliver_everywhere(server, &user_text(&from, &content));
        Ok(())
    }

    fn leave(
        &self,
        uuid: String,
        content: Option<String>,
        notify: Option<Seat>,
    ) -> Result<(), RoomBusy> {
        let server = self.server.get().ok_or(RoomBusy)?;
        let text = {
            let mut users = self.users();
            if users.remove(&uuid).is_none() {
                return Ok(());
            }
            let list: Vec<&str> = users.keys().map(String::as_str).collect();
            logout_text(&uuid, content.as_deref(), &list)
        };
        if let Some(seat) = notify {
            deliver_to(server, seat, &text);
        }
        deliver_everywhere(server, &text);
        Ok(())
    }
}
