//! What permessage-deflate costs in memory, measured with a counting
//! allocator: the table in `ws::deflate`'s docs comes from here (run with
//! `--nocapture` to see it). Also: a decompression bomb is closed with 1009
//! while the session never holds much more than the message limit.
//!
//! Counts are per thread, so tests running side by side do not mix.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wsloop::ws::deflate::{Compressor, CompressorSettings, Decompressor, DeflateParams};
use wsloop::ws::frame::{FrameHeader, RSV1};
use wsloop::ws::{Event, Limits, Opcode, Role, Session};

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + size;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn note_free(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// bookkeeping only touches const-initialised thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.with(Cell::get)
}

/// Bytes held by what `make` returns, once `prime` has used it.
fn held_by<T>(make: impl FnOnce() -> T, prime: impl FnOnce(&mut T)) -> usize {
    let before = live();
    let mut value = make();
    prime(&mut value);
    let held = live() - before;
    drop(value);
    held
}

fn sample() -> Vec<u8> {
    (0..2000)
        .flat_map(|i| format!(r#"{{"user":"u{}","text":"hello {i}"}}"#, i % 9).into_bytes())
        .collect()
}

fn compressor_bytes(window_bits: u8, mem_level: u8) -> usize {
    let input = sample();
    held_by(
        || {
            Compressor::new(CompressorSettings {
                level: 6,
                mem_level,
                window_bits,
                no_context_takeover: false,
            })
        },
        |c| {
            let mut out = Vec::new();
            c.compress_message(&input, &mut out);
            drop(out);
        },
    )
}

fn decompressor_bytes(window_bits: u8) -> usize {
    let mut payload = Vec::new();
    Compressor::new(CompressorSettings {
        level: 6,
        mem_level: 8,
        window_bits,
        no_context_takeover: false,
    })
    .compress_message(&sample(), &mut payload);
    held_by(
        || Decompressor::new(window_bits, false),
        |d| {
            let mut out = Vec::new();
            d.inflate(&payload, &mut out, usize::MAX).unwrap();
            d.finish_message(&mut out, usize::MAX).unwrap();
            assert_eq!(out, sample());
        },
    )
}

#[test]
fn memory_per_stream() {
    let kib = |b: usize| b as f64 / 1024.0;
    println!("compressor KiB (rows: window bits, columns: memory level 1 5 8 9); decompressor KiB");
    for bits in 8..=15u8 {
        let c: Vec<String> = [1u8, 5, 8, 9]
            .iter()
            .map(|&m| format!("{:7.1}", kib(compressor_bytes(bits, m))))
            .collect();
        println!(
            "bits {bits:2}  {}   inflate {:5.1}",
            c.join(" "),
            kib(decompressor_bytes(bits))
        );
    }
    // Loose bounds, so a regression (say, a stream per message kept
    // around) shows, while allocator details do not matter.
    assert!(compressor_bytes(15, 8) < 600 * 1024);
    assert!(compressor_bytes(9, 1) < compressor_bytes(15, 9));
    assert!(decompressor_bytes(15) < 64 * 1024);
    // Lazily created: a fresh compressor or decompressor holds nothing.
    let empty = held_by(
        || {
            Compressor::new(CompressorSettings {
                level: 6,
                mem_level: 8,
                window_bits: 15,
                no_context_takeover: true,
            })
        },
        |_| {},
    );
    assert_eq!(empty, 0);
}

#[test]
fn session_memory_idle_busy_released() {
    let params = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        level: 6,
        mem_level: 8,
        min_size: 64,
    };
    let before = live();
    let mut session = Session::with_deflate(Role::Server, Limits::default(), Some(params));
    let idle = live() - before;
    let mut out = Vec::new();
    session.send(Opcode::Text, &sample(), &mut out).unwrap();
    drop(out);
    let busy = live() - before;
    assert!(session.release_idle_deflate());
    let released = live() - before;
    println!(
        "server session, no context takeover: idle {idle} B, after a compressed send {busy} B, released {released} B"
    );
    assert_eq!(idle, released);
    assert!(idle < 1024, "no stream before the first message: {idle}");
    assert!(busy > 100 * 1024);
}

#[test]
fn decompression_bomb_is_1009_without_big_allocation() {
    const LIMIT: usize = 1 << 20;
    // 256 MiB of zeros deflate to about 256 KiB; sent as 2 frames.
    let mut c = Compressor::new(CompressorSettings {
        level: 9,
        mem_level: 9,
        window_bits: 15,
        no_context_takeover: false,
    });
    let zeros = vec![0u8; 1 << 20];
    let mut payload = Vec::new();
    for _ in 0..255 {
        c.compress_fragment(&zeros, false, &mut payload);
    }
    c.compress_fragment(&zeros, true, &mut payload);
    drop(zeros);
    assert!(payload.len() < 512 * 1024, "{}", payload.len());
    let key = [9, 8, 7, 6];
    let mut wire = Vec::new();
    let half = payload.len() / 2;
    for (fin, opcode, part) in [
        (false, Opcode::Binary, &payload[..half]),
        (true, Opcode::Continuation, &payload[half..]),
    ] {
        let at = wire.len();
        FrameHeader {
            fin,
            opcode,
            mask: Some(key),
            payload_len: part.len() as u64,
        }
        .write_to(&mut wire);
        if opcode != Opcode::Continuation {
            wire[at] |= RSV1;
        }
        wire.extend(part.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    drop(payload);

    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        level: 1,
        mem_level: 8,
        min_size: 64,
    };
    let mut session = Session::with_deflate(Role::Server, Limits::new(LIMIT), Some(params));
    let base = live();
    PEAK.with(|p| p.set(base));
    let mut pos = 0;
    let mut code = None;
    while pos < wire.len() && code.is_none() {
        // A transport hands over at most 64 KiB a read.
        let end = (pos + 65536).min(wire.len());
        let (n, event) = session.read(&mut wire[pos..end]);
        pos += n;
        if let Some(Event::Error { code: c, .. }) = event {
            code = Some(c);
        }
    }
    let peak = PEAK.with(Cell::get) - base;
    println!(
        "bomb: closed with {code:?} after {pos} of {} bytes, peak {} KiB",
        wire.len(),
        peak / 1024
    );
    assert_eq!(code, Some(1009));
    assert!(pos < wire.len() / 2, "caught in the first frame");
    // The message buffer at the limit plus one inflate stream.
    assert!(peak < LIMIT + 128 * 1024, "peak {peak}");
    assert!(session.is_failed());
}
