//! A read pass makes at most `READS_PER_PASS` reads: a peer whose socket
//! never runs dry cannot hold up the loop's other connections, and the bytes
//! a pass leaves behind are read in the next turns, with no new readiness
//! edge to announce them.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{pattern, DEADLINE};
use wsloop::{ConnId, Context, EventLoop, Protocol, READS_PER_PASS};

/// What each connection received, and which connection each
/// `data_received` call was for.
#[derive(Default)]
struct Received {
    conns: Vec<(ConnId, Vec<u8>)>,
    /// The connection of each `data_received` call since the test last looked.
    calls: Vec<ConnId>,
}

impl Received {
    fn bytes(&mut self, id: ConnId) -> &mut Vec<u8> {
        let at = match self.conns.iter().position(|(c, _)| *c == id) {
            Some(at) => at,
            None => {
                self.conns.push((id, Vec::new()));
                self.conns.len() - 1
            }
        };
        &mut self.conns[at].1
    }
}

/// Records what arrives; reads 1 KiB at a time, so that a few KiB in one
/// socket are more reads than one pass may make.
struct Recorder;

impl Protocol for Recorder {
    type Shared = Received;
    type Command = ();
    const READ_BUFFER: usize = 1024;

    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let id = cx.id();
        let shared = cx.shared();
        shared.bytes(id).extend_from_slice(data);
        shared.calls.push(id);
        data.len()
    }
}

#[test]
fn a_full_socket_yields_after_the_budget_and_the_rest_is_read_next_turn() {
    let mut lp = EventLoop::new(Received::default()).unwrap();
    let addr = lp
        .listen("127.0.0.1:0".parse().unwrap(), || Recorder)
        .unwrap();

    // Three passes' worth for the busy peer, written before the loop turns,
    // in one write: loopback delivers it as one segment, so the first pass
    // finds it all. Then one byte from a quiet peer, already waiting too.
    let busy_payload = pattern(11, 3 * READS_PER_PASS * Recorder::READ_BUFFER);
    let mut busy = TcpStream::connect(addr).unwrap();
    busy.write_all(&busy_payload).unwrap();
    let mut quiet = TcpStream::connect(addr).unwrap();
    quiet.write_all(b"q").unwrap();

    // Per turn: how many reads each connection made, and whether the quiet
    // peer's byte or the busy peer's last byte had arrived.
    let (mut busy_done_turn, mut quiet_turn) = (None, None);
    let mut busy_id = None;
    let start = Instant::now();
    let mut turn = 0;
    while busy_done_turn.is_none() || quiet_turn.is_none() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out: the busy peer's last bytes (turn {busy_done_turn:?}) or the quiet \
             peer's byte (turn {quiet_turn:?}) never arrived"
        );
        turn += 1;
        lp.turn(Some(Duration::from_millis(50))).unwrap();
        let shared = lp.shared();
        for (id, bytes) in &shared.conns {
            if bytes.as_slice() == b"q" {
                quiet_turn.get_or_insert(turn);
            } else if !bytes.is_empty() {
                busy_id = Some(*id);
                if bytes.len() == busy_payload.len() {
                    busy_done_turn.get_or_insert(turn);
                }
            }
        }
        let calls = std::mem::take(&mut shared.calls);
        if let Some(id) = busy_id {
            let reads = calls.iter().filter(|&&c| c == id).count();
            assert!(
                reads <= READS_PER_PASS,
                "turn {turn}: the busy connection made {reads} reads, more than one pass's \
                 {READS_PER_PASS}"
            );
        }
    }

    let busy_id = busy_id.unwrap();
    let received = lp.shared().bytes(busy_id).clone();
    assert!(
        received == busy_payload,
        "the busy peer's bytes arrived changed"
    );
    // Ready in the same turn, the quiet peer was served while the busy one
    // still had bytes waiting: those took later turns.
    let (busy_done, quiet_at) = (busy_done_turn.unwrap(), quiet_turn.unwrap());
    assert!(
        quiet_at < busy_done,
        "the quiet peer's byte came in turn {quiet_at}, not before the busy peer's last \
         bytes (turn {busy_done})"
    );
    let yields = lp.stats().read_yields;
    assert!(
        yields >= 2,
        "three passes' worth of bytes should make at least 2 yields, counted {yields}"
    );
}
