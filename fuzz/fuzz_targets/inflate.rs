//! The permessage-deflate `Decompressor`, with a small message limit.
//!
//! Byte 0 picks the limit (bits 0-2), the mode (bit 3) and whether context
//! is kept (bit 4); byte 1 the window and the compression level; bytes
//! 2-9 seed the cut. Raw mode feeds the rest as compressed data: the
//! output never passes the limit (nor does its buffer's capacity), a
//! failure is 1009 past the limit or 1002 for corrupt data, and the
//! verdict and output are the same whatever the cut. Round-trip mode cuts
//! the rest into messages, compresses them with our `Compressor` and
//! inflates them in a seeded cut: each comes back exactly, and one byte
//! less of limit is 1009.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::deflate::{Compressor, CompressorSettings, Decompressor};
use wsloop_fuzz::chunks;

const LIMITS: [usize; 8] = [0, 1, 10, 100, 1000, 4096, 65_536, 1 << 20];

fuzz_target!(|data: &[u8]| {
    let (head, rest) = chunks::header::<10>(data);
    let limit = LIMITS[usize::from(head[0] & 7)];
    let no_context = head[0] & 16 != 0;
    let window_bits = 8 + (head[1] & 7);
    let level = (head[1] >> 4) % 10;
    let seed = u64::from_le_bytes(head[2..10].try_into().unwrap());
    if head[0] & 8 == 0 {
        let whole = inflate(window_bits, no_context, [rest], limit);
        let cut = inflate(window_bits, no_context, chunks::split(rest, seed), limit);
        assert_eq!(whole, cut, "the verdict depends on the cut");
    } else {
        round_trip(rest, seed, level, window_bits, no_context);
    }
});

/// Inflates one message arriving in `pieces`: its bytes, or the close code.
fn inflate<'a>(
    window_bits: u8,
    no_context: bool,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    limit: usize,
) -> Result<Vec<u8>, u16> {
    let mut inflater = Decompressor::new(window_bits, no_context);
    let mut out = Vec::new();
    let mut verdict = Ok(());
    for piece in pieces {
        verdict = inflater.inflate(piece, &mut out, limit);
        assert_bounded(&out, limit);
        if verdict.is_err() {
            break;
        }
    }
    if verdict.is_ok() {
        verdict = inflater.finish_message(&mut out, limit);
        assert_bounded(&out, limit);
    }
    match verdict {
        Ok(()) => Ok(out),
        Err(e) => {
            assert!(matches!(e.code, 1002 | 1009), "close code {}", e.code);
            Err(e.code)
        }
    }
}

fn assert_bounded(out: &Vec<u8>, limit: usize) {
    assert!(
        out.len() <= limit,
        "{} bytes past a limit of {limit}",
        out.len()
    );
    assert!(
        out.capacity() <= limit,
        "capacity {} past {limit}",
        out.capacity()
    );
}

/// Messages compressed by our side inflate back to themselves.
fn round_trip(text: &[u8], seed: u64, level: u8, window_bits: u8, no_context: bool) {
    let settings = CompressorSettings {
        level,
        mem_level: 8,
        window_bits,
        no_context_takeover: no_context,
    };
    let mut deflater = Compressor::new(settings);
    let mut inflater = Decompressor::new(window_bits, no_context);
    let messages = chunks::split(text, seed);
    for (i, message) in messages.iter().take(4).enumerate() {
        let mut wire = Vec::new();
        deflater.compress_message(message, &mut wire);
        if i == 0 && !message.is_empty() {
            // The same first message, one byte over a limit.
            let short = inflate(window_bits, no_context, [&wire[..]], message.len() - 1);
            assert_eq!(short, Err(1009));
        }
        let mut out = Vec::new();
        for piece in chunks::split(&wire, seed ^ i as u64) {
            inflater.inflate(piece, &mut out, message.len()).unwrap();
        }
        inflater.finish_message(&mut out, message.len()).unwrap();
        assert_eq!(&out, message, "message {i} came back changed");
    }
}
