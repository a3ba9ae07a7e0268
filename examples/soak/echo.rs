//! The legitimate clients: tungstenite connections that send messages of
//! random kind and size, check every echo byte for byte, and time the
//! round trip. Any error at all counts against the server.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tungstenite::Message;

/// No single echo may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one echo client saw.
pub struct EchoReport {
    /// Messages echoed correctly.
    pub messages: u64,
    /// Errors of any kind; the first one is kept.
    pub errors: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// Round-trip times in microseconds.
    pub latency_us: Histogram<u64>,
}

/// Runs one echo client until `stop` is set, with messages of up to
/// `max_len` bytes.
pub fn run(addr: SocketAddr, max_len: usize, stop: &AtomicBool) -> EchoReport {
    let mut report = EchoReport {
        messages: 0,
        errors: 0,
        first_error: None,
        latency_us: Histogram::new(3).expect("histogram"),
    };
    if let Err(e) = session(addr, max_len, stop, &mut report) {
        report.errors += 1;
        report.first_error.get_or_insert(e);
    }
    report
}

fn session(
    addr: SocketAddr,
    max_len: usize,
    stop: &AtomicBool,
    report: &mut EchoReport,
) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream)
        .map_err(|e| format!("handshake: {e}"))?;
    while !stop.load(Ordering::Relaxed) {
        let len = fastrand::usize(..=max_len);
        let msg = if fastrand::bool() {
            Message::text(
                (0..len)
                    .map(|_| fastrand::alphanumeric())
                    .collect::<String>(),
            )
        } else {
            let mut data = vec![0u8; len];
            fastrand::fill(&mut data);
            Message::binary(data)
        };
        let sent = Instant::now();
        ws.send(msg.clone()).map_err(|e| format!("send: {e}"))?;
        let echo = loop {
            match ws.read().map_err(|e| format!("read: {e}"))? {
                Message::Ping(_) | Message::Pong(_) => continue,
                other => break other,
            }
        };
        let _ = report
            .latency_us
            .record(sent.elapsed().as_micros().try_into().unwrap_or(u64::MAX));
        if echo != msg {
            return Err(format!("echo differs from the {len}-byte message sent"));
        }
        report.messages += 1;
    }
    ws.close(None).map_err(|e| format!("close: {e}"))?;
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(format!("closing: {e}")),
        }
    }
}
