//! Close status codes and close frame payloads (RFC 6455 sections 5.5.1
//! and 7.4).
//!
//! A close frame's payload is either empty or a 2-byte big-endian status
//! code followed by a UTF-8 reason. Some codes exist only to be *reported*
//! locally (1005 "no status", 1006 "abnormal", 1015 "TLS failure") and must
//! never appear on the wire, so receiving one is a protocol error.

use super::error::ProtocolError;

/// Normal closure: the purpose of the connection was fulfilled.
pub const NORMAL: u16 = 1000;
/// The endpoint is going away (server shutdown, page navigation).
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// The peer sent a kind of data we cannot accept.
pub const UNSUPPORTED: u16 = 1003;
/// Reported locally when a close frame carried no code; never sent.
pub const NO_STATUS: u16 = 1005;
/// Reported locally when the connection dropped without a close frame; never sent.
pub const ABNORMAL: u16 = 1006;
/// A message's data was inconsistent with its type (e.g. bad UTF-8 text).
pub const INVALID_DATA: u16 = 1007;
/// A message violated the endpoint's policy.
pub const POLICY: u16 = 1008;
/// A message was too big to process.
pub const TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition.
pub const INTERNAL: u16 = 1011;

/// The longest reason that fits a close frame next to its 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// Whether `code` may legitimately appear in a close frame: the defined
/// codes 1000-1003 and 1007-1011, and the ranges for libraries (3000-3999)
/// and applications (4000-4999). Everything else, notably the local-only
/// 1005/1006/1015 and the unassigned 1004 and 1012-2999, is rejected.
pub fn is_valid_received_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Parses a received close payload into `(code, reason)`.
///
/// An empty payload means "no status" and is reported as 1005. One byte is
/// a truncated code (1002), an invalid code is 1002, and a reason that is
/// not UTF-8 is 1007.
pub fn parse_close_payload(payload: &[u8]) -> Result<(u16, String), ProtocolError> {
    match payload {
        [] => Ok((NO_STATUS, String::new())),
        [_] => Err(ProtocolError::new(
            PROTOCOL_ERROR,
            "close payload of one byte",
        )),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_received_code(code) {
                return Err(ProtocolError::new(PROTOCOL_ERROR, "invalid close code"));
            }
            match std::str::from_utf8(reason) {
                Ok(reason) => Ok((code, reason.to_owned())),
                Err(_) => Err(ProtocolError::new(
                    INVALID_DATA,
                    "close reason is not UTF-8",
                )),
            }
        }
    }
}

/// Appends a close payload (code, then reason) to `out`. The reason is cut
/// at a character boundary so the payload fits a control frame.
pub fn write_close_payload(code: u16, reason: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(truncate_reason(reason).as_bytes());
}

/// Cuts `reason` to at most [`MAX_REASON_LEN`] bytes without splitting a
/// character (a cut code point would make the frame invalid UTF-8).
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_validity_table() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ];
        let invalid = [
            0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000,
            65535,
        ];
        for code in valid {
            assert!(is_valid_received_code(code), "{code}");
        }
        for code in invalid {
            assert!(!is_valid_received_code(code), "{code}");
        }
        // Exhaustive cross-check against the ranges spelled out differently.
        for code in 0..=u16::MAX {
            let expected = (1000..=1003).contains(&code)
                || (1007..=1011).contains(&code)
                || (3000..5000).contains(&code);
            assert_eq!(is_valid_received_code(code), expected);
        }
    }

    #[test]
    fn parses_payloads() {
        assert_eq!(parse_close_payload(&[]), Ok((1005, String::new())));
        assert_eq!(parse_close_payload(&[0x03]).unwrap_err().code, 1002);
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8]),
            Ok((1000, String::new()))
        );
        assert_eq!(
            parse_close_payload(b"\x0f\xa0bye \xce\xba"),
            Ok((4000, "bye κ".to_owned()))
        );
        assert_eq!(parse_close_payload(&[0x03, 0xED]).unwrap_err().code, 1002); // 1005
        assert_eq!(parse_close_payload(&[0x00, 0x00]).unwrap_err().code, 1002);
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xed\xa0\x80")
                .unwrap_err()
                .code,
            1007
        );
    }

    #[test]
    fn writes_payload_and_truncates_on_char_boundary() {
        let mut out = Vec::new();
        write_close_payload(1001, "bye", &mut out);
        assert_eq!(out, b"\x03\xe9bye");

        let long = "é".repeat(100); // 200 bytes, 2 per char
        let cut = truncate_reason(&long);
        assert_eq!(cut.len(), 122);
        let mut out = Vec::new();
        write_close_payload(1000, &long, &mut out);
        assert!(out.len() <= 125);
        assert_eq!(parse_close_payload(&out).unwrap().1, cut);
    }
}
