//! Decoding what a session wrote, to check it frame by frame.
//!
//! A client masks every frame with a fresh random key, so two runs never
//! produce the same bytes; comparing the decoded frames instead makes the
//! outputs of two runs comparable whatever the role.

use wsloop::ws::close;
use wsloop::ws::frame::{decode_header, Opcode, MAX_CONTROL_PAYLOAD};
use wsloop::ws::mask::apply_mask;
use wsloop::ws::Role;

/// One frame of a session's output, unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Final-fragment bit.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// Decodes the whole output of a session playing `role`, panicking on
/// anything a conforming peer would reject: a bad header, a mask that does
/// not match the role, a truncated frame.
pub fn decode_all(role: Role, mut out: &[u8]) -> Vec<Frame> {
    let masked = role == Role::Client;
    let mut frames = Vec::new();
    while !out.is_empty() {
        let (header, header_len) = decode_header(out, masked, u64::MAX)
            .expect("session wrote a frame its peer would reject")
            .expect("session wrote a truncated frame header");
        let len = usize::try_from(header.payload_len).expect("frame length fits usize");
        let end = header_len + len;
        assert!(end <= out.len(), "session wrote a truncated frame payload");
        let mut payload = out[header_len..end].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push(Frame {
            fin: header.fin,
            opcode: header.opcode,
            payload,
        });
        out = &out[end..];
    }
    frames
}

/// Checks a close frame we are about to send: empty, or a code that may go
/// on the wire followed by a UTF-8 reason, all within a control frame.
pub fn assert_valid_close_payload(payload: &[u8]) {
    assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
    if payload.is_empty() {
        return;
    }
    assert!(payload.len() >= 2, "one-byte close payload sent");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    assert!(
        close::is_valid_received_code(code),
        "close code {code} may not be sent"
    );
    assert!(
        std::str::from_utf8(&payload[2..]).is_ok(),
        "close reason is not UTF-8"
    );
}
