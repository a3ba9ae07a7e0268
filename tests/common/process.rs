//! Child processes started by tests: the `wsloop` binary and the examples.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// Which output of the child a test reads line by line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Standard output (what the examples print).
    Stdout,
    /// Standard error (where `wsloop` logs).
    Stderr,
}

/// A process started by a test, killed (by its own PID) if the test ends
/// before it exits. The watched output is drained on a thread, so the child
/// never blocks on a full pipe, and its lines are kept.
pub struct Process {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    /// Starts `command`, writing `input` (if any) to its stdin and closing it.
    pub fn start(mut command: Command, watch: Watch, input: Option<&str>) -> Process {
        command.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        match watch {
            Watch::Stdout => command.stdout(Stdio::piped()),
            Watch::Stderr => command.stdout(Stdio::null()).stderr(Stdio::piped()),
        };
        let mut child = command.spawn().expect("start child process");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.as_bytes()).unwrap();
        }
        let out: Box<dyn std::io::Read + Send> = match watch {
            Watch::Stdout => Box::new(child.stdout.take().unwrap()),
            Watch::Stderr => Box::new(child.stderr.take().unwrap()),
        };
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Process {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Runs the `wsloop` binary with `args` (which should listen on port 0)
    /// and logging at info level, and waits for its "listening on" line.
    pub fn wsloop(args: &[&str]) -> (Process, SocketAddr) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wsloop"));
        command.args(args).env("RUST_LOG", "info");
        let mut process = Process::start(command, Watch::Stderr, None);
        let addr = process.addr_after("listening on ");
        (process, addr)
    }

    /// Waits for a line containing `text`; returns it.
    pub fn expect(&mut self, text: &str) -> String {
        self.expect_lines(text, 1).remove(0)
    }

    /// Waits until `count` lines contain `text`; returns them.
    pub fn expect_lines(&mut self, text: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = self.lines_with(text);
            if found.len() >= count {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("not {count} line(s) with {text:?}; got {:?}", self.seen)
            });
            self.seen.push(line);
        }
    }

    /// The address printed after `prefix` in the first line that has it:
    /// bare, or as a URL (`ws://127.0.0.1:9001`, `http://127.0.0.1:9090/`).
    pub fn addr_after(&mut self, prefix: &str) -> SocketAddr {
        let line = self.expect(prefix);
        let rest = line[line.find(prefix).unwrap() + prefix.len()..].trim();
        let addr = rest.split("://").last().unwrap_or(rest);
        addr.trim_end_matches('/').parse().expect("address")
    }

    /// The lines so far that contain `needle`.
    pub fn log_lines(&mut self, needle: &str) -> Vec<String> {
        self.seen.extend(self.lines.try_iter());
        self.lines_with(needle)
    }

    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let seen = self.seen.iter();
        seen.filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Its PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends it a signal.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's PID.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits (at most [`DEADLINE`]) for it to exit, then for the rest of
    /// its watched output.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the child process did not exit");
            thread::sleep(Duration::from_millis(5));
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("the child's output did not end"),
            }
        }
        status
    }

    /// Waits for it to exit by itself; returns whether it succeeded.
    pub fn finish(&mut self) -> bool {
        self.wait().success()
    }

    /// Number of descriptors it has open, from /proc.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
