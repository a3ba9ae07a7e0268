//! Frame opcodes and headers (RFC 6455 section 5.2).
//!
//! ```text
//!  0               1               2               3
//!  0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! A header is 2 to 14 bytes. Only the header is handled here; the payload
//! is left where it lies so the session can unmask it in place. Decoding
//! also enforces every rule that can be judged from the header alone, so
//! that a bad frame is rejected before a single payload byte is buffered.

use super::close;
use super::error::ProtocolError;

/// The longest possible header: 2 fixed bytes, 8 length bytes, 4 mask bytes.
pub const MAX_HEADER_LEN: usize = 14;

/// Control frames carry at most this many payload bytes.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The RSV1 bit of the first header byte: "this message is compressed"
/// once permessage-deflate is negotiated (RFC 7692 section 6).
pub const RSV1: u8 = 0x40;

/// What a frame carries. The reserved values 3-7 and 0xB-0xF are not
/// representable: decoding rejects them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// A further fragment of the message in progress.
    Continuation = 0x0,
    /// First (or only) frame of a UTF-8 text message.
    Text = 0x1,
    /// First (or only) frame of a binary message.
    Binary = 0x2,
    /// Start or answer of the closing handshake.
    Close = 0x8,
    /// Liveness probe; must be answered with a Pong.
    Ping = 0x9,
    /// Answer to a Ping (or an unsolicited heartbeat).
    Pong = 0xA,
}

impl Opcode {
    /// Maps the 4-bit wire value to an opcode; `None` for reserved values.
    pub fn from_u8(value: u8) -> Option<Opcode> {
        match value {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// Control frames (Close, Ping, Pong) have the high opcode bit set; they
    /// may appear between the fragments of a data message.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A decoded (or to-be-encoded) frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of the message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// Masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Encodes the header into a fixed buffer; returns it and how many of
    /// its bytes are used. Lets callers build a header without allocating.
    pub fn encode(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let mut len = 0;
        self.emit(|piece| {
            buf[len..len + piece.len()].copy_from_slice(piece);
            len += piece.len();
        });
        (buf, len)
    }

    /// How many bytes the encoded header takes: the pieces `emit` would
    /// hand out, counted (inlined, the count is a few compares), so the
    /// length forms have one home.
    #[inline(always)]
    pub fn encoded_len(&self) -> usize {
        let mut len = 0;
        self.emit(|piece| len += piece.len());
        len
    }

    /// Writes the encoded header at the start of `out` and returns its
    /// length; `None`, with nothing written, when `out` is too short.
    #[inline(always)]
    pub fn write_into(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.encoded_len();
        let mut rest = out.get_mut(..len)?;
        self.emit(|piece| {
            let (here, after) = std::mem::take(&mut rest).split_at_mut(piece.len());
            here.copy_from_slice(piece);
            rest = after;
        });
        Some(len)
    }

    /// Appends the encoded header to `out`.
    #[inline]
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.emit(|piece| out.extend_from_slice(piece));
    }

    /// The one encoder: hands `put` the header in at most three pieces,
    /// each built whole (the first two bytes with the length form, the
    /// extended length, the mask key). Appending them so, rather than
    /// copying a buffer just filled byte by byte, keeps the CPU from
    /// reading back a store it cannot forward to a wider load (a stall
    /// once per message sent).
    #[inline(always)]
    fn emit(&self, mut put: impl FnMut(&[u8])) {
        let b0 = (u8::from(self.fin) << 7) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        // The shortest length form is mandatory (RFC 6455 section 5.2).
        if self.payload_len <= 125 {
            put(&[b0, mask_bit | self.payload_len as u8]);
        } else if let Ok(short) = u16::try_from(self.payload_len) {
            let [hi, lo] = short.to_be_bytes();
            put(&[b0, mask_bit | 126, hi, lo]);
        } else {
            put(&[b0, mask_bit | 127]);
            put(&self.payload_len.to_be_bytes());
        }
        if let Some(key) = self.mask {
            put(&key);
        }
    }
}

/// Decodes a header from the start of `buf`.
///
/// Returns `Ok(None)` if `buf` does not yet hold the whole header (nothing
/// is consumed; call again with more bytes), or the header and its length.
/// `expect_masked` is true for a server (clients must mask) and false for a
/// client (servers must not). Frames longer than `max_frame_size` fail with
/// 1009; every other header-level violation fails with 1002.
#[inline(always)]
pub fn decode_header(
    buf: &[u8],
    expect_masked: bool,
    max_frame_size: u64,
) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let decoded = decode(buf, expect_masked, max_frame_size, false)?;
    Ok(decoded.map(|(header, _, len)| (header, len)))
}

/// Like [`decode_header`], for a connection that negotiated
/// permessage-deflate: RSV1 is allowed on the first frame of a data message
/// (Text or Binary) and returned as the middle value, "compressed". On a
/// control or continuation frame it is still a 1002 (RFC 7692 section 6.1).
#[inline(always)]
pub fn decode_header_deflate(
    buf: &[u8],
    expect_masked: bool,
    max_frame_size: u64,
) -> Result<Option<(FrameHeader, bool, usize)>, ProtocolError> {
    decode(buf, expect_masked, max_frame_size, true)
}

// Inlined into its callers, with the two functions above: returned through
// memory, the header's mask key was written in one width and read back in
// another, a stall on every frame received.
#[inline(always)]
fn decode(
    buf: &[u8],
    expect_masked: bool,
    max_frame_size: u64,
    deflate: bool,
) -> Result<Option<(FrameHeader, bool, usize)>, ProtocolError> {
    // Judge each byte as soon as it is there: a hostile peer should not be
    // able to stall the verdict by trickling in the rest of the header.
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let Some(opcode) = Opcode::from_u8(b0 & 0x0F) else {
        return Err(ProtocolError::new(close::PROTOCOL_ERROR, "reserved opcode"));
    };
    let compressed = b0 & RSV1 != 0;
    if b0 & 0x30 != 0 || (compressed && !deflate) {
        return Err(ProtocolError::new(
            close::PROTOCOL_ERROR,
            "reserved bits set without a negotiated extension",
        ));
    }
    if compressed && !matches!(opcode, Opcode::Text | Opcode::Binary) {
        return Err(ProtocolError::new(
            close::PROTOCOL_ERROR,
            "RSV1 set on a control or continuation frame",
        ));
    }
    let fin = b0 & 0x80 != 0;
    if opcode.is_control() && !fin {
        return Err(ProtocolError::new(
            close::PROTOCOL_ERROR,
            "fragmented control frame",
        ));
    }

    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    if masked != expect_masked {
        let reason = if expect_masked {
            "client frame not masked"
        } else {
            "server frame masked"
        };
        return Err(ProtocolError::new(close::PROTOCOL_ERROR, reason));
    }
    let len7 = b1 & 0x7F;
    if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
        return Err(ProtocolError::new(
            close::PROTOCOL_ERROR,
            "control frame payload over 125 bytes",
        ));
    }

    let ext_len = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_len = if masked { 4 } else { 0 };
    let header_len = 2 + ext_len + mask_len;
    if buf.len() < header_len {
        return Ok(None);
    }

    let payload_len = match len7 {
        126 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
        127 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(bytes);
            if len >> 63 != 0 {
                return Err(ProtocolError::new(
                    close::PROTOCOL_ERROR,
                    "64-bit payload length with the top bit set",
                ));
            }
            len
        }
        short => u64::from(short),
    };
    if payload_len > max_frame_size {
        return Err(ProtocolError::new(close::TOO_BIG, "frame too big"));
    }

    let mask = if masked {
        // One range check for the whole key, not one per byte.
        let mut key = [0u8; 4];
        key.copy_from_slice(&buf[2 + ext_len..header_len]);
        Some(key)
    } else {
        None
    };
    Ok(Some((
        FrameHeader {
            fin,
            opcode,
            mask,
            payload_len,
        },
        compressed,
        header_len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = u64::MAX;

    fn header(fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            opcode,
            mask,
            payload_len: len,
        }
    }

    fn code_of(bytes: &[u8], expect_masked: bool) -> u16 {
        decode_header(bytes, expect_masked, 1 << 20)
            .unwrap_err()
            .code
    }

    #[test]
    fn write_into_writes_what_encode_returns() {
        for payload_len in [0, 1, 125, 126, 65535, 65536, u64::from(u32::MAX) + 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let header = FrameHeader {
                    fin: payload_len % 2 == 0,
                    opcode: Opcode::Binary,
                    mask,
                    payload_len,
                };
                let (expected, n) = header.encode();
                assert_eq!(header.encoded_len(), n);
                let mut out = [0xAAu8; 16];
                assert_eq!(header.write_into(&mut out), Some(n));
                assert_eq!(&out[..n], &expected[..n]);
                assert!(
                    out[n..].iter().all(|&b| b == 0xAA),
                    "nothing past the header"
                );
                let mut short = vec![0xAAu8; n - 1];
                assert_eq!(header.write_into(&mut short), None);
                assert!(
                    short.iter().all(|&b| b == 0xAA),
                    "nothing written when short"
                );
            }
        }
    }

    #[test]
    fn opcode_round_trip_and_reserved_values() {
        for v in 0..16u8 {
            match Opcode::from_u8(v) {
                Some(op) => assert_eq!(op as u8, v),
                None => assert!((3..=7).contains(&v) || (0xB..=0xF).contains(&v)),
            }
        }
        assert!(Opcode::Ping.is_control());
        assert!(!Opcode::Continuation.is_control());
    }

    #[test]
    fn encodes_all_three_length_forms() {
        let cases = [
            (0u64, 2usize),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (u64::MAX >> 1, 10),
        ];
        for (len, expected) in cases {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = header(true, Opcode::Binary, mask, len);
                let (buf, n) = h.encode();
                assert_eq!(n, expected + if mask.is_some() { 4 } else { 0 });
                let decoded = decode_header(&buf[..n], mask.is_some(), MAX).unwrap();
                assert_eq!(decoded, Some((h, n)));
                let mut v = vec![0xAA];
                h.write_to(&mut v);
                assert_eq!(&v[1..], &buf[..n]);
            }
        }
    }

    #[test]
    fn rfc_examples() {
        // Unmasked "Hello", then masked "Hello" (RFC 6455 section 5.7).
        let (h, n) = decode_header(&[0x81, 0x05], false, MAX).unwrap().unwrap();
        assert_eq!((h, n), (header(true, Opcode::Text, None, 5), 2));
        let (h, n) = decode_header(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d], true, MAX)
            .unwrap()
            .unwrap();
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(n, 6);
        // First fragment of an unmasked text message.
        let (h, _) = decode_header(&[0x01, 0x03], false, MAX).unwrap().unwrap();
        assert!(!h.fin);
    }

    #[test]
    fn incomplete_headers_return_none_at_every_length() {
        let h = header(false, Opcode::Text, Some([1, 2, 3, 4]), 70000);
        let (buf, n) = h.encode();
        for cut in 0..n {
            assert_eq!(decode_header(&buf[..cut], true, MAX), Ok(None), "cut {cut}");
        }
        // Extra bytes after the header are not part of it.
        let mut long = buf[..n].to_vec();
        long.extend_from_slice(b"payload");
        assert_eq!(decode_header(&long, true, MAX), Ok(Some((h, n))));
    }

    #[test]
    fn protocol_violations() {
        // RSV1, RSV2, RSV3, even with only one byte available.
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(code_of(&[0x81 | rsv], true), 1002);
        }
        // Reserved opcodes.
        for op in (3..=7).chain(0xB..=0xF) {
            assert_eq!(code_of(&[0x80 | op, 0x80], true), 1002);
        }
        // Fragmented control frame.
        assert_eq!(code_of(&[0x09, 0x80], true), 1002);
        // Control frame over 125 bytes, in both extended forms.
        assert_eq!(code_of(&[0x89, 0xFE], true), 1002);
        assert_eq!(code_of(&[0x88, 0xFF], true), 1002);
        // Masking must match the role.
        assert_eq!(code_of(&[0x81, 0x00], true), 1002);
        assert_eq!(code_of(&[0x81, 0x80], false), 1002);
        // 64-bit length with the most significant bit set.
        let mut huge = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
        huge.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(decode_header(&huge, true, MAX).unwrap_err().code, 1002);
    }

    #[test]
    fn rsv1_with_deflate() {
        let decode = |bytes: &[u8]| decode_header_deflate(bytes, true, MAX);
        // First frame of a data message, fragmented or not.
        for b0 in [0xC1, 0xC2, 0x41, 0x42] {
            let (h, compressed, n) = decode(&[b0, 0x80, 0, 0, 0, 0]).unwrap().unwrap();
            assert!(compressed);
            assert_eq!((h.fin, n), (b0 & 0x80 != 0, 6));
        }
        let (_, compressed, _) = decode(&[0x81, 0x80, 0, 0, 0, 0]).unwrap().unwrap();
        assert!(!compressed);
        // Never on continuation or control frames; RSV2/RSV3 stay reserved.
        for b0 in [0xC0, 0x40, 0xC8, 0xC9, 0xCA, 0xA1, 0x91] {
            assert_eq!(decode(&[b0]).unwrap_err().code, 1002, "{b0:#x}");
        }
        // Without deflate, RSV1 on a data frame is still an error.
        assert_eq!(code_of(&[0xC1], true), 1002);
    }

    #[test]
    fn frame_over_limit_is_1009() {
        let h = header(true, Opcode::Binary, Some([0; 4]), 1001);
        let (buf, n) = h.encode();
        assert_eq!(decode_header(&buf[..n], true, 1000).unwrap_err().code, 1009);
        assert!(decode_header(&buf[..n], true, 1001).unwrap().is_some());
    }

    #[test]
    fn control_frame_of_125_is_fine() {
        let (h, n) = decode_header(&[0x89, 0x80 | 125, 0, 0, 0, 0], true, MAX)
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (125, 6));
    }
}
