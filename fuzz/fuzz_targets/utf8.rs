//! The incremental UTF-8 validator against `std::str::from_utf8`.
//!
//! Bytes 0-7 seed a cut of the rest into pieces. After every piece the
//! validator's verdict must match std's on the prefix seen so far: it may
//! fail exactly when no continuation could make the prefix valid, and at
//! the end it must accept exactly the inputs std accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::utf8::Utf8Validator;
use wsloop_fuzz::chunks;

fuzz_target!(|data: &[u8]| {
    let (head, text) = chunks::header::<8>(data);
    let mut validator = Utf8Validator::new();
    let mut seen = 0;
    for piece in chunks::split(text, u64::from_le_bytes(head)) {
        seen += piece.len();
        // std says "invalid whatever follows" with `error_len() == Some`.
        let doomed = std::str::from_utf8(&text[..seen]).is_err_and(|e| e.error_len().is_some());
        let ok = validator.feed(piece).is_ok();
        assert_eq!(ok, !doomed, "verdict after {seen} of {} bytes", text.len());
        if !ok {
            return;
        }
    }
    assert_eq!(
        validator.finish().is_ok(),
        std::str::from_utf8(text).is_ok()
    );
});
