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

/// A deflate block walker in pure Python, independent of any zlib: it
/// finds the longest match distance a stream uses. zlib's inflate cannot
/// check an 8-bit window (it opens a raw 8 as 9), so this is what proves
/// our 8-bit streams decode with 256 bytes of history.
const MAX_DISTANCE: &str = r#"
class Bits:
    def __init__(self, data):
        self.data, self.pos = data, 0
    def bit(self):
        b = (self.data[self.pos >> 3] >> (self.pos & 7)) & 1
        self.pos += 1
        return b
    def bits(self, n):
        v = 0
        for i in range(n):
            v |= self.bit() << i
        return v

def huffman(lengths):
    codes, code, table = {}, 0, {}
    for length in range(1, 16):
        for sym, l in enumerate(lengths):
            if l == length:
                table[(length, code)] = sym
                code += 1
        code <<= 1
    return table

def decode(bits, table):
    code = length = 0
    while True:
        code = (code << 1) | bits.bit()
        length += 1
        if (length, code) in table:
            return table[(length, code)]

LBASE = [3,4,5,6,7,8,9,10,11,13,15,17,19,23,27,31,35,43,51,59,67,83,99,115,131,163,195,227,258]
LEXTRA = [0]*8 + [1]*4 + [2]*4 + [3]*4 + [4]*4 + [5]*4 + [0]
DBASE = [1,2,3,4,5,7,9,13,17,25,33,49,65,97,129,193,257,385,513,769,1025,1537,2049,3073,4097,6145,8193,12289,16385,24577]
DEXTRA = [0,0,0,0] + [i // 2 for i in range(2, 28)]
ORDER = [16,17,18,0,8,7,9,6,10,5,11,4,12,3,13,2,14,1,15]

def max_distance(data):
    """Walks a raw deflate stream ending in a sync flush; returns the
    longest match distance it uses."""
    bits, worst = Bits(data), 0
    while bits.pos + 10 <= len(data) * 8:
        final, kind = bits.bit(), bits.bits(2)
        if kind == 0:
            bits.pos = (bits.pos + 7) & ~7
            n = bits.bits(16); bits.bits(16)
            bits.pos += 8 * n
            continue
        if kind == 1:
            lit = huffman([8]*144 + [9]*112 + [7]*24 + [8]*8)
            dist = huffman([5]*30)
        elif kind == 2:
            hlit, hdist, hclen = bits.bits(5) + 257, bits.bits(5) + 1, bits.bits(4) + 4
            cl = [0]*19
            for i in range(hclen):
                cl[ORDER[i]] = bits.bits(3)
            cltable, lengths = huffman(cl), []
            while len(lengths) < hlit + hdist:
                sym = decode(bits, cltable)
                if sym < 16: lengths.append(sym)
                elif sym == 16: lengths += [lengths[-1]] * (3 + bits.bits(2))
                elif sym == 17: lengths += [0] * (3 + bits.bits(3))
                else: lengths += [0] * (11 + bits.bits(7))
            lit, dist = huffman(lengths[:hlit]), huffman(lengths[hlit:])
        else:
            raise ValueError("reserved block type")
        while True:
            sym = decode(bits, lit)
            if sym < 256: continue
            if sym == 256: break
            bits.bits(LEXTRA[sym - 257])
            d = decode(bits, dist)
            worst = max(worst, DBASE[d] + bits.bits(DEXTRA[d]))
        if final:
            break
    return worst
"#;

/// Inflates each compressed message with one `zlib.decompressobj(wbits)`
/// per connection (or per message when `fresh`), appending the tail first;
/// uncompressed ones come back as they are. Prints the messages, then the
/// longest match distance seen.
const INFLATE: &str = r#"
import json, sys, zlib
req = json.load(sys.stdin)
d = zlib.decompressobj(wbits=req["wbits"])
out, worst = [], 0
for compressed, m in req["messages"]:
    if not compressed:
        out.append(m)
        continue
    if req["fresh"]:
        d = zlib.decompressobj(wbits=req["wbits"])
    data = bytes.fromhex(m) + b"\x00\x00\xff\xff"
    worst = max(worst, max_distance(data))
    out.append(d.decompress(data).hex())
json.dump([out, worst], sys.stdout)
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
json.dump([out, 0], sys.stdout)
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
/// Returns the messages it printed and the distance figure.
fn python(script: &str, request: serde_json::Value) -> Option<(Vec<Vec<u8>>, u64)> {
    let child = Command::new("python3")
        .arg("-c")
        .arg(format!("{MAX_DISTANCE}\n{script}"))
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
    let (list, distance): (Vec<String>, u64) = serde_json::from_slice(&output.stdout).unwrap();
    Some((list.iter().map(|s| unhex(s)).collect(), distance))
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
            let Some((inflated, distance)) = python(INFLATE, request) else {
                return;
            };
            assert_eq!(
                inflated, msgs,
                "window bits {bits}, no context {no_context}"
            );
            assert!(
                distance <= 1 << bits,
                "window bits {bits}: a match {distance} bytes back"
            );
            if bits >= 12 {
                // The walker sees real matches, so it would catch a violation.
                assert!(
                    distance > 256,
                    "window bits {bits}: longest match {distance}"
                );
            }
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
        let Some((payloads, _)) = python(DEFLATE, request) else {
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
