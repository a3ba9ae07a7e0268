//! The outgoing byte queue of one connection.
//!
//! Bytes wait here only when the kernel did not take them at once. Small
//! writes are coalesced into one owned buffer so a burst of messages becomes
//! one `writev`; shared chunks ([`Bytes`]) are queued by reference, so a
//! broadcast frame encoded once is never copied per connection.
//!
//! A third kind of chunk, *lent*, names bytes by address in the buffer the
//! loop just handed to `data_received` (an echo framed in place there, see
//! `Transport::lend`). It lives only until that call returns: the transport
//! then writes it or copies it (`WriteQueue::settle_lent`), before the
//! buffer takes the next read.
//!
//! A queue that drains gives its storage back, so an idle connection holds
//! none; the storage (the box, its ring of chunks and one emptied buffer)
//! waits on the thread for the next queue that fills, instead of going
//! back to the allocator. On an echo server every turn fills and drains a
//! queue, and that reuse saves three allocations and three frees per turn.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use bytes::Bytes;

/// An owned buffer stops growing at this size and a new one is started, so a
/// long queue is many medium buffers rather than one huge reallocating one.
const COALESCE_LIMIT: usize = 64 * 1024;

/// How many chunks one `writev` call may carry. Linux accepts 1024; past a
/// few dozen the gain is nil and the stack array only grows.
const MAX_IOVECS: usize = 64;

/// An emptied owned buffer is kept for the next tail if it is no larger
/// than this (the coalescing limit plus what one append may add past it).
const KEEP_BUFFER: usize = 2 * COALESCE_LIMIT;

/// A drained queue's ring is kept only up to this many chunk places, so a
/// queue that once held thousands of chunks does not pin them.
const KEEP_CHUNKS: usize = MAX_IOVECS;

thread_local! {
    /// The storage of the last queue this thread drained, for the next one
    /// that fills: one per thread (an event loop is one thread), bounded
    /// by [`KEEP_BUFFER`] and [`KEEP_CHUNKS`].
    static SPARE: Cell<Option<Box<Queued>>> = const { Cell::new(None) };
}

enum Chunk {
    Owned(Vec<u8>),
    Shared(Bytes),
    /// `len` bytes from address `at` of the buffer being offered: an
    /// address, not a reference, because the bytes are only lent until
    /// the offer ends (by then every such chunk is written or copied).
    Lent {
        at: usize,
        len: usize,
    },
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Owned(v) => v.len(),
            Chunk::Shared(b) => b.len(),
            Chunk::Lent { len, .. } => *len,
        }
    }

    /// The chunk's bytes; a lent chunk's are found in `base`, the buffer
    /// they were lent from (`None` if they are not all in it).
    fn bytes<'a>(&'a self, base: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            Chunk::Owned(v) => Some(v),
            Chunk::Shared(b) => Some(b),
            Chunk::Lent { at, len } => {
                let start = at.checked_sub(base.as_ptr() as usize)?;
                base.get(start..start.checked_add(*len)?)
            }
        }
    }
}

/// A FIFO of byte chunks with a running length.
///
/// Most connections have nothing queued most of the time, so an empty
/// queue is one null pointer: the chunks and their ring live in a box that
/// exists only while bytes wait, and is freed when the queue drains.
#[derive(Default)]
pub struct WriteQueue {
    queued: Option<Box<Queued>>,
}

impl WriteQueue {
    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.queued.as_ref().map_or(0, |q| q.len)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queued.is_none()
    }

    /// Copies `data` onto the end of the queue.
    pub fn push_copy(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.open().push_copy(data);
        }
    }

    /// Lets `fill` append bytes to the queue's owned tail buffer.
    ///
    /// This is how encoders write a frame straight into the queue with no
    /// intermediate copy.
    #[inline]
    pub fn append_with<R>(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let result = self.open().append_with(fill);
        self.release_if_empty();
        result
    }

    /// Queues a shared chunk without copying it.
    pub fn push_shared(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.open().push_shared(data);
        }
    }

    /// Queues the `len` bytes at address `at` of the buffer being offered,
    /// without copying them; bytes that follow the last lent ones join
    /// their chunk. Until [`WriteQueue::settle_lent`] the queue cannot be
    /// written by any other method (they stop before a lent chunk).
    pub fn push_lent(&mut self, at: usize, len: usize) {
        if len > 0 {
            self.open().push_lent(at, len);
        }
    }

    /// Whether lent bytes wait (see [`WriteQueue::push_lent`]).
    #[inline]
    pub fn has_lent(&self) -> bool {
        self.queued.as_ref().is_some_and(|q| q.lent > 0)
    }

    /// Ends a loan: writes what is queued to `sink` (when given) as far as
    /// it takes it, lent bytes read from `base`, the buffer they were lent
    /// from, then copies the lent bytes it did not take into the queue.
    /// Returns the bytes written. A lent chunk outside `base` would be a
    /// bug in the lender; it is an error here, not a read out of bounds.
    pub fn settle_lent(&mut self, sink: Option<&mut impl Write>, base: &[u8]) -> io::Result<usize> {
        let Some(queued) = self.queued.as_mut() else {
            return Ok(0);
        };
        let written = match sink {
            Some(sink) => queued.write_from(sink, base),
            None => Ok(0),
        };
        let owned = queued.own_lent(base);
        self.release_if_empty();
        owned?;
        written
    }

    /// Writes what is queued and then `data` with one vectored write, and
    /// queues a copy of the part of `data` the kernel did not take.
    ///
    /// Behind an empty or small queue this spares a large payload the copy
    /// into the queue. Returns the number of bytes written.
    pub fn write_through(&mut self, sink: &mut impl Write, data: &[u8]) -> io::Result<usize> {
        if self.has_lent() {
            // Lent bytes go out first, at the end of the offer.
            self.push_copy(data);
            return Ok(0);
        }
        let result = self.open().write_through(sink, data);
        self.release_if_empty();
        result
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.queued = None;
    }

    /// Writes as much as `sink` takes, with vectored writes.
    ///
    /// Returns the number of bytes written. Stops at `WouldBlock` (not an
    /// error here: the rest waits for the next WRITABLE event) or when the
    /// queue is empty.
    pub fn write_to(&mut self, sink: &mut impl Write) -> io::Result<usize> {
        let Some(queued) = self.queued.as_mut() else {
            return Ok(0);
        };
        let result = queued.write_from(sink, &[]);
        self.release_if_empty();
        result
    }

    fn open(&mut self) -> &mut Queued {
        self.queued
            .get_or_insert_with(|| SPARE.take().unwrap_or_default())
    }

    #[inline]
    fn release_if_empty(&mut self) {
        if self.queued.as_ref().is_some_and(|q| q.len == 0) {
            if let Some(mut storage) = self.queued.take() {
                storage.reset();
                SPARE.set(Some(storage));
            }
        }
    }
}

/// The chunks of a non-empty [`WriteQueue`].
#[derive(Default)]
struct Queued {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    head_offset: usize,
    /// Bytes queued and not yet written.
    len: usize,
    /// An emptied owned buffer, kept for the next tail chunk.
    spare: Vec<u8>,
    /// How many chunks are lent.
    lent: usize,
}

impl Queued {
    fn push_copy(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.append_with(|buf| buf.extend_from_slice(data));
    }

    #[inline(always)]
    fn append_with<R>(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let tail = match self.chunks.back_mut() {
            Some(Chunk::Owned(v)) if v.len() < COALESCE_LIMIT => v,
            _ => {
                let buffer = std::mem::take(&mut self.spare);
                self.chunks.push_back(Chunk::Owned(buffer));
                match self.chunks.back_mut() {
                    Some(Chunk::Owned(v)) => v,
                    _ => unreachable!("just pushed an owned chunk"),
                }
            }
        };
        let before = tail.len();
        let result = fill(tail);
        let added = tail.len() - before;
        self.len += added;
        if added == 0 && tail.is_empty() {
            if let Some(chunk) = self.chunks.pop_back() {
                self.recycle(chunk);
            }
        }
        result
    }

    /// Keeps an owned chunk that was written (or never filled) as the
    /// spare buffer, if there is none and it is not too large.
    fn recycle(&mut self, chunk: Chunk) {
        if let Chunk::Owned(mut buffer) = chunk {
            if self.spare.capacity() == 0 && buffer.capacity() <= KEEP_BUFFER {
                buffer.clear();
                self.spare = buffer;
            }
        }
    }

    /// Empties the storage for reuse by another queue, within the bounds.
    fn reset(&mut self) {
        while let Some(chunk) = self.chunks.pop_front() {
            self.recycle(chunk);
        }
        if self.chunks.capacity() > KEEP_CHUNKS {
            self.chunks = VecDeque::new();
        }
        self.head_offset = 0;
        self.len = 0;
        self.lent = 0;
    }

    fn push_shared(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        self.chunks.push_back(Chunk::Shared(data));
    }

    fn push_lent(&mut self, at: usize, len: usize) {
        self.len += len;
        if let Some(Chunk::Lent {
            at: tail,
            len: tail_len,
        }) = self.chunks.back_mut()
        {
            if *tail + *tail_len == at {
                *tail_len += len;
                return;
            }
        }
        self.chunks.push_back(Chunk::Lent { at, len });
        self.lent += 1;
    }

    /// Replaces every lent chunk by an owned copy of its bytes in `base`.
    fn own_lent(&mut self, base: &[u8]) -> io::Result<()> {
        if self.lent == 0 {
            return Ok(());
        }
        for chunk in self.chunks.iter_mut() {
            if let Chunk::Lent { .. } = chunk {
                let bytes = chunk.bytes(base).ok_or_else(|| {
                    io::Error::other("lent bytes outside the buffer they were lent from")
                })?;
                // Into the kept buffer when there is one, as a copy into
                // the queue would go: a large echo the socket did not take
                // at once then costs no allocation.
                let mut owned = std::mem::take(&mut self.spare);
                owned.extend_from_slice(bytes);
                *chunk = Chunk::Owned(owned);
                self.lent -= 1;
            }
        }
        Ok(())
    }

    fn write_through(&mut self, sink: &mut impl Write, data: &[u8]) -> io::Result<usize> {
        if self.chunks.len() >= MAX_IOVECS {
            self.push_copy(data);
            return Ok(0);
        }
        let result = loop {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let count = self.fill_slices(&mut slices, &[]);
            slices[count] = IoSlice::new(data);
            match sink.write_vectored(&slices[..=count]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let written = match result {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        let from_queue = written.min(self.len);
        self.consume(from_queue);
        self.push_copy(&data[written - from_queue..]);
        Ok(written)
    }

    /// Points `slices` at the queued bytes, front first, and returns how
    /// many it filled (at most `slices.len()`). Lent bytes are found in
    /// `base`; it stops before a lent chunk that is not there.
    fn fill_slices<'a>(&'a self, slices: &mut [IoSlice<'a>], base: &'a [u8]) -> usize {
        let mut count = 0;
        for (slot, chunk) in slices.iter_mut().zip(&self.chunks) {
            let Some(bytes) = chunk.bytes(base) else {
                break;
            };
            *slot = IoSlice::new(if count == 0 {
                &bytes[self.head_offset..]
            } else {
                bytes
            });
            count += 1;
        }
        count
    }

    /// Writes as much as `sink` takes, lent bytes read from `base`.
    #[inline(always)]
    fn write_from(&mut self, sink: &mut impl Write, base: &[u8]) -> io::Result<usize> {
        let mut total = 0;
        while self.len > 0 {
            let result = match self.chunks.len() {
                // Most flushes write one coalesced (or lent) buffer: a
                // plain write from it, without filling (1 KiB of) the
                // iovec array.
                1 => match self.chunks[0].bytes(base) {
                    Some(bytes) => sink.write(&bytes[self.head_offset..]),
                    None => break,
                },
                _ => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                    let count = self.fill_slices(&mut slices, base);
                    if count == 0 {
                        break;
                    }
                    sink.write_vectored(&slices[..count])
                }
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.consume(n);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    #[inline]
    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let front_len = self.chunks.front().map_or(0, Chunk::len);
            let left = front_len - self.head_offset;
            if n >= left {
                n -= left;
                if let Some(chunk) = self.chunks.pop_front() {
                    if let Chunk::Lent { .. } = chunk {
                        self.lent -= 1;
                    }
                    self.recycle(chunk);
                }
                self.head_offset = 0;
            } else {
                self.head_offset += n;
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `cap` bytes per call, to exercise partial writes.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        budget: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.cap).min(self.budget);
            self.out.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }
        /// Like a socket: takes from several slices in one call.
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut total = 0;
            for buf in bufs {
                let n = self.write(buf).unwrap_or(0);
                total += n;
                if n < buf.len() {
                    break;
                }
            }
            Ok(total)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn preserves_order_across_partial_vectored_writes() {
        let mut q = WriteQueue::default();
        let mut expected = Vec::new();
        for i in 0..200u32 {
            let piece: Vec<u8> = (0..(i * 37 % 1000)).map(|b| (b ^ i) as u8).collect();
            expected.extend_from_slice(&piece);
            if i % 3 == 0 {
                q.push_shared(Bytes::from(piece));
            } else {
                q.push_copy(&piece);
            }
        }
        assert_eq!(q.len(), expected.len());
        let mut sink = Trickle {
            out: Vec::new(),
            cap: 777,
            budget: 5000,
        };
        while !q.is_empty() {
            sink.budget = 5000;
            let n = q.write_to(&mut sink).unwrap();
            assert!(n > 0);
        }
        assert_eq!(sink.out, expected);
    }

    #[test]
    fn would_block_keeps_the_rest() {
        let mut q = WriteQueue::default();
        q.push_copy(&[1; 100]);
        let mut sink = Trickle {
            out: Vec::new(),
            cap: 1000,
            budget: 30,
        };
        assert_eq!(q.write_to(&mut sink).unwrap(), 30);
        assert_eq!(q.len(), 70);
    }

    #[test]
    fn write_through_queues_what_the_sink_did_not_take() {
        for budget in [0, 3, 10, 12, 40, 1000] {
            let mut q = WriteQueue::default();
            q.push_copy(b"head-");
            q.push_shared(Bytes::from_static(b"mid-"));
            let mut sink = taking(budget);
            let data: Vec<u8> = (0..30).collect();
            let n = q.write_through(&mut sink, &data).unwrap();
            assert_eq!(n, sink.out.len());
            assert_eq!(q.len(), 9 + data.len() - n);
            sink.budget = usize::MAX;
            while !q.is_empty() {
                q.write_to(&mut sink).unwrap();
            }
            let mut expected = b"head-mid-".to_vec();
            expected.extend_from_slice(&data);
            assert_eq!(sink.out, expected, "budget {budget}");
        }
    }

    /// A sink that takes up to `budget` bytes, 1000 a call.
    fn taking(budget: usize) -> Trickle {
        Trickle {
            out: Vec::new(),
            cap: 1000,
            budget,
        }
    }

    /// The address of `buf[i]`, as `Transport::lend` is given it.
    fn at(buf: &[u8], i: usize) -> usize {
        buf.as_ptr() as usize + i
    }

    #[test]
    fn lent_bytes_go_out_in_order_and_what_is_not_taken_is_copied() {
        let read: Vec<u8> = (0..200).map(|i| i as u8).collect();
        for budget in [0, 1, 5, 30, 95, 1000] {
            let mut q = WriteQueue::default();
            q.push_copy(b"pong");
            // Two loans back to back become one chunk; an owned frame
            // between loans keeps its place.
            q.push_lent(at(&read, 10), 40);
            q.push_lent(at(&read, 50), 20);
            q.push_copy(b"-mid-");
            q.push_lent(at(&read, 100), 30);
            assert!(q.has_lent());
            assert_eq!(q.len(), 4 + 60 + 5 + 30);
            assert_eq!(q.queued.as_ref().unwrap().chunks.len(), 4);
            let mut sink = taking(budget);
            let n = q.settle_lent(Some(&mut sink), &read).unwrap();
            assert_eq!(n, sink.out.len());
            assert!(!q.has_lent(), "nothing stays lent after the offer");
            sink.budget = usize::MAX;
            while !q.is_empty() {
                q.write_to(&mut sink).unwrap();
            }
            let mut expected = b"pong".to_vec();
            expected.extend_from_slice(&read[10..70]);
            expected.extend_from_slice(b"-mid-");
            expected.extend_from_slice(&read[100..130]);
            assert_eq!(sink.out, expected, "budget {budget}");
        }
    }

    #[test]
    fn without_a_socket_lent_bytes_are_copied() {
        let mut read = vec![1u8; 64];
        let mut q = WriteQueue::default();
        q.push_lent(at(&read, 8), 16);
        q.settle_lent(None::<&mut Trickle>, &read).unwrap();
        // The buffer takes the next read: the queue has its own copy.
        read.fill(9);
        let mut sink = taking(1000);
        q.write_to(&mut sink).unwrap();
        assert_eq!(sink.out, vec![1u8; 16]);
    }

    #[test]
    fn lent_bytes_outside_their_buffer_are_an_error_not_a_read() {
        let read = vec![0u8; 64];
        let mut q = WriteQueue::default();
        q.push_lent(at(&read, 60), 8);
        let mut sink = taking(1000);
        // An ordinary flush stops before a lent chunk: it has no buffer.
        assert_eq!(q.write_to(&mut sink).unwrap(), 0);
        assert!(q.settle_lent(Some(&mut sink), &read).is_err());
        assert!(sink.out.is_empty());
    }

    #[test]
    fn write_through_behind_lent_bytes_queues_instead() {
        let read = vec![7u8; 32];
        let mut q = WriteQueue::default();
        q.push_lent(at(&read, 0), 32);
        let mut sink = taking(1000);
        assert_eq!(q.write_through(&mut sink, b"after").unwrap(), 0);
        assert!(sink.out.is_empty(), "nothing may overtake the lent bytes");
        q.settle_lent(Some(&mut sink), &read).unwrap();
        let mut expected = read.clone();
        expected.extend_from_slice(b"after");
        assert_eq!(sink.out, expected);
    }

    #[test]
    fn empty_appends_leave_no_chunk() {
        let mut q = WriteQueue::default();
        q.append_with(|_| ());
        q.push_copy(&[]);
        q.push_shared(Bytes::new());
        assert!(q.is_empty());
        assert!(q.queued.is_none(), "an empty queue holds no allocation");
    }

    #[test]
    fn a_drained_queue_leaves_its_storage_for_the_next_one() {
        let mut sink = Trickle {
            out: Vec::new(),
            cap: usize::MAX,
            budget: usize::MAX,
        };
        let mut first = WriteQueue::default();
        first.push_copy(&[7; 1000]);
        let buffer = match first.queued.as_ref().unwrap().chunks.front() {
            Some(Chunk::Owned(v)) => v.as_ptr(),
            _ => unreachable!(),
        };
        first.write_to(&mut sink).unwrap();
        assert!(first.queued.is_none(), "a drained queue holds nothing");

        // Another connection's queue on the same thread fills next: it gets
        // the same buffer back, empty, and writes what it is given.
        let mut second = WriteQueue::default();
        second.push_copy(b"next");
        match second.queued.as_ref().unwrap().chunks.front() {
            Some(Chunk::Owned(v)) => {
                assert_eq!(v.as_ptr(), buffer);
                assert_eq!(v.as_slice(), b"next");
            }
            _ => unreachable!(),
        }
        assert_eq!(second.len(), 4);
        second.write_to(&mut sink).unwrap();
        assert_eq!(sink.out.len(), 1004);
        assert_eq!(&sink.out[1000..], b"next");
    }
}
