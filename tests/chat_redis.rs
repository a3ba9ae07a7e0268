//! `wsloop chat --redis`: two chat processes share one room through a real
//! `redis-server` that each test starts on a free port and stops by PID.
//! Users of both nodes see each other's logins, messages and departures;
//! the users of a node killed with SIGKILL disappear once its key expires;
//! a Redis restart in the middle of a chat is survived.
//!
//! redis-server must be installed (scripts/test.sh installs it); without it
//! these tests fail, saying so.

mod chat_client;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chat_client::User;
use common::process::Process;
use common::{wait_until, DEADLINE};
use serde_json::{json, Value};

/// The TTL the nodes run with: short, so a dead node is noticed quickly.
const TTL: &str = "2s";

/// A `redis-server` of our own, without persistence, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one on a free port. The port is free when the kernel hands it
    /// out, but another process may take it before redis-server binds it; then
    /// our child exits and we try another port.
    fn start() -> Redis {
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if let Some(redis) = Redis::try_start_on(port) {
                return redis;
            }
        }
        panic!("redis-server could not bind any of 10 free ports");
    }

    /// Starts one on `port`, which must be free (a restart on the same port).
    fn start_on(port: u16) -> Redis {
        Redis::try_start_on(port)
            .unwrap_or_else(|| panic!("redis-server could not bind port {port}"))
    }

    /// `None` if redis-server exited, which it does when the port is taken.
    /// Ready means our own child answered: a bare TCP connect could reach
    /// whoever else holds the port, or the probing socket itself.
    fn try_start_on(port: u16) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it with scripts/test.sh (apt-get install redis-server)")
            });
        let mut redis = Redis { child, port };
        let mut exited = false;
        wait_until("redis-server answering", || {
            exited = matches!(redis.child.try_wait(), Ok(Some(_)));
            exited || redis.pid_answering() == Some(redis.child.id())
        });
        (!exited).then_some(redis)
    }

    /// The `process_id` of the Redis answering on our port, if one does.
    fn pid_answering(&self) -> Option<u32> {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        stream.write_all(b"INFO server\r\n").ok()?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&reply);
            if let Some(rest) = text.split("process_id:").nth(1) {
                if let Some((pid, _)) = rest.split_once("\r\n") {
                    return pid.parse().ok();
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => reply.extend_from_slice(&chunk[..n]),
            }
            if reply.len() > 1 << 16 {
                return None;
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops it by its PID and waits until it is gone.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `wsloop chat` process and the address it listens on.
struct Node {
    process: Process,
    addr: SocketAddr,
}

impl Node {
    fn log_lines(&mut self, needle: &str) -> Vec<String> {
        self.process.log_lines(needle)
    }

    fn signal(&self, signal: i32) {
        self.process.signal(signal);
    }
}

fn node(redis: &Redis) -> Node {
    node_with(redis, &[])
}

fn node_with(redis: &Redis, more: &[&str]) -> Node {
    let url = redis.url();
    let mut args = vec![
        "chat",
        "--addr",
        "127.0.0.1:0",
        "--redis",
        &url,
        "--redis-ttl",
        TTL,
    ];
    args.extend_from_slice(more);
    let (process, addr) = Process::wsloop(&args);
    Node { process, addr }
}

fn is_logout_of(uuid: &str) -> impl Fn(&Value) -> bool + '_ {
    move |v| v["type"] == "logout" && v["content"] == format!("{uuid} left")
}

/// Node A runs two workers, so notices also cross workers within a node.
#[test]
fn register_send_and_logout_across_nodes() {
    let redis = Redis::start();
    let (a, b) = (node_with(&redis, &["--workers", "2"]), node(&redis));
    let (mut alice, login) = User::join(a.addr, "alice");
    assert_eq!(login["user_list"], json!(["alice"]));
    // A login on node B lists the users of node A.
    let (mut bob, login) = User::join(b.addr, "bob");
    assert_eq!(login["user_list"], json!(["alice", "bob"]));
    assert_eq!(alice.recv(), login);

    // A name taken on one node is taken on the other.
    let mut impostor = User::connect(b.addr);
    impostor.send(json!({"type": "register", "uuid": "alice", "content": "me too"}));
    let refused = impostor.recv();
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["reason"], "uuid already taken");

    alice.say("hi bob");
    bob.say("hi alice");
    for user in [&mut alice, &mut bob] {
        let mut got: Vec<Value> = (0..2).map(|_| user.recv()).collect();
        got.sort_by_key(|v| v["from"].as_str().unwrap().to_string());
        assert_eq!(
            got,
            [
                json!({"type": "user", "content": "hi bob", "from": "alice"}),
                json!({"type": "user", "content": "hi alice", "from": "bob"}),
            ]
        );
    }
    // Messages of one sender keep their order on the other node.
    for i in 0..50 {
        alice.say(&format!("n{i}"));
    }
    for i in 0..50 {
        assert_eq!(bob.recv()["content"], format!("n{i}"));
    }

    bob.send(json!({"type": "unregister", "uuid": "bob", "content": "bye"}));
    let logout = json!({"type": "logout", "content": "bye", "user_list": ["alice"]});
    assert_eq!(bob.recv(), logout);
    let seen = alice
        .wait_for(DEADLINE, |v| v["type"] == "logout")
        .expect("logout on node A");
    assert_eq!(seen, logout);

    // Several users on node A's two workers hear node B's messages.
    let mut more: Vec<User> = (0..6)
        .map(|i| User::join(a.addr, &format!("more{i}")).0)
        .collect();
    let (mut bob, _) = User::join(b.addr, "bob");
    bob.say("to all of node A");
    for user in &mut more {
        let heard = user.wait_for(DEADLINE, |v| v["type"] == "user");
        assert_eq!(heard.expect("bob's message")["content"], "to all of node A");
    }
    drop((alice, bob, impostor, more));
}

#[test]
fn a_user_who_drops_is_removed_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let (mut alice, _) = User::join(a.addr, "alice");
    let (bob, _) = User::join(b.addr, "bob");
    alice.recv();
    // Bob's TCP connection just ends, without a close frame or unregister.
    drop(bob);
    let logout = alice
        .wait_for(DEADLINE, is_logout_of("bob"))
        .expect("bob's logout on node A");
    assert_eq!(logout["user_list"], json!(["alice"]));
    // The name is free again, on either node.
    let (_bob, login) = User::join(a.addr, "bob");
    assert_eq!(login["user_list"], json!(["alice", "bob"]));
}

#[test]
fn the_users_of_a_killed_node_disappear_within_the_ttl() {
    let redis = Redis::start();
    let a = node(&redis);
    let b = node(&redis);
    let (mut alice, _) = User::join(a.addr, "alice");
    let (_bob, _) = User::join(b.addr, "bob");
    let (_carol, _) = User::join(b.addr, "carol");
    alice.recv();
    alice.recv();

    // SIGKILL: node B says nothing to anyone, its connections just die.
    b.signal(libc::SIGKILL);
    let killed = Instant::now();
    let mut left = Vec::new();
    while left.len() < 2 {
        let logout = alice
            .wait_for(DEADLINE, |v| v["type"] == "logout")
            .expect("a logout for each of node B's users");
        left.push(logout["content"].as_str().unwrap().to_string());
    }
    left.sort();
    assert_eq!(left, ["bob left", "carol left"]);
    eprintln!(
        "node B's users removed {:?} after SIGKILL",
        killed.elapsed()
    );
    // They are gone from the list too.
    let (_dave, login) = User::join(a.addr, "dave");
    assert_eq!(login["user_list"], json!(["alice", "dave"]));
    drop(b);
}

#[test]
fn a_redis_restart_mid_chat_is_survived() {
    let mut redis = Redis::start();
    let (mut a, mut b) = (node(&redis), node(&redis));
    let (mut alice, _) = User::join(a.addr, "alice");
    let (mut bob, _) = User::join(b.addr, "bob");
    alice.recv();

    // A restart without persistence: Redis comes back empty.
    redis.stop();
    let port = redis.port;
    // While it is down, node A's own users still hear each other.
    let (mut ann, _) = (User::connect(a.addr), ());
    ann.send(json!({"type": "register", "uuid": "ann", "content": "ann joined"}));
    assert_eq!(ann.recv()["type"], "error", "no registration without Redis");
    alice.say("while redis is down");
    assert_eq!(alice.recv()["content"], "while redis is down");
    let _redis = Redis::start_on(port);

    // Both nodes reconnect: messages cross again.
    let deadline = Instant::now() + DEADLINE;
    let mut n = 0;
    loop {
        n += 1;
        alice.say(&format!("after restart {n}"));
        if bob
            .wait_for(Duration::from_millis(500), |v| v["type"] == "user")
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "messages do not cross after the restart"
        );
    }
    // And the user list came back from both nodes: a newcomer sees everyone.
    wait_until("user list restored", || {
        let (newcomer, login) = User::join(a.addr, &format!("newcomer{n}"));
        n += 1;
        let complete = login["user_list"][0] == "alice" && login["user_list"][1] == "bob";
        drop(newcomer);
        thread::sleep(Duration::from_millis(50));
        complete
    });
    // One line when the connection went, one when it came back (the log is
    // read on another thread, so it may lag a little).
    for node in [&mut a, &mut b] {
        wait_until("the reconnection logged", || {
            !node.log_lines("redis reconnected").is_empty()
        });
        assert_eq!(
            node.log_lines("redis connection lost").len(),
            1,
            "{:?}",
            node.log_lines("redis")
        );
    }
}
