//! `--log-file`: one JSON line per chat event, appended.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

/// An append-only file of chat events.
pub struct EventLog {
    file: File,
    failed: bool,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    peer: String,
    #[serde(rename = "type")]
    kind: &'a str,
    uuid: Option<&'a str>,
}

impl EventLog {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(EventLog {
            file,
            failed: false,
        })
    }

    /// A second handle on the same file, for another worker: each line is
    /// still one append, so lines of different workers never interleave.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(EventLog {
            file: self.file.try_clone()?,
            failed: false,
        })
    }

    /// Appends one event. A write error is logged once and otherwise
    /// ignored: the chat matters more than its log.
    pub fn record(&mut self, peer: SocketAddr, kind: &str, uuid: Option<&str>) {
        let line = Line {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            peer: peer.to_string(),
            kind,
            uuid,
        };
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        // One write per line, so lines from a crash are never interleaved.
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            if !self.failed {
                log::warn!("chat log write failed: {e}");
                self.failed = true;
            }
        }
    }
}
