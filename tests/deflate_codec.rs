//! The permessage-deflate codec on its own: round trips fed in every kind
//! of piece, the output limit at its exact edge, and streams that end in a
//! final block, as some peers send them.

use wsloop::ws::deflate::{Compressor, CompressorSettings, Decompressor};
use zlib_rs::{Deflate, DeflateFlush};

fn compressor(window_bits: u8, no_context_takeover: bool) -> Compressor {
    Compressor::new(CompressorSettings {
        level: 6,
        mem_level: 8,
        window_bits,
        no_context_takeover,
    })
}

fn text(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("line {} of some log output, level {}\n", i, i % 3).into_bytes())
        .collect()
}

/// Inflates `payload` fed in pieces of `piece` bytes, then the tail.
fn inflate_in_pieces(d: &mut Decompressor, payload: &[u8], piece: usize, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(piece.max(1)) {
        d.inflate(chunk, &mut out, limit).unwrap();
    }
    d.finish_message(&mut out, limit).unwrap();
    out
}

#[test]
fn round_trips_in_any_pieces() {
    let mut rng = fastrand::Rng::with_seed(5);
    let random: Vec<u8> = (0..70_000).map(|_| rng.u8(..)).collect();
    for bits in [8u8, 9, 11, 15] {
        for no_context in [false, true] {
            let mut c = compressor(bits, no_context);
            let mut d = Decompressor::new(bits, no_context);
            for msg in [text(3000), random.clone(), Vec::new(), text(10), Vec::new()] {
                let mut payload = Vec::new();
                c.compress_message(&msg, &mut payload);
                assert!(!payload.is_empty(), "a message is never empty on the wire");
                for piece in [1, 13, payload.len()] {
                    // Each piece size needs its own history: replay the
                    // same message into a fresh pair when context is kept.
                    if piece == payload.len() {
                        assert_eq!(inflate_in_pieces(&mut d, &payload, piece, usize::MAX), msg);
                    } else {
                        let mut c2 = compressor(bits, true);
                        let mut p2 = Vec::new();
                        c2.compress_message(&msg, &mut p2);
                        let mut d2 = Decompressor::new(bits, true);
                        assert_eq!(inflate_in_pieces(&mut d2, &p2, piece, usize::MAX), msg);
                    }
                }
            }
        }
    }
}

#[test]
fn fragments_share_one_stream() {
    let mut c = compressor(15, false);
    let msg = text(500);
    let mut payload = Vec::new();
    for (i, part) in msg.chunks(1000).enumerate() {
        let fin = (i + 1) * 1000 >= msg.len();
        c.compress_fragment(part, fin, &mut payload);
    }
    let mut d = Decompressor::new(15, false);
    assert_eq!(inflate_in_pieces(&mut d, &payload, 333, usize::MAX), msg);
}

#[test]
fn limit_is_exact() {
    let msg = vec![b'q'; 100_000];
    let mut payload = Vec::new();
    compressor(15, true).compress_message(&msg, &mut payload);
    let mut d = Decompressor::new(15, true);
    assert_eq!(inflate_in_pieces(&mut d, &payload, 7, 100_000), msg);
    for limit in [0, 1, 99_999] {
        let mut d = Decompressor::new(15, true);
        let mut out = Vec::new();
        let err = d
            .inflate(&payload, &mut out, limit)
            .and_then(|()| d.finish_message(&mut out, limit))
            .unwrap_err();
        assert_eq!(err.code, 1009, "limit {limit}");
        assert!(out.len() <= limit && out.capacity() <= limit.max(256));
    }
}

#[test]
fn corrupt_data_is_1002() {
    let mut d = Decompressor::new(15, false);
    let mut out = Vec::new();
    // Block type 3 is reserved.
    assert_eq!(d.inflate(&[0x07], &mut out, 1000).unwrap_err().code, 1002);
}

#[test]
fn a_final_block_ends_the_stream_cleanly() {
    // Some peers finish each message with Z_FINISH (BFINAL set) instead of
    // a sync flush; the tail then follows a finished stream.
    let mut d = Decompressor::new(15, false);
    for msg in [text(40), text(7), Vec::new()] {
        let mut z = Deflate::new(6, false, 15);
        let mut payload = vec![0u8; msg.len() + 256];
        z.compress(&msg, &mut payload, DeflateFlush::Finish)
            .unwrap();
        payload.truncate(z.total_out() as usize);
        assert_eq!(inflate_in_pieces(&mut d, &payload, 5, usize::MAX), msg);
    }
}

#[test]
fn release_keeps_context_when_it_matters() {
    let mut kept = compressor(15, false);
    let mut out = Vec::new();
    kept.compress_message(b"some text to start a context", &mut out);
    assert!(!kept.release() && kept.is_allocated());
    let mut free = compressor(15, true);
    free.compress_message(b"some text to start a context", &mut Vec::new());
    assert!(free.release() && !free.is_allocated());
    let mut d = Decompressor::new(15, false);
    d.inflate(&out, &mut Vec::new(), 1 << 20).unwrap();
    assert!(!d.release());
    let mut d = Decompressor::new(15, true);
    d.inflate(&out, &mut Vec::new(), 1 << 20).unwrap();
    assert!(d.release() && !d.is_allocated());
}
