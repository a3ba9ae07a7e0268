//! [`Message`]: a complete WebSocket message as the application sees it,
//! and [`MessagePart`]: a piece of one, for a receiver that takes large
//! messages as they arrive.
//!
//! It lives in the sans-IO core rather than beside the `Handler` because
//! every flavour of I/O (the event-loop adapter, the blocking client, the
//! load generator) sends and receives the same two kinds of message.

use super::session::Payload;
use super::Opcode;

/// A complete message, borrowed for the duration of the callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (always valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> Message<'a> {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// The opcode of the (first) frame that carries it.
    pub fn opcode(&self) -> Opcode {
        match self {
            Message::Text(_) => Opcode::Text,
            Message::Binary(_) => Opcode::Binary,
        }
    }
}

/// A piece of a message handed over as it arrives, for a receiver that
/// asked for large messages in parts ([`Session::set_parts_from`]) rather
/// than whole: a server that streams them on, or echoes them, keeps one
/// read buffer's worth of a message instead of all of it.
///
/// The parts of one message come in order, the first marked
/// [`MessagePart::is_first`] and the last [`MessagePart::is_last`] (one
/// part can be both). Parts follow the reads, not the frames the peer
/// sent: a part ends where a read or a frame ended, so a text message's
/// part may end inside a character. Text is checked as it
/// comes all the same: a part is only handed over once its bytes are known
/// to be valid UTF-8 so far, and a message found invalid later fails the
/// connection (1007) without its last part.
///
/// [`Session::set_parts_from`]: super::Session::set_parts_from
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePart<'a> {
    pub(crate) kind: Opcode,
    pub(crate) bytes: Payload<'a>,
    pub(crate) first: bool,
    pub(crate) last: bool,
}

impl<'a> MessagePart<'a> {
    /// The message's kind, [`Opcode::Text`] or [`Opcode::Binary`].
    pub fn opcode(&self) -> Opcode {
        self.kind
    }

    /// Whether the message is text.
    pub fn is_text(&self) -> bool {
        self.kind == Opcode::Text
    }

    /// This part's bytes (for text, UTF-8 that may stop inside a character).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// This part's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether this part carries no bytes (only ever a last part, of a
    /// message whose final frame was empty).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether this part starts its message.
    pub fn is_first(&self) -> bool {
        self.first
    }

    /// Whether this part ends its message.
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// The same part, borrowing its bytes from this one.
    pub fn reborrow(&self) -> MessagePart<'_> {
        MessagePart {
            kind: self.kind,
            bytes: Payload::Borrowed(&self.bytes),
            first: self.first,
            last: self.last,
        }
    }

    /// Detaches the part from the input buffer, e.g. to store it.
    pub fn into_owned(self) -> MessagePart<'static> {
        MessagePart {
            kind: self.kind,
            bytes: self.bytes.into_owned(),
            first: self.first,
            last: self.last,
        }
    }
}
