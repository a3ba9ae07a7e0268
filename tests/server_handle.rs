//! `ServerHandle` from other threads: sends and broadcasts reach tungstenite
//! clients complete and in order per sender; a slow consumer is closed
//! (1008) or skipped per `Overflow`, while the others get everything.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;

use common::{wait_until, DEADLINE};
use tungstenite::protocol::frame::coding::CloseCode;
use wsloop::{Config, Message, Overflow, Server, WsCounters};

use common::peer::{connect, read_text, Client, Quiet};

#[test]
fn messages_from_several_threads_arrive_complete_and_in_order_per_sender() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 300;
    let server =
        Server::spawn("127.0.0.1:0".parse().unwrap(), Config::default(), || Quiet).unwrap();
    let handle = server.handle.clone();
    let mut clients: Vec<Client> = (0..3).map(|_| connect(handle.local_addr())).collect();
    wait_until("3 connections", || handle.connections().unwrap().len() == 3);

    // One client is also addressed directly, by the id matching its address.
    let direct_addr = clients[0].get_ref().local_addr().unwrap();
    let direct = handle
        .connections()
        .unwrap()
        .into_iter()
        .find(|c| c.peer == direct_addr)
        .unwrap()
        .id;

    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = handle.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let text = format!("{t}:{i}");
                    if i % 3 == 0 {
                        // Binary, to one connection only.
                        handle
                            .send(direct, Message::Binary(text.as_bytes()))
                            .unwrap();
                    } else {
                        handle.broadcast(Message::Text(&text)).unwrap();
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }

    for (n, client) in clients.iter_mut().enumerate() {
        let direct_too = n == 0;
        let per_thread_expected: Vec<usize> = (0..PER_THREAD)
            .filter(|i| direct_too || i % 3 != 0)
            .collect();
        let total = per_thread_expected.len() * THREADS;
        let mut seen: HashMap<usize, Vec<usize>> = HashMap::new();
        for _ in 0..total {
            let text = read_text(client);
            let (t, i) = text.split_once(':').unwrap();
            seen.entry(t.parse().unwrap())
                .or_default()
                .push(i.parse().unwrap());
        }
        for t in 0..THREADS {
            assert_eq!(seen[&t], per_thread_expected, "client {n}, sender {t}");
        }
    }
    drop(clients);
    server.stop().unwrap();
}

/// Broadcasts numbered messages while `fast` clients keep up (at most a few
/// messages ahead, well under the cap) and one client reads nothing, until
/// `overflowed` says the slow one's queue hit the cap. Returns how many
/// were sent.
fn flood(
    handle: &wsloop::ServerHandle<Quiet>,
    fast: &[Arc<AtomicU64>],
    overflowed: impl Fn() -> bool,
) -> u64 {
    let payload = vec![b'x'; 32 * 1024];
    let mut sent = 0u64;
    while !overflowed() {
        assert!(sent < 4000, "the slow consumer never overflowed");
        wait_until("fast clients keep up", || {
            fast.iter().all(|n| n.load(SeqCst) + 4 >= sent)
        });
        let mut msg = sent.to_string().into_bytes();
        msg.push(b':');
        msg.extend_from_slice(&payload);
        handle.broadcast(Message::Binary(&msg)).unwrap();
        sent += 1;
    }
    // Once the fast clients have everything, the loop has handled every
    // broadcast, so the counters are final.
    wait_until("fast clients get everything sent", || {
        fast.iter().all(|n| n.load(SeqCst) == sent)
    });
    sent
}

/// A client that reads on its own thread, checking every message is the
/// next number, until `end` arrives; returns its counter.
fn fast_reader(addr: SocketAddr) -> (Arc<AtomicU64>, thread::JoinHandle<()>) {
    let count = Arc::new(AtomicU64::new(0));
    let mut ws = connect(addr);
    let seen = count.clone();
    let t = thread::spawn(move || loop {
        let text = read_text(&mut ws);
        if text == "end" {
            return;
        }
        let n: u64 = text.split_once(':').unwrap().0.parse().unwrap();
        assert_eq!(
            n,
            seen.load(SeqCst),
            "fast client lost or reordered a message"
        );
        seen.fetch_add(1, SeqCst);
    });
    (count, t)
}

fn overflow_config(overflow: Overflow) -> Config {
    let mut config = Config::default().with_max_message_size(64 * 1024);
    config.max_write_buffer = 512 * 1024;
    config.overflow = overflow;
    config.close_timeout = Some(DEADLINE);
    config
}

#[test]
fn slow_consumer_is_closed_with_1008_and_others_get_everything() {
    let server = Server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        overflow_config(Overflow::Close),
        || Quiet,
    )
    .unwrap();
    let handle = server.handle.clone();
    let mut slow = connect(handle.local_addr());
    let readers: Vec<_> = (0..2).map(|_| fast_reader(handle.local_addr())).collect();
    wait_until("3 connections", || handle.connections().unwrap().len() == 3);
    let counts: Vec<_> = readers.iter().map(|(c, _)| c.clone()).collect();

    let counters = handle.counters();
    let sent = flood(&handle, &counts, || {
        WsCounters::get(&counters.overflow_closes) == 1
    });
    handle.broadcast(Message::Text("end")).unwrap();
    for (count, t) in readers {
        t.join().unwrap();
        assert_eq!(count.load(SeqCst), sent);
    }

    // The slow client gets a prefix of the messages in order, then 1008.
    let mut next = 0u64;
    let code = loop {
        match slow.read().expect("read") {
            tungstenite::Message::Binary(b) => {
                let n: u64 = std::str::from_utf8(&b[..b.iter().position(|&c| c == b':').unwrap()])
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(n, next);
                next += 1;
            }
            tungstenite::Message::Close(frame) => break frame.unwrap().code,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::Policy);
    assert!(next < sent);
    // Answers the close, so shutdown need not wait for the close timeout.
    let _ = slow.flush();
    drop(slow);
    assert_eq!(WsCounters::get(&counters.overflow_drops), 0);
    server.stop().unwrap();
}

#[test]
fn slow_consumer_misses_messages_with_drop_policy_and_others_get_everything() {
    let server = Server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        overflow_config(Overflow::Drop),
        || Quiet,
    )
    .unwrap();
    let handle = server.handle.clone();
    let slow = connect(handle.local_addr());
    let readers: Vec<_> = (0..2).map(|_| fast_reader(handle.local_addr())).collect();
    wait_until("3 connections", || handle.connections().unwrap().len() == 3);
    let counts: Vec<_> = readers.iter().map(|(c, _)| c.clone()).collect();

    let counters = handle.counters();
    let sent = flood(&handle, &counts, || {
        WsCounters::get(&counters.overflow_drops) >= 3
    });
    let dropped = WsCounters::get(&counters.overflow_drops);
    let expected_slow = sent - dropped;

    // Now the slow client reads: it gets every message it was not dropped
    // from, in increasing order, and stays open.
    let slow_count = Arc::new(AtomicU64::new(0));
    let seen = slow_count.clone();
    let slow_reader = thread::spawn(move || {
        let mut slow = slow;
        let mut last: Option<u64> = None;
        loop {
            let text = read_text(&mut slow);
            if text == "end" {
                return;
            }
            let n: u64 = text.split_once(':').unwrap().0.parse().unwrap();
            assert!(
                last.is_none_or(|l| n > l),
                "slow client got {n} after {last:?}"
            );
            last = Some(n);
            seen.fetch_add(1, SeqCst);
        }
    });
    wait_until("slow client drains its backlog", || {
        slow_count.load(SeqCst) == expected_slow
    });
    handle.broadcast(Message::Text("end")).unwrap();
    slow_reader.join().unwrap();
    for (count, t) in readers {
        t.join().unwrap();
        assert_eq!(count.load(SeqCst), sent);
    }
    assert_eq!(slow_count.load(SeqCst), expected_slow);
    assert_eq!(WsCounters::get(&counters.overflow_drops), dropped);
    assert_eq!(WsCounters::get(&counters.overflow_closes), 0);
    server.stop().unwrap();
}
