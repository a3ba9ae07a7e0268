//! permessage-deflate against an independent implementation: Python's zlib
//! (the C library) inflates what our sessions send, and our sessions
//! inflate what it compresses, both as RFC 7692 frames would carry it
//! (raw deflate, sync flush, tail cut off). Skipped, saying so, when
//! python3 is not installed.

use std::io::Write;
use std::process::{Command, Stdio};

use wsloop::ws::deflate::DeflateParams;
use wsloop::ws::frame::{decode_header_deflate, FrameHeader, RSV1};
use wsloop::ws::{Event, Limits, Opcode, Payload, Role, Session};

/// Inflates each compressed message with one `zlib.decompressobj(wbits)`
/// per connection (or per message when `fresh`), appending the tail first;
/// uncompressed ones come back as they are.
const INFLATE: &str = r#"
import json, sys, zlib
req = json.load(sys.stdin)
d = zlib.decompressobj(wbits=req["wbits"])
out = []
for compressed, m in req["messages"]:
    if not compressed:
        out.append(m)
        continue
    if req["fresh"]:
        d = zlib.decompressobj(wbits=req["wbits"])
    out.append(d.decompress(bytes.fromhex(m) + b"\x00\x00\xff\xff").hex())
json.dump(out, sys.stdout)
"#;

/// Compresses each message with one compressor, sync-flushed, tail cut.
const DEFLATE: &str = r#"
import json, sys, zlib
req = json.load(sys.stdin)
c = zlib.compressobj(req["level"], zlib.DEFLATED, req["wbits"], req["mem_level"])
out = []
for m in req["messages"]:
    data = c.compress(bytes.fromhex(m)) + c.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    out.append(data[:-4].hex())
json.dump(out, sys.stdout)
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Runs `script` with `request` on stdin; `None` if python3 is missing.
fn python(script: &str, request: serde_json::Value) -> Option<Vec<Vec<u8>>> {
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: python3 not found, no check against an independent zlib");
            return None;
        }
        Err(e) => panic!("cannot run python3: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python3 failed");
    let list: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    Some(list.iter().map(|s| unhex(s)).collect())
}

fn params(window_bits: u8, no_context_takeover: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        server_max_window_bits: window_bits,
        client_max_window_bits: window_bits,
        level: 6,
        mem_level: 8,
        min_size: 0,
    }
}

/// Messages with the repetition deflate feeds on, near and far apart.
fn messages() -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(11);
    let mut out: Vec<Vec<u8>> = (0..30)
        .map(|i| {
            format!(
                r#"{{"user":"u{}","text":"message {} {}","pad":"{}"}}"#,
                i % 4,
                i,
                "abc".repeat(i),
                "z".repeat(i * 37)
            )
            .into_bytes()
        })
        .collect();
    out.push((0..5000).map(|_| rng.u8(..)).collect());
    out.push(Vec::new());
    out.push(b"0123456789".repeat(2000));
    out
}

/// The payloads a server session sends for `msgs`, each with its RSV1.
fn server_payloads(p: DeflateParams, msgs: &[Vec<u8>]) -> Vec<(bool, Vec<u8>)> {
    let mut server = Session::with_deflate(Role::Server, Limits::default(), Some(p));
    let mut wire = Vec::new();
    for m in msgs {
        server.send(Opcode::Binary, m, &mut wire).unwrap();
    }
    let mut payloads = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let (h, compressed, n) = decode_header_deflate(&wire[at..], false, u64::MAX)
            .unwrap()
            .unwrap();
        // With min_size 0 only incompressible data without context goes
        // out plain.
        assert!(compressed || p.server_no_context_takeover);
        let start = at + n;
        at = start + h.payload_len as usize;
        payloads.push((compressed, wire[start..at].to_vec()));
    }
    payloads
}

#[test]
fn python_zlib_inflates_what_we_send() {
    let msgs = messages();
    for bits in [8u8, 9, 12, 15] {
        for no_context in [false, true] {
            let payloads = server_payloads(params(bits, no_context), &msgs);
            // Python inflates with exactly the window we promised: a
            // distance past it would fail ("invalid distance too far back").
            let request = serde_json::json!({
                "wbits": -i32::from(bits),
                "fresh": no_context,
                "messages": payloads.iter().map(|(c, p)| (c, hex(p))).collect::<Vec<_>>(),
            });
            let Some(inflated) = python(INFLATE, request) else {
                return;
            };
            assert_eq!(
                inflated, msgs,
                "window bits {bits}, no context {no_context}"
            );
        }
    }
}

#[test]
fn we_inflate_what_python_zlib_sends() {
    let msgs = messages();
    for (bits, mem_level) in [(9, 1), (12, 5), (15, 8), (15, 9)] {
        let request = serde_json::json!({
            "level": 9,
            "wbits": -bits,
            "mem_level": mem_level,
            "messages": msgs.iter().map(|m| hex(m)).collect::<Vec<_>>(),
        });
        let Some(payloads) = python(DEFLATE, request) else {
            return;
        };
        // A client's frames to our server: masked, RSV1, context kept.
        let key = [1, 2, 3, 4];
        let mut wire = Vec::new();
        for p in &payloads {
            let header = FrameHeader {
                fin: true,
                opcode: Opcode::Binary,
                mask: Some(key),
                payload_len: p.len() as u64,
            };
            let at = wire.len();
            header.write_to(&mut wire);
            wire[at] |= RSV1;
            wire.extend(p.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        let mut server =
            Session::with_deflate(Role::Server, Limits::default(), Some(params(15, false)));
        let mut events = Vec::new();
        let mut pos = 0;
        loop {
            let (n, event) = server.read(&mut wire[pos..]);
            pos += n;
            match event {
                Some(e) => events.push(e.into_owned()),
                None if n == 0 => break,
                None => {}
            }
        }
        let expected: Vec<_> = msgs
            .iter()
            .map(|m| Event::Binary(Payload::Owned(m.clone())))
            .collect();
        assert_eq!(events, expected, "python window bits {bits}");
    }
}
