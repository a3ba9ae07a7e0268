//! Incremental UTF-8 validation.
//!
//! A text message may arrive in many fragments and many reads, and a code
//! point may be cut anywhere. RFC 6455 asks that invalid text fail the
//! connection (1007), and failing *as soon as* the bytes go wrong (rather
//! than after buffering the whole message) is both what Autobahn checks and
//! what keeps a hostile peer from making us buffer garbage.
//!
//! The trick is to let `std::str::from_utf8` (which is heavily optimised) do
//! all the work on the bulk of each piece. Its error tells two cases apart:
//! `error_len() == Some(_)` means the bytes are wrong no matter what follows,
//! `None` means they merely stop in the middle of a code point. Only in the
//! second case do we keep the (at most 3) dangling bytes and finish that one
//! code point by hand on the next call.

use std::fmt;

/// The text was not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for Utf8Error {}

/// Validates UTF-8 fed in arbitrary pieces. Holds at most one unfinished
/// code point (4 bytes), so it is cheap to keep one per connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    /// Bytes of a code point cut off at the end of the previous piece.
    partial: [u8; 4],
    partial_len: usize,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Forgets any unfinished code point, ready for a new message.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Checks the next piece of the message. Fails as soon as the bytes seen
    /// so far cannot be the start of valid UTF-8 (overlong forms, surrogates,
    /// code points above U+10FFFF, bad continuation bytes), even if the
    /// message is not over yet.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        let mut rest = bytes;
        if self.partial_len > 0 {
            rest = self.complete_partial(rest)?;
            if self.partial_len > 0 {
                // The piece ended before the code point did; nothing left.
                return Ok(());
            }
        }
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(e) => {
                // At most 3 bytes dangle: a 4-byte sequence missing one.
                let tail = &rest[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
        }
    }

    /// Checks that the message did not stop in the middle of a code point.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.partial_len == 0 {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }

    /// Appends bytes from `input` to the pending code point until it is
    /// complete, and returns what is left of `input`.
    fn complete_partial<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], Utf8Error> {
        let want = sequence_len(self.partial[0]).saturating_sub(self.partial_len);
        let take = want.min(input.len());
        let end = self.partial_len + take;
        self.partial[self.partial_len..end].copy_from_slice(&input[..take]);
        self.partial_len = end;
        match std::str::from_utf8(&self.partial[..end]) {
            Ok(_) => {
                self.partial_len = 0;
                Ok(&input[take..])
            }
            // Still a valid prefix: `take == input.len()`, wait for more.
            Err(e) if e.error_len().is_none() => Ok(&input[take..]),
            Err(_) => Err(Utf8Error),
        }
    }
}

/// Length of the sequence a lead byte starts. Only called on bytes that
/// `from_utf8` accepted as the start of an unfinished sequence.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_whole(bytes: &[u8]) -> bool {
        let mut v = Utf8Validator::new();
        v.feed(bytes).is_ok() && v.finish().is_ok()
    }

    /// Feeds `bytes` in the given pieces; returns the index of the piece that
    /// failed (pieces.len() means `finish` failed), or None if valid.
    fn first_failure(pieces: &[&[u8]]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        for (i, piece) in pieces.iter().enumerate() {
            if v.feed(piece).is_err() {
                return Some(i);
            }
        }
        v.finish().err().map(|_| pieces.len())
    }

    const VALID: &[&str] = &[
        "",
        "hello",
        "κόσμε",
        "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
        "日本語のテキスト🎉🎉 mixed ascii",
        "\u{d7ff}\u{e000}",
    ];

    const INVALID: &[&[u8]] = &[
        b"\xc0\x80",         // overlong NUL
        b"\xc1\xbf",         // overlong
        b"\xe0\x80\x80",     // overlong 3-byte
        b"\xe0\x9f\xbf",     // overlong 3-byte
        b"\xf0\x80\x80\x80", // overlong 4-byte
        b"\xf0\x8f\xbf\xbf", // overlong 4-byte
        b"\xed\xa0\x80",     // surrogate D800
        b"\xed\xbf\xbf",     // surrogate DFFF
        b"\xf4\x90\x80\x80", // U+110000
        b"\xf5\x80\x80\x80", // lead byte beyond range
        b"\xff",             // never valid
        b"\x80",             // lone continuation
        b"a\xc3(",           // bad continuation
        b"\xe2\x82(",        // bad third byte
        b"\xf0\x9f\x98(",    // bad fourth byte
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
    ];

    #[test]
    fn agrees_with_std_on_whole_inputs() {
        for s in VALID {
            assert!(validate_whole(s.as_bytes()), "{s:?}");
        }
        for bytes in INVALID {
            assert!(!validate_whole(bytes), "{bytes:?}");
        }
    }

    #[test]
    fn valid_text_split_at_every_position() {
        for s in VALID {
            let b = s.as_bytes();
            for i in 0..=b.len() {
                for j in i..=b.len() {
                    assert_eq!(first_failure(&[&b[..i], &b[i..j], &b[j..]]), None);
                }
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        for s in VALID {
            let pieces: Vec<&[u8]> = s.as_bytes().chunks(1).collect();
            assert_eq!(first_failure(&pieces), None, "{s:?}");
        }
        for bytes in INVALID {
            let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
            assert!(first_failure(&pieces).is_some(), "{bytes:?}");
        }
    }

    #[test]
    fn invalid_text_fails_in_the_piece_holding_the_bad_byte() {
        // For every split, failure must be reported by the piece holding the
        // first byte after which the text can no longer be valid.
        for bytes in INVALID {
            let bad = (0..bytes.len())
                .find(|&k| {
                    std::str::from_utf8(&bytes[..=k]).is_err_and(|e| e.error_len().is_some())
                })
                .unwrap();
            for i in 0..=bytes.len() {
                for j in i..=bytes.len() {
                    let pieces: [&[u8]; 3] = [&bytes[..i], &bytes[i..j], &bytes[j..]];
                    let expected = if bad < i {
                        0
                    } else if bad < j {
                        1
                    } else {
                        2
                    };
                    assert_eq!(
                        first_failure(&pieces),
                        Some(expected),
                        "{bytes:?} split at {i},{j}"
                    );
                }
            }
        }
    }

    #[test]
    fn incomplete_at_end_fails_only_in_finish() {
        for bytes in [&b"\xc3"[..], b"\xe2\x82", b"\xf0\x9f\x98", b"ok\xf4\x8f"] {
            let mut v = Utf8Validator::new();
            assert!(v.feed(bytes).is_ok());
            assert_eq!(v.finish(), Err(Utf8Error));
            v.reset();
            assert!(v.finish().is_ok());
        }
    }

    #[test]
    fn fails_early_on_impossible_prefixes() {
        // These are wrong after two bytes; the message need not end first.
        for prefix in [&b"\xed\xa0"[..], b"\xf4\x90", b"\xe0\x80", b"\xf0\x80"] {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(&prefix[..1]), Ok(()));
            assert_eq!(v.feed(&prefix[1..]), Err(Utf8Error), "{prefix:?}");
        }
    }

    #[test]
    fn random_splits_match_std() {
        let mut rng = fastrand::Rng::with_seed(42);
        let alphabet: &[&[u8]] = &[
            b"a",
            b"\xc3\xa9",
            b"\xe2\x82\xac",
            b"\xf0\x9f\x98\x80",
            b"\xed\xa0\x80",
            b"\xc0",
            b"\x80",
            b"\xf4\x90\x80\x80",
            b"\xe0\xa0\x80",
        ];
        for _ in 0..3000 {
            let mut msg = Vec::new();
            for _ in 0..rng.usize(0..8) {
                msg.extend_from_slice(alphabet[rng.usize(..alphabet.len())]);
            }
            let mut v = Utf8Validator::new();
            let mut ok = true;
            let mut pos = 0;
            while pos < msg.len() && ok {
                let end = (pos + rng.usize(1..5)).min(msg.len());
                ok = v.feed(&msg[pos..end]).is_ok();
                pos = end;
            }
            ok = ok && v.finish().is_ok();
            assert_eq!(ok, std::str::from_utf8(&msg).is_ok(), "{msg:?}");
        }
    }
}
