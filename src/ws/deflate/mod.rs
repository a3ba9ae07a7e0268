//! permessage-deflate (RFC 7692): compressed message payloads.
//!
//! The extension sits between the frame codec and the events: a message
//! whose first frame has RSV1 set carries raw deflate data, which the
//! session inflates before validating and delivering it; on the way out,
//! the session compresses messages of at least
//! [`DeflateConfig::min_size`] bytes and sets RSV1 on their first frame.
//! Everything here is sans-IO, like the rest of [`crate::ws`].
//!
//! - [`params`]: the negotiation, as pure functions from header values to
//!   [`DeflateParams`] and back.
//! - [`codec`]: the [`Compressor`], the bounded [`Decompressor`] and the
//!   [`SharedCompressor`] a broadcast uses.
//!
//! # An 8-bit window
//!
//! A peer may ask for `server_max_window_bits=8` (or, from a server,
//! `client_max_window_bits=8`): what we send must then decode with a
//! 256-byte window, i.e. no match may reach back more than 256 bytes.
//! zlib and zlib-rs refuse a raw 8-bit window (they turn 8 into 9, and the
//! 9-bit compressor may emit distances up to 512), so simply asking them
//! for 8 would be wrong, and declining such offers leaves the extension
//! off for those clients.
//!
//! Two conformant answers exist: send every message uncompressed (RSV1 = 0
//! is always allowed), or compress in a way whose matches stay within 256
//! bytes. We do the second with zlib's RLE strategy on a 9-bit stream: RLE
//! only emits matches at distance 1 (runs of one byte), plus Huffman-coded
//! literals, so every distance fits any window. It still shrinks text (by
//! entropy coding) and runs, at a fraction of the full matcher's ratio.
//! The window size bounds only distances, so the peer's 256-byte
//! decompressor decodes the stream exactly. zlib's own inflate cannot
//! check that claim (asked for a raw 8-bit window it opens 9 bits, so it
//! accepts distances up to 512), hence `tests/deflate_python.rs` walks the
//! deflate blocks in plain Python and asserts no match reaches back more
//! than 2^bits, for every window it tests, besides inflating with zlib.
//!
//! The other direction needs nothing special: if the peer compresses with
//! at most 8 bits, any larger window decodes its output, so our
//! decompressor uses 9 bits (the smallest zlib-rs builds).
//!
//! # Memory
//!
//! Measured with a counting allocator (`tests/deflate_memory.rs` prints
//! the table with `--nocapture`), zlib-rs 0.6, KiB held by one stream:
//!
//! ```text
//!               compressor, by memory level        decompressor
//! window bits    1       5       8       9         (any window)
//!      8, 9    134.0   147.1   245.1   357.1          46.4
//!        10    136.0   149.1   247.1   359.1          46.4
//!        12    148.0   161.1   259.1   371.1          46.4
//!        14    196.0   209.1   307.1   419.1          46.4
//!        15    260.0   273.1   371.1   483.1          46.4
//! ```
//!
//! The compressor's floor is zlib-rs' fixed 128 KiB hash table; the window
//! adds 4 bytes per window byte and the memory level the symbol buffers.
//! zlib-rs' decompressor holds a full 32 KiB window whatever the
//! negotiated size. A session with deflate negotiated but idle holds about
//! 300 bytes; after a compressed send at window 15 / memory level 8 about
//! 371 KiB; released again, 300 bytes. python websockets' default (window
//! 12, memory level 5) would cost 161 KiB here.
//!
//! A compressor is created on the first compressed message, so a connection
//! that sends only small messages never holds one. When our side keeps no
//! context (`*_no_context_takeover`), [`Compressor::release`] frees it
//! between messages at the cost of one allocation per compressed message,
//! and a server can go further and compress a broadcast once for all such
//! connections with a [`SharedCompressor`]: near zero compression memory
//! per connection. The decompressor is created on the first compressed
//! message received and can be released the same way when the peer keeps
//! no context.
//!
//! # Limits
//!
//! `max_message_size` bounds the *decompressed* message. Inflating runs in
//! steps of at most 64 KiB of output into the message buffer, whose
//! capacity never passes the limit; once the buffer is full, one more
//! output byte (probed into a one-byte scratch) fails the connection with
//! 1009. A frame of a few KiB that would inflate to gigabytes costs at most
//! the limit. `max_frame_size` still bounds each frame as it arrives on the
//! wire.

pub mod codec;
pub mod params;

pub use codec::{Compressor, CompressorSettings, Decompressor, SharedCompressor};
pub use params::{
    accept_offer_params, check_answer_params, client_accept, client_offer, parse_extensions,
    server_accept, DeflateConfig, DeflateParams, Extension, ExtensionError, ServerAgreement,
};
