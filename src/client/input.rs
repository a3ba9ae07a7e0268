//! The blocking client's receive buffer.
//!
//! Each read asks the socket for up to [`READ_STEP`] bytes behind what is
//! still unparsed. A `Vec` grown with `resize` before every read and cut
//! back after it would write zeros over the whole step each time: 64 KiB
//! of stores to receive a message of a few bytes. This buffer keeps the
//! room it has initialised once and only counts how much of it is filled,
//! as the server's message buffers do.

use std::io::{self, Read};

/// How much room one read offers, and the most output the client keeps
/// between messages. Smaller than the loop's shared read buffer: this one
/// is per connection.
pub(super) const READ_STEP: usize = 64 * 1024;

/// Received bytes, `bytes[..filled]`, in front of initialised room.
#[derive(Default)]
pub(super) struct Input {
    bytes: Vec<u8>,
    filled: usize,
}

impl Input {
    /// The bytes received and not yet consumed.
    pub(super) fn filled(&self) -> &[u8] {
        &self.bytes[..self.filled]
    }

    /// The same, for parsing in place (payloads are unmasked where they lie).
    pub(super) fn filled_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.filled]
    }

    /// Drops the first `n` filled bytes and moves the rest to the front.
    pub(super) fn consume(&mut self, n: usize) {
        self.bytes.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// One read from `stream` behind the filled bytes; how many arrived (0 at EOF).
    pub(super) fn read_from(&mut self, stream: &mut impl Read) -> io::Result<usize> {
        let end = self.filled + READ_STEP;
        if self.bytes.len() < end {
            // Zeroed once, the first time the buffer reaches this size.
            self.bytes.resize(end, 0);
        }
        let n = stream.read(&mut self.bytes[self.filled..end])?;
        self.filled += n;
        Ok(n)
    }

    /// Gives the memory back (the connection is over).
    pub(super) fn release(&mut self) {
        *self = Input::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_append_and_consume_keeps_the_rest() {
        let mut input = Input::default();
        let mut source: &[u8] = b"hello world";
        assert_eq!(input.read_from(&mut source).unwrap(), 11);
        input.consume(6);
        assert_eq!(input.filled(), b"world");
        let mut more: &[u8] = b"!";
        input.read_from(&mut more).unwrap();
        assert_eq!(input.filled(), b"world!");
        input.filled_mut()[0] = b'W';
        assert_eq!(input.filled(), b"World!");
        let mut eof: &[u8] = b"";
        assert_eq!(input.read_from(&mut eof).unwrap(), 0);
        assert_eq!(input.filled(), b"World!");
        // The room stays: no new zeroing for a read of the same size.
        let room = input.bytes.len();
        input.consume(6);
        input.read_from(&mut &b"x"[..]).unwrap();
        assert_eq!(input.bytes.len(), room);
        input.release();
        assert!(input.filled().is_empty() && input.bytes.capacity() == 0);
    }
}
