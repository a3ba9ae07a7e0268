//! [`RedisRoom`]: one chat room shared by several chat processes (nodes)
//! through Redis, with the `redis` crate's blocking client on two helper
//! threads that feed the loops through their handles.
//!
//! What lives in Redis, under a prefix (`wsloop:chat` by default):
//!
//! - `PREFIX:users`, a hash uuid -> node id: the user list. `HSETNX` makes a
//!   name unique across nodes.
//! - `PREFIX:node:ID`, one key per node with a TTL that the node's heartbeat
//!   renews (every third of the TTL). A node that dies stops renewing; at
//!   their next heartbeat the surviving nodes find users whose node key is
//!   gone, remove them (`HDEL` decides which node announces each one) and
//!   announce the logout.
//! - `PREFIX:room`, the pub/sub channel every notice goes through, so each
//!   node hears every node's messages, its own included, in the order Redis
//!   took them.
//!
//! Delivery is at most once: a node that is disconnected from Redis misses
//! what was published meanwhile (pub/sub keeps nothing). Order per sender
//! holds, since one node publishes on one connection. While Redis is down,
//! a node goes on delivering its own users' messages locally, refuses
//! registrations (it cannot check the name), and reconnects; once back, it
//! puts its node key and its users in again (a restarted Redis may have
//! lost them), logging one line when the connection goes and one when it
//! is back.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redis::{Commands, Connection, RedisResult};
use serde::{Deserialize, Serialize};

use super::room::{self, Room, RoomBusy, Seat, ServerCell};

/// How many requests from the loops may wait for the Redis thread.
const QUEUE: usize = 4096;

/// How long one attempt to reach Redis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one Redis command may take before the connection counts as lost.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings of a node.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// `redis://HOST:PORT`.
    pub url: String,
    /// How long a node's users outlive its last heartbeat.
    pub ttl: Duration,
    /// Prefix of every key and of the channel.
    pub prefix: String,
}

impl RedisOptions {
    /// Defaults for `url`: a 10 s TTL, prefix `wsloop:chat`.
    pub fn new(url: &str) -> Self {
        RedisOptions {
            url: url.to_string(),
            ttl: Duration::from_secs(10),
            prefix: "wsloop:chat".into(),
        }
    }
}

enum Op {
    Join(Seat, String, String),
    Say(String, String),
    Leave(String, Option<String>, Option<Seat>),
    Abandon(Seat, String),
    /// The node stops: remove its users and its key, then acknowledge.
    Depart(mpsc::Sender<()>),
}

/// A chat room shared through Redis; see the module documentation.
pub struct RedisRoom {
    ops: SyncSender<Op>,
    id: String,
}

impl RedisRoom {
    /// Connects to Redis (failing at once if it cannot be reached, so a
    /// wrong URL is reported at start) and starts the node's two threads:
    /// one for commands and the heartbeat, one for the subscription.
    pub fn start(options: RedisOptions, server: ServerCell) -> io::Result<Arc<RedisRoom>> {
        let client = redis::Client::open(options.url.as_str())
            .map_err(|e| io::Error::other(format!("redis URL {}: {e}", options.url)))?;
        let conn = open(&client)
            .map_err(|e| io::Error::other(format!("cannot reach redis at {}: {e}", options.url)))?;
        let id = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
        let keys = Keys::new(&options.prefix, &id);
        let health = Arc::new(Health::default());
        let pending = Arc::new(Pending::default());
        let (ops, rx) = mpsc::sync_channel(QUEUE);
        let node = Node {
            client: client.clone(),
            conn: Some(conn),
            keys: keys.clone(),
            ttl: options.ttl,
            local: BTreeMap::new(),
            server: server.clone(),
            health: health.clone(),
            pending: pending.clone(),
        };
        thread::Builder::new()
            .name("chat-redis".into())
            .spawn(move || node.run(rx))?;
        thread::Builder::new()
            .name("chat-redis-sub".into())
            .spawn(move || subscribe(client, keys, server, health, pending))?;
        log::info!("chat node {id} shares its room through {}", options.url);
        Ok(Arc::new(RedisRoom { ops, id }))
    }

    /// This node's id in Redis.
    pub fn node_id(&self) -> &str {
        &self.id
    }

    /// Takes this node's users out of Redis (after the requests queued
    /// before), waiting at most `limit`: for a graceful exit.
    pub fn depart(&self, limit: Duration) {
        let (tx, rx) = mpsc::channel();
        if self.ops.send(Op::Depart(tx)).is_ok() {
            let _ = rx.recv_timeout(limit);
        }
    }

    fn queue(&self, op: Op) -> Result<(), RoomBusy> {
        match self.ops.try_send(op) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(RoomBusy),
        }
    }
}

impl Room for RedisRoom {
    fn join(&self, seat: Seat, uuid: String, content: String) -> Result<(), RoomBusy> {
        self.queue(Op::Join(seat, uuid, content))
    }

    fn abandon(&self, seat: Seat, uuid: String) -> Result<(), RoomBusy> {
        self.queue(Op::Abandon(seat, uuid))
    }

    fn say(&self, from: String, content: String) -> Result<(), RoomBusy> {
        self.queue(Op::Say(from, content))
    }

    fn leave(
        &self,
        uuid: String,
        content: Option<String>,
        notify: Option<Seat>,
    ) -> Result<(), RoomBusy> {
        self.queue(Op::Leave(uuid, content, notify))
    }
}

#[derive(Clone)]
struct Keys {
    users: String,
    room: String,
    prefix: String,
    node: String,
    id: String,
}

impl Keys {
    fn new(prefix: &str, id: &str) -> Self {
        Keys {
            users: format!("{prefix}:users"),
            room: format!("{prefix}:room"),
            prefix: prefix.to_string(),
            node: format!("{prefix}:node:{id}"),
            id: id.to_string(),
        }
    }

    fn node_of(&self, id: &str) -> String {
        format!("{}:node:{id}", self.prefix)
    }
}

/// Whether Redis is reachable, shared by both threads so that an outage is
/// logged once, and its end once.
#[derive(Default)]
struct Health {
    down: AtomicBool,
}

impl Health {
    fn lost(&self, e: &redis::RedisError) {
        if !self.down.swap(true, Ordering::SeqCst) {
            log::warn!("redis connection lost ({e}); reconnecting");
        }
    }

    fn restored(&self) {
        if self.down.swap(false, Ordering::SeqCst) {
            log::info!("redis reconnected");
        }
    }
}

fn open(client: &redis::Client) -> RedisResult<Connection> {
    let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}

/// The command thread's state: its connection and the users it registered.
struct Node {
    client: redis::Client,
    conn: Option<Connection>,
    keys: Keys,
    ttl: Duration,
    /// The uuids this node put in the user list, and where their users
    /// sit, to restore them after a Redis restart.
    local: BTreeMap<String, Seat>,
    server: ServerCell,
    health: Arc<Health>,
    pending: Arc<Pending>,
}

impl Node {
    fn run(mut self, ops: Receiver<Op>) {
        let beat = self.ttl / 3;
        let mut next_beat = Instant::now();
        loop {
            if Instant::now() >= next_beat {
                self.heartbeat();
                next_beat = Instant::now() + beat;
            }
            match ops.recv_timeout(next_beat.saturating_duration_since(Instant::now())) {
                Ok(Op::Join(seat, uuid, content)) => self.join(seat, uuid, &content),
                Ok(Op::Say(from, content)) => self.publish(&room::user_text(&from, &content)),
                Ok(Op::Leave(uuid, content, notify)) => self.leave(uuid, content, notify),
                Ok(Op::Abandon(seat, uuid)) => {
                    // Only if the name went to that very connection.
                    if self.local.get(&uuid) == Some(&seat) {
                        self.leave(uuid, None, None);
                    }
                }
                Ok(Op::Depart(done)) => {
                    self.depart();
                    let _ = done.send(());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.depart(),
            }
        }
    }

    /// Runs `command` on the connection, reconnecting first if there is
    /// none, and once more if it fails (a connection from before a Redis
    /// restart fails on first use). `None` when Redis cannot be reached.
    fn redis<T>(
        &mut self,
        mut command: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Option<T> {
        for attempt in 0..2 {
            if self.conn.is_none() && !self.reconnect() {
                return None;
            }
            let conn = self.conn.as_mut()?;
            match command(conn) {
                Ok(value) => return Some(value),
                Err(e) => {
                    self.conn = None;
                    if attempt == 1 {
                        self.health.lost(&e);
                    }
                }
            }
        }
        None
    }

    /// Opens a new connection and puts back what a restarted Redis lost:
    /// this node's key and its users.
    fn reconnect(&mut self) -> bool {
        let restored = open(&self.client).and_then(|mut conn| {
            conn.pset_ex::<_, _, ()>(&self.keys.node, 1, self.ttl.as_millis() as u64)?;
            for uuid in self.local.keys() {
                conn.hset::<_, _, _, ()>(&self.keys.users, uuid, &self.keys.id)?;
            }
            Ok(conn)
        });
        match restored {
            Ok(conn) => {
                self.conn = Some(conn);
                self.health.restored();
                true
            }
            Err(e) => {
                self.health.lost(&e);
                false
            }
        }
    }

    /// Everyone registered, sorted.
    fn user_list(&mut self) -> Option<Vec<String>> {
        let key = self.keys.users.clone();
        let mut users: Vec<String> = self.redis(|c| c.hkeys(&key))?;
        users.sort();
        Some(users)
    }

    /// Publishes `text` to every node. When Redis is unreachable, this
    /// node's own users still get it.
    fn publish(&mut self, text: &str) {
        self.publish_envelope(Envelope {
            admit: None,
            text: text.into(),
        })
    }

    fn publish_envelope(&mut self, envelope: Envelope<'_>) {
        let channel = self.keys.room.clone();
        let payload = serde_json::to_string(&envelope).unwrap_or_default();
        if self
            .redis(|c| c.publish::<_, _, ()>(&channel, &payload))
            .is_some()
        {
            return;
        }
        if let Some(server) = self.server.get() {
            if let Some((_, uuid)) = &envelope.admit {
                if let Some(seat) = self.pending.take(uuid) {
                    room::admit(server, seat, uuid.to_string());
                }
            }
            room::deliver_everywhere(server, &envelope.text);
        }
    }

    fn join(&mut self, seat: Seat, uuid: String, content: &str) {
        let Some(server) = self.server.get().cloned() else {
            return;
        };
        let (users, id) = (self.keys.users.clone(), self.keys.id.clone());
        match self.redis(|c| c.hset_nx(&users, &uuid, &id)) {
            None => room::refuse(&server, seat, uuid, "chat backend unavailable".into()),
            Some(false) => room::refuse(&server, seat, uuid, "uuid already taken".into()),
            Some(true) => {
                self.local.insert(uuid.clone(), seat);
                // The newcomer becomes a user of its worker when its own
                // login notice comes back from Redis, and not before: every
                // notice published earlier reaches this node first, and so
                // is not delivered to someone who was not there yet.
                self.pending.put(uuid.clone(), seat);
                let list = self.user_list().unwrap_or_default();
                let list: Vec<&str> = list.iter().map(String::as_str).collect();
                let text = room::login_text(content, &list);
                self.publish_envelope(Envelope {
                    admit: Some((id.into(), uuid.into())),
                    text: text.into(),
                });
            }
        }
    }

    fn leave(&mut self, uuid: String, content: Option<String>, notify: Option<Seat>) {
        self.local.remove(&uuid);
        // A newcomer who left before its login came back is never admitted.
        self.pending.take(&uuid);
        let users = self.keys.users.clone();
        if self.redis(|c| c.hdel::<_, _, usize>(&users, &uuid)) == Some(0) {
            // Already removed (a heartbeat found its node dead): announced then.
            return;
        }
        let list = self.user_list().unwrap_or_default();
        let list: Vec<&str> = list.iter().map(String::as_str).collect();
        let text = room::logout_text(&uuid, content.as_deref(), &list);
        if let (Some(seat), Some(server)) = (notify, self.server.get()) {
            room::deliver_to(server, seat, &text);
        }
        self.publish(&text);
    }

    /// Renews this node's key, then removes the users of nodes whose key
    /// has expired and announces their departure.
    fn heartbeat(&mut self) {
        let (node, ttl) = (self.keys.node.clone(), self.ttl.as_millis() as u64);
        if self
            .redis(|c| c.pset_ex::<_, _, ()>(&node, 1, ttl))
            .is_none()
        {
            return;
        }
        let users = self.keys.users.clone();
        let Some(all) = self.redis(|c| c.hgetall::<_, Vec<(String, String)>>(&users)) else {
            return;
        };
        let mut dead = BTreeSet::new();
        let mut alive = BTreeSet::new();
        let mut gone = Vec::new();
        for (uuid, owner) in all {
            if owner == self.keys.id || alive.contains(&owner) {
                continue;
            }
            if !dead.contains(&owner) {
                let key = self.keys.node_of(&owner);
                match self.redis(|c| c.exists::<_, bool>(&key)) {
                    Some(true) => {
                        alive.insert(owner);
                        continue;
                    }
                    Some(false) => {
                        dead.insert(owner.clone());
                    }
                    None => return,
                }
            }
            // Only the node whose HDEL removed the user announces it.
            if self.redis(|c| c.hdel::<_, _, usize>(&users, &uuid)) == Some(1) {
                log::info!("chat: {uuid} removed: node {owner} stopped renewing its key");
                gone.push(uuid);
            }
        }
        for uuid in gone {
            let list = self.user_list().unwrap_or_default();
            let list: Vec<&str> = list.iter().map(String::as_str).collect();
            self.publish(&room::logout_text(&uuid, None, &list));
        }
    }

    fn depart(&mut self) {
        let (users, node) = (self.keys.users.clone(), self.keys.node.clone());
        for uuid in std::mem::take(&mut self.local).into_keys() {
            self.redis(|c| c.hdel::<_, _, ()>(&users, &uuid));
        }
        self.redis(|c| c.del::<_, ()>(&node));
    }
}

/// The subscription thread: delivers every notice published on the room's
/// channel to the users of every worker of this node, reconnecting (with a
/// growing pause, at most a second) whenever the connection drops.
fn subscribe(
    client: redis::Client,
    keys: Keys,
    server: ServerCell,
    health: Arc<Health>,
    pending: Arc<Pending>,
) {
    let mut pause = Duration::from_millis(50);
    loop {
        let outcome: RedisResult<()> = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .and_then(|mut conn| {
                let mut sub = conn.as_pubsub();
                sub.subscribe(&keys.room)?;
                health.restored();
                pause = Duration::from_millis(50);
                loop {
                    let msg = sub.get_message()?;
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(&payload) else {
                        log::warn!("chat: ignoring a malformed notice from redis");
                        continue;
                    };
                    let Some(server) = server.get() else {
                        continue;
                    };
                    if let Some((node, uuid)) = &envelope.admit {
                        if *node == keys.id {
                            if let Some(seat) = pending.take(uuid) {
                                room::admit(server, seat, uuid.to_string());
                            }
                        }
                    }
                    room::deliver_everywhere(server, &envelope.text);
                }
            });
        if let Err(e) = outcome {
            health.lost(&e);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// What goes through the channel: a notice for every user, and for a login
/// the (node, uuid) whose node admits the newcomer on seeing it.
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    admit: Option<(Cow<'a, str>, Cow<'a, str>)>,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// Registrations waiting for their login notice to come back.
#[derive(Default)]
struct Pending {
    seats: Mutex<HashMap<String, Seat>>,
}

impl Pending {
    fn put(&self, uuid: String, seat: Seat) {
        self.lock().insert(uuid, seat);
    }

    fn take(&self, uuid: &str) -> Option<Seat> {
        self.lock().remove(uuid)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seat>> {
        self.seats.lock().unwrap_or_else(|e| e.into_inner())
    }
}
