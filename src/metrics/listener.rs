//! A listener of its own for `GET /metrics` (`--metrics-addr`), so the
//! figures can stay off the public WebSocket port.
//!
//! Scrapes are rare and small, so a plain blocking thread serves them one
//! at a time; each connection gets a short deadline, so a client that
//! connects and says nothing delays the next scrape by at most that.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::Registry;
use crate::ws::HttpResponse;

/// How long one scrape connection may take to send its request.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// The longest request head read; a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

/// Binds `addr` and serves `GET /metrics` from `registry` on a background
/// thread for the life of the process. Returns the bound address.
pub fn serve(addr: SocketAddr, registry: Arc<Registry>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    thread::Builder::new()
        .name("wsloop-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(e) = answer(stream, &registry) {
                            log::debug!("metrics scrape: {e}");
                        }
                    }
                    // Out of descriptors, say: do not spin on it.
                    Err(e) => {
                        log::warn!("metrics listener: {e}");
                        thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_DEADLINE))?;
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return stream
                .write_all(&HttpResponse::text(431, "request head too large").to_bytes(false));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let path = path.map(|p| p.split(|&b| b == b'?').next().unwrap_or_default());
    let response = match (method, path) {
        (Some(b"GET" | b"HEAD"), Some(b"/metrics")) => registry.response(),
        (Some(b"GET" | b"HEAD"), _) => HttpResponse::not_found(),
        _ => HttpResponse::text(405, "only GET /metrics here").with_header("Allow", "GET, HEAD"),
    };
    let head_only = method == Some(b"HEAD");
    stream.write_all(&response.to_bytes(head_only))
}
