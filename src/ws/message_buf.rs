//! The buffer a message is reassembled in when it does not arrive whole,
//! and the per-thread spares that let large messages reuse one.
//!
//! A large frame is read in pieces. The first piece lands in the loop's
//! shared read buffer together with the header; once the header has told
//! the frame's size, the rest can be read by the kernel straight into the
//! buffer the message will be handed over in (`MessageBuf::target`),
//! unmasked there in place, and echoed from there: one copy by the kernel,
//! none in user space.
//!
//! Reading into a buffer needs initialised bytes. Zeroing a megabyte before
//! every read would cost as much as the copy it saves, so a buffer keeps
//! its initialised length (`buf.len()`) apart from the bytes of the message
//! it holds (`filled`), and a buffer handed back after its message
//! ([`recycle`]) is reused by the next large message of the thread without
//! being zeroed again. The spares are bounded ([`SPARE_BYTES`]): an idle
//! thread keeps a few megabytes at most, and an idle connection none.

use std::cell::RefCell;

/// Messages whose rest is at least this large take a buffer from the
/// thread's spares, and frames with at least this much left to come are
/// read straight into it. A chosen line, not a measured one: below it a
/// copy out of the shared read buffer is a few cache lines, and an extra
/// `read` per small frame would cost a syscall.
pub const LARGE: usize = 16 * 1024;

/// Bytes of buffers each thread keeps for the next large messages.
pub const SPARE_BYTES: usize = 4 * 1024 * 1024;

/// At most this many buffers wait on a thread.
const SPARE_COUNT: usize = 8;

thread_local! {
    static SPARES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A message being reassembled: its bytes, and initialised room after them.
#[derive(Debug, Default)]
pub(crate) struct MessageBuf {
    /// Initialised storage; `buf[..filled]` is the message so far.
    buf: Vec<u8>,
    filled: usize,
}

impl MessageBuf {
    /// Bytes of the message received so far.
    pub(crate) fn len(&self) -> usize {
        self.filled
    }

    /// Whether no byte of a message is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Appends `chunk`, making room for `rest` bytes in all (`chunk`
    /// included) when more is known to follow. `exact` reserves just that
    /// (the message's last frame); otherwise growth stays amortised, or a
    /// message of many fragments would be moved once per fragment.
    pub(crate) fn append(&mut self, chunk: &[u8], rest: usize, exact: bool) {
        let end = self.filled + chunk.len();
        if self.filled == 0 && self.buf.is_empty() && rest >= LARGE {
            self.buf = take_spare(rest);
        }
        if end <= self.buf.len() {
            self.buf[self.filled..end].copy_from_slice(chunk);
        } else {
            self.buf.truncate(self.filled);
            if exact {
                self.buf.reserve_exact(rest);
            } else {
                self.buf.reserve(rest);
            }
            self.buf.extend_from_slice(chunk);
        }
        self.filled = end;
    }

    /// The `n` bytes right after the message so far, initialised, for a
    /// read to fill; [`MessageBuf::commit`] then adds what was read.
    pub(crate) fn target(&mut self, n: usize) -> &mut [u8] {
        let end = self.filled + n;
        if self.buf.len() < end {
            if self.filled == 0 && self.buf.capacity() < end {
                self.buf = take_spare(end);
            }
            if self.buf.len() < end {
                // Zeroes only bytes never initialised: a spare is reused as is.
                self.buf.resize(end, 0);
            }
        }
        &mut self.buf[self.filled..end]
    }

    /// Adds `n` bytes a read put into [`MessageBuf::target`]; returns them.
    pub(crate) fn commit(&mut self, n: usize) -> &mut [u8] {
        let start = self.filled;
        self.filled += n;
        debug_assert!(self.filled <= self.buf.len());
        &mut self.buf[start..self.filled]
    }

    /// The storage as a plain vector of the message's bytes, for code that
    /// appends to it itself (the decompressor); [`MessageBuf::sync`] after.
    pub(crate) fn as_vec(&mut self) -> &mut Vec<u8> {
        self.buf.truncate(self.filled);
        &mut self.buf
    }

    /// Takes the vector's length back as the message's after [`MessageBuf::as_vec`].
    pub(crate) fn sync(&mut self) {
        self.filled = self.buf.len();
    }

    /// The message, handed over whole; the buffer is left empty.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.buf.truncate(self.filled);
        self.filled = 0;
        std::mem::take(&mut self.buf)
    }
}

/// Hands a message's buffer back once its bytes are no longer needed, for
/// the next large message on this thread. Small buffers, and any beyond
/// the thread's bound, are freed.
pub fn recycle(buf: Vec<u8>) {
    if buf.capacity() < LARGE || buf.capacity() > SPARE_BYTES {
        return;
    }
    SPARES.with(|spares| {
        let Ok(mut spares) = spares.try_borrow_mut() else {
            return;
        };
        spares.push(buf);
        // Over the bound, the smallest go first: they are the cheapest to
        // allocate again.
        while spares.len() > SPARE_COUNT
            || spares.iter().map(Vec::capacity).sum::<usize>() > SPARE_BYTES
        {
            let smallest = (0..spares.len())
                .min_by_key(|&i| spares[i].capacity())
                .unwrap_or(0);
            spares.swap_remove(smallest);
        }
    });
}

/// Bytes the thread's spare buffers hold.
#[cfg(test)]
fn spare_bytes() -> usize {
    SPARES.with(|s| {
        s.try_borrow()
            .map_or(0, |s| s.iter().map(Vec::capacity).sum())
    })
}

/// The smallest spare that holds `min` bytes without growing, or a new
/// buffer. Its length is what is initialised in it, which may be more or
/// less than `min`.
fn take_spare(min: usize) -> Vec<u8> {
    let reused = SPARES.with(|spares| {
        let mut spares = spares.try_borrow_mut().ok()?;
        let best = (0..spares.len())
            .filter(|&i| spares[i].capacity() >= min)
            .min_by_key(|&i| spares[i].capacity())?;
        Some(spares.swap_remove(best))
    });
    // `vec![0; n]` is `calloc`: for large sizes, pages the kernel zeroes
    // as they are first touched, not a pass over the buffer here.
    reused.unwrap_or_else(|| vec![0; min])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_spares() {
        SPARES.with(|s| s.borrow_mut().clear());
    }

    #[test]
    fn appends_and_direct_fills_make_one_message() {
        drain_spares();
        let mut m = MessageBuf::default();
        m.append(b"head", 4 + LARGE, true);
        let target = m.target(LARGE);
        assert_eq!(target.len(), LARGE);
        target[..3].copy_from_slice(b"abc");
        assert_eq!(m.commit(3), b"abc");
        m.append(b"tail", 0, false);
        assert_eq!(m.len(), 11);
        assert_eq!(m.take(), b"headabctail");
        assert!(m.is_empty());
    }

    #[test]
    fn a_recycled_buffer_serves_the_next_large_message_without_zeroing() {
        drain_spares();
        let mut m = MessageBuf::default();
        let target = m.target(LARGE * 2);
        target.fill(7);
        m.commit(LARGE * 2);
        let first = m.take();
        let ptr = first.as_ptr();
        recycle(first);
        assert!(spare_bytes() >= LARGE * 2);
        // The same storage comes back, its old bytes still there (not
        // zeroed again), and is overwritten by the new message only.
        let target = m.target(LARGE);
        assert_eq!(target.as_ptr(), ptr);
        assert!(target.iter().all(|&b| b == 7));
        assert_eq!(spare_bytes(), 0);
    }

    #[test]
    fn spares_stay_within_their_bound() {
        drain_spares();
        for _ in 0..SPARE_COUNT * 2 {
            recycle(vec![0; SPARE_BYTES / 3]);
        }
        assert!(spare_bytes() <= SPARE_BYTES);
        recycle(vec![0; SPARE_BYTES + 1]);
        recycle(vec![0; LARGE - 1]);
        assert!(spare_bytes() <= SPARE_BYTES);
        drain_spares();
        for _ in 0..SPARE_COUNT * 2 {
            recycle(vec![0; LARGE]);
        }
        SPARES.with(|s| assert_eq!(s.borrow().len(), SPARE_COUNT));
    }
}
