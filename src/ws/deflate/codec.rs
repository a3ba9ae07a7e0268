//! The permessage-deflate codec (RFC 7692 section 7.2): one compressor per
//! sending direction, one decompressor per receiving direction.
//!
//! A message is compressed as raw deflate ending in a sync flush, whose
//! trailing empty stored block (`00 00 ff ff`) is cut off before sending;
//! the receiver puts it back before inflating the last frame. With context
//! takeover the LZ77 window runs on from one message to the next; without,
//! both ends start every message from an empty window.
//!
//! zlib-rs is driven directly rather than through flate2, because flate2
//! exposes neither the memory level nor the strategy, and the strategy is
//! what makes an 8-bit window possible (see the parent module's docs).

use std::fmt;

use zlib_rs::{
    Deflate, DeflateConfig as ZConfig, DeflateFlush, Inflate, InflateError, InflateFlush, Method,
    Status, Strategy,
};

use super::params::{DeflateParams, MAX_WINDOW_BITS};
use crate::ws::close;
use crate::ws::error::ProtocolError;
use crate::ws::session::Role;

/// The empty stored block a sync flush ends with; RFC 7692 strips it from
/// the wire.
pub const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib-rs refuses a raw 8-bit window, so a requested 8 is served by a
/// 9-bit stream whose matches never look back (see [`Compressor::new`]).
const SMALLEST_ZLIB_WINDOW: u8 = 9;

/// Output grows by at most this much per zlib call: an inflating bomb is
/// caught within one step of the limit, and a compressed send never zeroes
/// more than this ahead of what it writes.
const OUTPUT_STEP: usize = 64 * 1024;

/// The first inflate step, for a small input.
const FIRST_OUTPUT_STEP: usize = 256;

/// The settings a compressor is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressorSettings {
    /// zlib level, 0 to 9.
    pub level: u8,
    /// zlib memory level, 1 to 9.
    pub mem_level: u8,
    /// The window the peer accepts from us, 8 to 15.
    pub window_bits: u8,
    /// Start every message from an empty window.
    pub no_context_takeover: bool,
}

impl CompressorSettings {
    /// What a session in `role` compresses with under `params`.
    pub fn for_sending(params: &DeflateParams, role: Role) -> Self {
        CompressorSettings {
            level: params.level,
            mem_level: params.mem_level,
            window_bits: params.send_window_bits(role),
            no_context_takeover: params.send_no_context_takeover(role),
        }
    }

    fn stream(&self) -> Deflate {
        // Below 9 bits, zlib-rs (like zlib) would silently use 9 and may
        // then emit distances up to 512. The RLE strategy only ever emits
        // distance 1, which every window holds: the output stays within
        // what a 256-byte window decodes.
        let (window_bits, strategy) = if self.window_bits < SMALLEST_ZLIB_WINDOW {
            (SMALLEST_ZLIB_WINDOW, Strategy::Rle)
        } else {
            (self.window_bits.min(MAX_WINDOW_BITS), Strategy::Default)
        };
        Deflate::new_with_config(ZConfig {
            level: i32::from(self.level.min(9)),
            method: Method::Deflated,
            // Negative: raw deflate, no zlib header or checksum.
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(self.mem_level.clamp(1, 9)),
            strategy,
        })
    }
}

/// Compresses the messages of one direction. The zlib stream is created on
/// the first message, so a connection that never sends a large message
/// never pays for it, and [`Compressor::release`] gives it back when no
/// context is kept.
pub struct Compressor {
    settings: CompressorSettings,
    stream: Option<Deflate>,
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("settings", &self.settings)
            .field("allocated", &self.stream.is_some())
            .finish()
    }
}

impl Compressor {
    /// A compressor with nothing allocated yet.
    pub fn new(settings: CompressorSettings) -> Self {
        Compressor {
            settings,
            stream: None,
        }
    }

    /// What it was built with.
    pub fn settings(&self) -> &CompressorSettings {
        &self.settings
    }

    /// Whether the zlib stream (the bulk of its memory) is allocated.
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    /// Compresses a whole message, appending the wire payload (tail cut
    /// off) to `out`.
    pub fn compress_message(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.compress_fragment(input, true, out);
    }

    /// Compresses one fragment of a message. Every fragment is flushed, so
    /// the peer can inflate it as soon as it arrives; only the last one
    /// (`fin`) loses its tail, and ends the message's context if none is
    /// kept.
    pub fn compress_fragment(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) {
        let settings = self.settings;
        let stream = self.stream.get_or_insert_with(|| settings.stream());
        let start = out.len();
        deflate_sync(stream, input, out);
        if out.len() == start {
            // zlib emits nothing for an empty flush right after another
            // one. That is a fine middle fragment, but a message must end
            // with something: a lone 0x00 starts an empty stored block
            // whose length the receiver's tail completes (RFC 7692 7.2.3.6).
            if fin {
                out.push(0x00);
            }
        } else if fin && out[start..].ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        }
        if fin && settings.no_context_takeover {
            stream.reset();
        }
    }

    /// Frees the zlib stream if that loses nothing, i.e. when no context is
    /// kept between messages; call between messages. Returns whether the
    /// stream is now released.
    pub fn release(&mut self) -> bool {
        if self.settings.no_context_takeover {
            self.stream = None;
        }
        self.stream.is_none()
    }
}

/// Runs `input` through `stream` with a sync flush, appending all output.
fn deflate_sync(stream: &mut Deflate, mut input: &[u8], out: &mut Vec<u8>) {
    loop {
        // Most messages shrink: room for the whole input (plus block
        // overhead) usually finishes in one call; bigger outputs take more.
        let room = (input.len() + 64).min(OUTPUT_STEP);
        let start = out.len();
        out.resize(start + room, 0);
        let (in_before, out_before) = (stream.total_in(), stream.total_out());
        let status = stream.compress(input, &mut out[start..], DeflateFlush::SyncFlush);
        let consumed = (stream.total_in() - in_before) as usize;
        let produced = (stream.total_out() - out_before) as usize;
        out.truncate(start + produced);
        input = &input[consumed..];
        // A stream we configured ourselves cannot be in error; BufError only
        // says "more room", which the loop gives.
        debug_assert!(status.is_ok());
        // Done once all input is in and the flush did not fill the room.
        if input.is_empty() && produced < room {
            return;
        }
    }
}

/// Inflates the messages of one direction, never producing more than the
/// caller's limit (see [`Decompressor::inflate`]).
pub struct Decompressor {
    window_bits: u8,
    no_context_takeover: bool,
    stream: Option<Inflate>,
    /// The message in progress ended its deflate stream with a final
    /// block: the rest of it, tail included, is ignored.
    stream_ended: bool,
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("allocated", &self.stream.is_some())
            .finish()
    }
}

impl Decompressor {
    /// A decompressor for a peer that compresses with at most
    /// `window_bits`; nothing is allocated until the first message.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Decompressor {
            // A wider window decodes anything a narrower one does, and 9 is
            // the smallest zlib-rs builds.
            window_bits: window_bits.clamp(SMALLEST_ZLIB_WINDOW, MAX_WINDOW_BITS),
            no_context_takeover,
            stream: None,
            stream_ended: false,
        }
    }

    /// What a session in `role` inflates with under `params`.
    pub fn for_receiving(params: &DeflateParams, role: Role) -> Self {
        Decompressor::new(
            params.recv_window_bits(role),
            params.recv_no_context_takeover(role),
        )
    }

    /// Whether the zlib stream (its window is most of its memory) exists.
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    /// Inflates a piece of a compressed message, appending to `out`.
    ///
    /// `out` is the message so far; it never grows past `limit` bytes, nor
    /// does its capacity. Output that would pass the limit fails with 1009
    /// at once, so a small bomb costs at most `limit` bytes. Corrupt
    /// deflate data fails with 1002.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if self.stream_ended {
            return Ok(());
        }
        let window_bits = self.window_bits;
        let stream = self
            .stream
            .get_or_insert_with(|| Inflate::new(false, window_bits));
        if inflate_bounded(stream, input, out, limit)? == Flow::StreamEnded {
            // A final block (BFINAL) ended the peer's deflate stream; its
            // next message starts a new one, so nothing is lost.
            self.stream = None;
            self.stream_ended = true;
        }
        Ok(())
    }

    /// Ends a message: inflates the tail the sender cut off (so the last
    /// block completes), then forgets the window if no context is kept.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        // After a final block the tail would read as the start of a new
        // stream (a stored block header missing its first byte).
        if !std::mem::take(&mut self.stream_ended) {
            self.inflate(&SYNC_TAIL, out, limit)?;
        }
        if self.no_context_takeover {
            self.reset();
        }
        Ok(())
    }

    /// Frees the zlib stream if that loses nothing (no context kept);
    /// call between messages. Returns whether it is now released.
    pub fn release(&mut self) -> bool {
        if self.no_context_takeover {
            self.stream = None;
        }
        self.stream.is_none()
    }

    /// Drops the stream whatever the context rules, e.g. once the
    /// connection will read nothing more.
    pub fn discard(&mut self) {
        self.stream = None;
        self.stream_ended = false;
    }

    fn reset(&mut self) {
        // `Inflate::reset` widens the window back to 15 bits, which decodes
        // anything and costs nothing more: zlib-rs holds a 32 KiB window
        // whatever the size asked for (see the memory table).
        if let Some(stream) = self.stream.as_mut() {
            stream.reset(false);
        }
    }
}

/// How an inflate call ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// All input taken; the stream goes on.
    Continue,
    /// The stream's final block is done; input after it is ignored.
    StreamEnded,
}

fn inflate_bounded(
    stream: &mut Inflate,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<Flow, ProtocolError> {
    // Start near what the input will likely inflate to, so a small message
    // does not get (and hand to the caller) a 64 KiB buffer, and double
    // while the output keeps filling the room.
    let mut step = (input.len() * 4).clamp(FIRST_OUTPUT_STEP, OUTPUT_STEP);
    loop {
        let room = limit.saturating_sub(out.len()).min(step);
        step = (step * 2).min(OUTPUT_STEP);
        if room == 0 {
            return probe_past_limit(stream, input);
        }
        let start = out.len();
        reserve_within(out, room, limit);
        out.resize(start + room, 0);
        let (in_before, out_before) = (stream.total_in(), stream.total_out());
        let status = stream.decompress(input, &mut out[start..], InflateFlush::SyncFlush);
        let consumed = (stream.total_in() - in_before) as usize;
        let produced = (stream.total_out() - out_before) as usize;
        out.truncate(start + produced);
        input = &input[consumed..];
        match status {
            Ok(Status::StreamEnd) => return Ok(Flow::StreamEnded),
            Ok(_) => {}
            Err(e) => return Err(corrupt(e)),
        }
        // Done when the input is used up and the output did not fill the
        // room, or when no progress is possible without more input.
        if (input.is_empty() && produced < room) || (consumed == 0 && produced == 0) {
            return Ok(Flow::Continue);
        }
    }
}

/// `out` is full to the limit: any further output byte makes the message
/// too big. Inflate into a one-byte scratch to find out, allocating nothing.
fn probe_past_limit(stream: &mut Inflate, mut input: &[u8]) -> Result<Flow, ProtocolError> {
    let mut scratch = [0u8; 1];
    loop {
        let (in_before, out_before) = (stream.total_in(), stream.total_out());
        let status = stream.decompress(input, &mut scratch, InflateFlush::SyncFlush);
        let consumed = (stream.total_in() - in_before) as usize;
        if stream.total_out() > out_before {
            return Err(ProtocolError::new(
                close::TOO_BIG,
                "decompressed message too big",
            ));
        }
        input = &input[consumed..];
        match status {
            Err(e) => return Err(corrupt(e)),
            Ok(Status::StreamEnd) => return Ok(Flow::StreamEnded),
            Ok(_) if consumed == 0 || input.is_empty() => return Ok(Flow::Continue),
            Ok(_) => {}
        }
    }
}

/// Grows `out`'s capacity for `room` more bytes without letting it pass
/// `limit` (plain `reserve` may double it).
fn reserve_within(out: &mut Vec<u8>, room: usize, limit: usize) {
    let needed = out.len() + room;
    if out.capacity() >= needed {
        return;
    }
    let target = (out.capacity() * 2).clamp(needed, limit.max(needed));
    out.reserve_exact(target - out.len());
}

fn corrupt(_error: InflateError) -> ProtocolError {
    ProtocolError::new(close::PROTOCOL_ERROR, "invalid compressed data")
}

/// One compressor shared by many connections, for a broadcast: compress a
/// message once, send the same bytes to every connection it
/// [fits](SharedCompressor::fits). Contexts are never kept, since each
/// receiver's history differs.
#[derive(Debug)]
pub struct SharedCompressor {
    inner: Compressor,
}

impl SharedCompressor {
    /// A shared compressor with these zlib settings and window.
    pub fn new(level: u8, mem_level: u8, window_bits: u8) -> Self {
        SharedCompressor {
            inner: Compressor::new(CompressorSettings {
                level,
                mem_level,
                window_bits,
                no_context_takeover: true,
            }),
        }
    }

    /// Compresses one whole message into a fresh payload (tail cut off),
    /// to be framed with RSV1 by each session (see
    /// [`crate::ws::Session::compressed_frame_header`]).
    pub fn compress(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() / 2 + 16);
        self.inner.compress_message(input, &mut out);
        out
    }

    /// The window it compresses with.
    pub fn window_bits(&self) -> u8 {
        self.inner.settings.window_bits
    }

    /// Whether a connection in `role` under `params` may take its output:
    /// its own compressor keeps no context (a foreign message in the
    /// peer's window would throw off its distances) and its peer accepts
    /// our window.
    pub fn fits(&self, params: &DeflateParams, role: Role) -> bool {
        params.send_no_context_takeover(role) && self.window_bits() <= params.send_window_bits(role)
    }

    /// Frees the zlib stream until the next message.
    pub fn release(&mut self) {
        self.inner.release();
    }
}
