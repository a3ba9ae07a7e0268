//! The per-connection WebSocket state machine, after the handshake.
//!
//! [`Session::read`] takes bytes the transport received and returns at most
//! one [`Event`] per call; the `send_*`, [`Session::ping`] and
//! [`Session::close`] methods append complete frames to the caller's write
//! buffer. Frames the protocol obliges us to send on our own (pongs, the
//! echo of a peer's close, the close that fails a bad connection) are kept
//! in a small pending buffer that [`Session::take_pending`] hands over.
//!
//! # The read path
//!
//! The common case on a busy server is a small, complete, masked frame
//! sitting in the read buffer. For that case `read` parses the header,
//! unmasks the payload *in place* in the caller's buffer, checks UTF-8 with
//! one call to `std::str::from_utf8`, and returns a [`Payload::Borrowed`]
//! slice of that buffer: no allocation, no copy.
//!
//! Anything else (a fragmented message, or a frame split across reads) is
//! copied into a reassembly buffer as it arrives, so the caller never has to
//! hold more than one incomplete header (at most 13 bytes). Text is checked
//! piece by piece with [`Utf8Validator`], so bad UTF-8 fails the connection
//! as soon as it arrives, not at the end of a large message.
//!
//! # Compressed messages
//!
//! A session built with [`Session::with_deflate`] accepts RSV1 on the first
//! frame of a data message (RFC 7692). Such a message never takes the fast
//! path: each piece of payload is inflated into the reassembly buffer as it
//! arrives, bounded by `max_message_size` on the *inflated* size, and text
//! is validated as it is inflated. Sends of at least the configured size
//! are compressed with RSV1 set. A session without deflate decodes headers
//! exactly as before (RSV1 is a 1002) and pays one untaken branch per
//! frame; see [`super::deflate`] for the codec, its memory and its limits.
//!
//! # Caller contract
//!
//! ```text
//! loop {
//!     let (n, event) = session.read(&mut buf[pos..]);
//!     pos += n;
//!     match event { Some(e) => handle(e), None if n == 0 => break, None => {} }
//! }
//! buf.drain(..pos);                 // keep only the unconsumed tail
//! session.take_pending(&mut wbuf);  // pongs, close replies, error closes
//! flush(wbuf);
//! if session.is_closed() || session.is_failed() { close TCP once flushed }
//! ```

use std::mem;
use std::ops::Deref;

use super::close;
use super::deflate::{
    Compressor, CompressorSettings, Decompressor, DeflateParams, SharedCompressor,
};
use super::error::ProtocolError;
use super::frame::{
    decode_header, decode_header_deflate, FrameHeader, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
    RSV1,
};
use super::mask::{apply_mask, extend_masked, unmask_shifted};
use super::message::{Message, MessagePart};
use super::message_buf::{self, MessageBuf};
use super::utf8::Utf8Validator;

/// Which end of the connection this session is. It decides masking: a
/// client masks what it sends and a server requires masked input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepted the connection; receives masked frames, sends unmasked.
    Server,
    /// Opened the connection; sends masked frames, receives unmasked.
    Client,
}

impl Role {
    /// The role of the other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }
}

/// Size limits enforced on received data (and on what we agree to send).
///
/// A session keeps them in 32 bits each (it is held by every open
/// connection), so a limit above 4 GiB - 1 acts as 4 GiB - 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest complete message, summed over its fragments (default 16 MiB).
    pub max_message_size: usize,
    /// Largest single frame payload (default: same as the message limit).
    pub max_frame_size: usize,
}

impl Limits {
    /// Limits with the given message size and an equal frame size.
    pub const fn new(max_message_size: usize) -> Self {
        Limits {
            max_message_size,
            max_frame_size: max_message_size,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(16 << 20)
    }
}

/// [`Limits`] as a session keeps them: 8 bytes instead of 16.
#[derive(Clone, Copy, Debug)]
struct StoredLimits {
    message: u32,
    frame: u32,
}

impl StoredLimits {
    fn new(limits: Limits) -> Self {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        StoredLimits {
            message: narrow(limits.max_message_size),
            frame: narrow(limits.max_frame_size),
        }
    }

    fn message(self) -> usize {
        self.message as usize
    }

    fn frame(self) -> usize {
        self.frame as usize
    }
}

/// Where the closing handshake stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No close frame in either direction.
    Open,
    /// We produced a close frame and await the peer's.
    CloseSent,
    /// The peer's close arrived; our reply still waits in the pending output.
    CloseReceived,
    /// Both close frames exchanged and our reply handed out: close TCP.
    Closed,
}

/// The bytes of a received message or control frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Unmasked in place inside the caller's input buffer (no copy).
    Borrowed(&'a [u8]),
    /// Reassembled from several frames or reads.
    Owned(Vec<u8>),
}

impl Payload<'_> {
    /// The bytes as an owned vector (copies only if borrowed).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Payload::Borrowed(bytes) => bytes.to_vec(),
            Payload::Owned(vec) => vec,
        }
    }

    /// Detaches the payload from the input buffer.
    pub fn into_owned(self) -> Payload<'static> {
        Payload::Owned(self.into_vec())
    }
}

impl Deref for Payload<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Payload::Borrowed(bytes) => bytes,
            Payload::Owned(vec) => vec,
        }
    }
}

impl AsRef<[u8]> for Payload<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// Something that happened on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete text message, already validated as UTF-8.
    Text(Payload<'a>),
    /// A complete binary message.
    Binary(Payload<'a>),
    /// A ping. While the session is open its pong is already queued in the
    /// pending output; after we sent our close nothing more is sent.
    Ping(Payload<'a>),
    /// A pong.
    Pong(Payload<'a>),
    /// The peer's close frame (1005 if it carried no code). If we had not
    /// closed yet, the reply is queued: the same code, or an empty payload
    /// when the peer sent none. Later input is ignored.
    Close {
        /// The peer's status code.
        code: u16,
        /// The peer's reason, possibly empty.
        reason: String,
    },
    /// The peer broke the protocol. A close frame with `code` is queued
    /// (unless we had already sent one); flush it and close TCP. Later
    /// input is ignored.
    Error {
        /// 1002 (protocol error), 1007 (invalid data) or 1009 (too big).
        code: u16,
        /// What went wrong.
        reason: &'static str,
    },
    /// A piece of a large message, for a session that takes them in parts
    /// ([`Session::set_parts_from`]); for text, valid UTF-8 so far.
    Part(MessagePart<'a>),
}

impl Event<'_> {
    /// Detaches the event from the input buffer, e.g. to store it.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Text(p) => Event::Text(p.into_owned()),
            Event::Binary(p) => Event::Binary(p.into_owned()),
            Event::Ping(p) => Event::Ping(p.into_owned()),
            Event::Pong(p) => Event::Pong(p.into_owned()),
            Event::Close { code, reason } => Event::Close { code, reason },
            Event::Error { code, reason } => Event::Error { code, reason },
            Event::Part(part) => Event::Part(part.into_owned()),
        }
    }
}

/// Why a frame could not be sent. Nothing is written when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// A close frame was already sent or received, or the session failed.
    Closed,
    /// Data messages must be `Opcode::Text` or `Opcode::Binary`.
    InvalidOpcode,
    /// The payload is over the message/frame limit, or over 125 bytes for
    /// a control frame.
    TooBig,
    /// A fragmented send is in progress: finish it with `send_fragment` of
    /// the same kind before sending another message.
    FragmentInProgress,
    /// The close code may not be sent (see `close::is_valid_received_code`).
    InvalidCloseCode,
    /// Only a server can send shared, unmasked payloads via `frame_header`.
    MaskRequired,
    /// The connection's write queue would exceed its hard cap
    /// (`max_write_buffer`): the peer is not reading fast enough.
    BufferFull,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            SendError::Closed => "connection is closing or closed",
            SendError::InvalidOpcode => "data messages must be Text or Binary",
            SendError::TooBig => "payload over the size limit",
            SendError::FragmentInProgress => "a fragmented message is being sent",
            SendError::InvalidCloseCode => "close code may not be sent",
            SendError::MaskRequired => "client frames must be masked",
            SendError::BufferFull => "write buffer full: the peer is not reading",
        };
        f.write_str(text)
    }
}

impl std::error::Error for SendError {}

/// A frame whose header has been read but whose payload has not all arrived.
#[derive(Clone, Copy, Debug)]
struct FrameProgress {
    opcode: Opcode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes still to come.
    remaining: usize,
    /// Payload bytes already consumed; keeps the mask in phase.
    offset: usize,
}

/// What a session holds only while a frame or message arrives in pieces
/// (fragmented, or split across reads). Boxed, and absent between such
/// messages: an idle session owns none of it and pays one pointer.
#[derive(Debug)]
struct Receiving {
    /// The frame whose payload is being received, if any.
    frame: Option<FrameProgress>,
    /// Reassembly of a message that is fragmented or split across reads.
    message_buf: MessageBuf,
    /// UTF-8 state of the text message in `message_buf`.
    utf8: Utf8Validator,
    /// Reassembly of a control frame split across reads.
    control_buf: Vec<u8>,
    /// Bytes of the message handed over in parts so far, for the size
    /// limit; 0 until its first part (which is never empty: the first
    /// frame of a message in parts has at least `parts_from` bytes).
    parts_len: usize,
}

impl Receiving {
    fn new() -> Box<Self> {
        Box::new(Receiving {
            frame: None,
            message_buf: MessageBuf::default(),
            utf8: Utf8Validator::new(),
            control_buf: Vec::new(),
            parts_len: 0,
        })
    }
}

/// permessage-deflate state of a session that negotiated it. Boxed in the
/// session, so a connection without it pays one pointer.
#[derive(Debug)]
struct DeflateState {
    params: DeflateParams,
    compressor: Compressor,
    decompressor: Decompressor,
    /// The fragmented message we are sending is compressed.
    sending_compressed: bool,
}

/// A received message whose reply frame [`Session::read_whole_framed`]
/// built in place: a server header of the message's own kind and length
/// right in front of its payload. Echoing that very payload needs no
/// copy: the bytes from the header to the payload's end are the frame.
///
/// Sixteen bytes, as it rides along with every message a handler is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framed {
    /// The address of the payload's first byte: compared with what the
    /// application sends, never read through.
    payload_at: usize,
    /// The payload's length (a session's limits are 32-bit).
    len: u32,
    /// The message's kind, which the header carries.
    opcode: Opcode,
    /// The header's length, just before the payload.
    header_len: u8,
}

impl Framed {
    /// Whether `message` is the framed message itself, unchanged: the same
    /// kind, and the same bytes in the same place.
    #[inline]
    pub fn is(&self, message: &Message<'_>) -> bool {
        let bytes = message.as_bytes();
        message.opcode() == self.opcode
            && bytes.as_ptr() as usize == self.payload_at
            && bytes.len() == self.len()
    }

    /// The message's kind.
    pub fn opcode(&self) -> Opcode {
        self.opcode
    }

    /// The payload's length.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the payload is empty (never, above the size framed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of the frame's first byte, the header's.
    pub fn frame_at(&self) -> usize {
        self.payload_at - usize::from(self.header_len)
    }

    /// The frame's length, header and payload.
    pub fn frame_len(&self) -> usize {
        usize::from(self.header_len) + self.len()
    }
}

/// One WebSocket connection's protocol state. See the module docs.
#[derive(Debug)]
pub struct Session {
    role: Role,
    limits: StoredLimits,
    /// Compression, when permessage-deflate was negotiated.
    deflate: Option<Box<DeflateState>>,
    /// The data message being received is compressed (RSV1 on its first
    /// frame); its payload is inflated into `message_buf`.
    message_compressed: bool,
    /// Kind of the data message being received (between its first frame's
    /// header and its last frame's end).
    message: Option<Opcode>,
    /// The data message being received is handed over in parts
    /// ([`Session::set_parts_from`]) rather than reassembled.
    message_in_parts: bool,
    /// Data messages whose first frame is at least this long are handed
    /// over in parts; `u32::MAX`, the default, means never.
    parts_from: u32,
    /// A frame or message arriving in pieces; `None` between them.
    receiving: Option<Box<Receiving>>,
    /// Frames we owe the peer (pongs, close replies) not yet handed out;
    /// `None` when there are none (never an empty buffer).
    #[allow(clippy::box_collection)]
    pending: Option<Box<Vec<u8>>>,
    /// Kind of the fragmented message we are sending, if any.
    sending: Option<Opcode>,
    /// Our close frame has been written to `out` or queued in `pending`.
    close_sent: bool,
    /// The peer's close frame has arrived.
    close_received: bool,
    /// The peer broke the protocol; input is ignored from now on.
    failed: bool,
}

impl Session {
    /// A session in the `Open` state, as after a successful handshake.
    pub fn new(role: Role, limits: Limits) -> Self {
        Session::with_deflate(role, limits, None)
    }

    /// A session in the `Open` state whose handshake negotiated
    /// permessage-deflate with `deflate` (or nothing, for `None`).
    pub fn with_deflate(role: Role, limits: Limits, deflate: Option<DeflateParams>) -> Self {
        let mut session = Session {
            role,
            limits: StoredLimits::new(limits),
            deflate: None,
            message_compressed: false,
            message: None,
            message_in_parts: false,
            parts_from: u32::MAX,
            receiving: None,
            pending: None,
            sending: None,
            close_sent: false,
            close_received: false,
            failed: false,
        };
        if let Some(params) = deflate {
            session.enable_deflate(params);
        }
        session
    }

    /// Turns permessage-deflate on with the negotiated `params`, before the
    /// first frame (the handshake's extension hook calls it when the
    /// connection opens). Nothing is allocated until a compressed message
    /// goes either way.
    pub fn enable_deflate(&mut self, params: DeflateParams) {
        self.deflate = Some(Box::new(DeflateState {
            params,
            compressor: Compressor::new(CompressorSettings::for_sending(&params, self.role)),
            decompressor: Decompressor::for_receiving(&params, self.role),
            sending_compressed: false,
        }));
    }

    /// Hands over data messages whose first frame's payload is at least
    /// `bytes` long as [`Event::Part`]s, as their bytes arrive, instead of
    /// reassembling them into one [`Event::Text`] or [`Event::Binary`]:
    /// such a message then costs one read buffer, not its own size, and
    /// its first bytes can be acted on (sent on, written out) while the
    /// rest is on its way. The later frames of a fragmented message that
    /// began so come in parts as well. Compressed messages always come
    /// whole: their inflated size is only known as they inflate. The size
    /// limit still holds for the message as a whole (1009). `usize::MAX`
    /// (the default) turns parts off; 0 counts as 1.
    pub fn set_parts_from(&mut self, bytes: usize) {
        self.parts_from = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
    }

    /// Whether a fragmented message we send is under way: until its last
    /// fragment, no other data message may go out.
    pub fn is_sending_fragments(&self) -> bool {
        self.sending.is_some()
    }

    /// Which end of the connection this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The negotiated permessage-deflate parameters, if any.
    pub fn deflate_params(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref().map(|d| &d.params)
    }

    /// Frees the compressor and decompressor where no context is kept and
    /// no message is half sent or received, e.g. when the connection has
    /// been idle for a while; they are created again on the next
    /// compressed message. Returns whether no compression memory is left.
    pub fn release_idle_deflate(&mut self) -> bool {
        let receiving = self.message.is_some();
        let sending = self.sending.is_some();
        let Some(d) = self.deflate.as_mut() else {
            return true;
        };
        let compressor_free = if sending {
            !d.compressor.is_allocated()
        } else {
            d.compressor.release()
        };
        let decompressor_free = if receiving {
            !d.decompressor.is_allocated()
        } else {
            d.decompressor.release()
        };
        compressor_free && decompressor_free
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        match (self.close_sent, self.close_received) {
            (false, false) => State::Open,
            (true, false) => State::CloseSent,
            (true, true) if self.pending.is_none() => State::Closed,
            (_, true) => State::CloseReceived,
        }
    }

    /// Our close frame has been produced (written out or pending).
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// The peer's close frame has arrived.
    pub fn close_received(&self) -> bool {
        self.close_received
    }

    /// Both close frames exchanged and nothing left pending: once the write
    /// buffer is flushed, the TCP connection can be closed.
    pub fn is_closed(&self) -> bool {
        self.state() == State::Closed
    }

    /// The peer broke the protocol ([`Event::Error`] was returned): flush
    /// the pending close frame, then close TCP without waiting for a reply.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Whether [`Session::take_pending`] has bytes to hand out.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Moves the frames the session generated on its own (pongs, close
    /// replies, error closes) to the end of `out`. Call it after reading;
    /// the send methods also call it first, so ordering is never lost.
    #[inline]
    pub fn take_pending(&mut self, out: &mut Vec<u8>) {
        // Handed out whole and freed: pending frames are rare (pongs, the
        // close), and an idle connection should own no buffer for them.
        if let Some(pending) = self.pending.take() {
            out.extend_from_slice(&pending);
        }
    }

    /// Parses the next event out of `input`, unmasking payload in place.
    ///
    /// Returns how many bytes were consumed and the event, if one completed.
    /// Call it again on the rest of the input until it returns `(0, None)`.
    /// An incomplete header is not consumed (keep it and call again with
    /// more bytes); payload of an unfinished frame or message is consumed
    /// into the session. After a close or an error, input is ignored (all
    /// of it is reported as consumed).
    #[inline(always)]
    pub fn read<'a>(&mut self, input: &'a mut [u8]) -> (usize, Option<Event<'a>>) {
        if let Some((header_len, frame)) = self.whole_message(input) {
            let (n, taken) = self.take_whole(input, header_len, frame);
            return (n, Some(as_event(taken)));
        }
        self.read_general(input)
    }

    /// [`Session::read`]'s common case alone: one whole unfragmented Text
    /// or Binary message at the start of `input`, while no other message,
    /// close or failure is under way. Returns the bytes consumed and the
    /// message (a text message's UTF-8 already checked, so it comes as
    /// `&str`), or the error event if the text is not UTF-8 (the session
    /// has failed then, as with `read`). `None`, with nothing consumed or
    /// changed, for everything else, which `read` then handles.
    ///
    /// These few lines inline into the caller, and the message is a plain
    /// value: it stays in registers. An `Event` built here and handed on
    /// by reference had to be written to memory and was then copied, read
    /// back wider than it was written, which stalls the CPU (the store
    /// cannot be forwarded to the load) once per message.
    #[inline(always)]
    #[allow(clippy::type_complexity)] // a pair, documented above
    pub fn read_whole<'a>(
        &mut self,
        input: &'a mut [u8],
    ) -> Option<(usize, Result<Message<'a>, Event<'static>>)> {
        let (header_len, frame) = self.whole_message(input)?;
        Some(self.take_whole(input, header_len, frame))
    }

    /// [`Session::read_whole`] for a server that may echo what it reads:
    /// the frame starts at `input[at..]`, and the server frame that would
    /// send the same message back is built at the start of `input` (the
    /// caller passes the end of the previous such frame as `input[0]`, or
    /// the frame's own start): its header written there, the payload
    /// unmasked right behind it, shifted towards the front in the same
    /// pass ([`unmask_shifted`]). A client's header is 4 bytes longer than
    /// ours (its mask key), so the room is always there, and consecutive
    /// echoes end up back to back. Returns the end of the frame within
    /// `input`, the message, and the [`Framed`] reply when one was built
    /// (in a server, for a payload of at least [`FRAME_IN_PLACE_MIN`]
    /// bytes that is not invalid text).
    #[inline(always)]
    #[allow(clippy::type_complexity)] // read_whole's pair and the reply
    pub fn read_whole_framed<'a>(
        &mut self,
        input: &'a mut [u8],
        at: usize,
    ) -> Option<(usize, Result<Message<'a>, Event<'static>>, Option<Framed>)> {
        let (header_len, frame) = self.whole_message(input.get(at..)?)?;
        let payload_start = at + header_len;
        let end = payload_start + frame.remaining;
        // Built whatever the session's state: a handler may not echo, and
        // a send checks that state then (`Session::sends_plain`).
        let reply = match frame.mask {
            Some(key) if self.role == Role::Server && frame.remaining >= FRAME_IN_PLACE_MIN => {
                let header = reply_header(frame.opcode, frame.remaining);
                header
                    .write_into(&mut input[..payload_start])
                    .map(|n| (key, n))
            }
            _ => None,
        };
        let Some((key, n)) = reply else {
            let (used, taken) = self.take_whole(&mut input[at..], header_len, frame);
            return Some((at + used, taken, None));
        };
        unmask_shifted(&mut input[n..end], payload_start - n, key);
        let input: &'a [u8] = input;
        let payload = &input[n..n + frame.remaining];
        let taken = self.whole(frame.opcode, payload);
        // Both fit: the payload is within the limits, the header at most 10.
        let framed = taken.is_ok().then_some(Framed {
            payload_at: payload.as_ptr() as usize,
            len: frame.remaining as u32,
            opcode: frame.opcode,
            header_len: n as u8,
        });
        Some((end, taken, framed))
    }

    /// Unmasks the message `whole_message` found and checks its text.
    #[inline(always)]
    fn take_whole<'a>(
        &mut self,
        input: &'a mut [u8],
        header_len: usize,
        frame: FrameProgress,
    ) -> (usize, Result<Message<'a>, Event<'static>>) {
        let end = header_len + frame.remaining;
        let payload = &mut input[header_len..end];
        if let Some(key) = frame.mask {
            apply_mask(payload, key, 0);
        }
        (end, self.whole(frame.opcode, payload))
    }

    /// The header of an unfragmented Text or Binary frame at the start of
    /// `input` with all its payload there, when nothing else is under way
    /// (no message or frame in pieces, no close, no failure) and the frame
    /// breaks no rule; `None` leaves the judgement to the general path.
    #[inline(always)]
    fn whole_message(&self, input: &[u8]) -> Option<(usize, FrameProgress)> {
        if self.failed || self.close_received || self.message.is_some() || self.receiving.is_some()
        {
            return None;
        }
        let max_frame = u64::try_from(self.limits.frame()).unwrap_or(u64::MAX);
        // RSV1 fails here even with deflate: the general path decides it.
        let (header, header_len) =
            decode_header(input, self.role == Role::Server, max_frame).ok()??;
        let len = usize::try_from(header.payload_len).ok()?;
        let whole = header.fin
            && matches!(header.opcode, Opcode::Text | Opcode::Binary)
            && len <= input.len() - header_len
            && len <= self.limits.message()
            && len < self.parts_from as usize;
        whole.then_some((
            header_len,
            FrameProgress {
                opcode: header.opcode,
                fin: true,
                mask: header.mask,
                remaining: len,
                offset: 0,
            },
        ))
    }

    /// A whole unfragmented message, unmasked in `payload`: the message,
    /// or the error event if it is text that is not UTF-8 (the session
    /// fails then).
    #[inline(always)]
    fn whole<'a>(
        &mut self,
        opcode: Opcode,
        payload: &'a [u8],
    ) -> Result<Message<'a>, Event<'static>> {
        match opcode {
            Opcode::Text => match std::str::from_utf8(payload) {
                Ok(text) => Ok(Message::Text(text)),
                Err(_) => Err(self.fail(invalid_utf8())),
            },
            _ => Ok(Message::Binary(payload)),
        }
    }

    /// [`Session::read`] for every case: frames and messages in pieces,
    /// control frames, compressed messages, errors.
    fn read_general<'a>(&mut self, input: &'a mut [u8]) -> (usize, Option<Event<'a>>) {
        if self.failed || self.close_received {
            return (input.len(), None);
        }
        let mut pos = 0;
        loop {
            let mut frame = match self.receiving.as_mut().and_then(|r| r.frame.take()) {
                Some(frame) => frame,
                None => match self.next_frame(&input[pos..]) {
                    Ok(Some((frame, header_len))) => {
                        pos += header_len;
                        frame
                    }
                    Ok(None) => return (pos, None),
                    Err(e) => return (pos, Some(self.fail(e))),
                },
            };

            let start = pos;
            let end = start + frame.remaining.min(input.len() - start);
            if let Some(key) = frame.mask {
                apply_mask(&mut input[start..end], key, frame.offset);
            }
            // The whole payload is in this input iff none came before and
            // none is still missing.
            let whole = frame.offset == 0 && end - start == frame.remaining;
            frame.offset += end - start;
            frame.remaining -= end - start;
            pos = end;

            if frame.opcode.is_control() {
                let payload = if whole {
                    Payload::Borrowed(&input[start..end])
                } else {
                    let receiving = self.receiving();
                    receiving.control_buf.extend_from_slice(&input[start..end]);
                    if frame.remaining > 0 {
                        receiving.frame = Some(frame);
                        return (pos, None);
                    }
                    let whole = mem::take(&mut receiving.control_buf);
                    self.release_idle_receiving();
                    Payload::Owned(whole)
                };
                return (pos, Some(self.on_control(frame.opcode, payload)));
            }

            if self.message_in_parts {
                if start == end && frame.remaining == 0 && !frame.fin {
                    // An empty fragment that is not the last: next header.
                    continue;
                }
                return (pos, self.part(&input[start..end], frame, whole));
            }

            if self.message_compressed {
                let last = frame.fin && frame.remaining == 0;
                if let Err(e) = self.inflate_chunk(&input[start..end], last) {
                    return (pos, Some(self.fail(e)));
                }
                if frame.remaining > 0 {
                    self.receiving().frame = Some(frame);
                    return (pos, None);
                }
                if frame.fin {
                    return (pos, Some(self.finish_message()));
                }
                continue;
            }

            if whole && frame.fin && frame.opcode != Opcode::Continuation {
                // An unfragmented message entirely in `input` that
                // `whole_message` left to this path because other state was
                // under way (`next_frame` ruled out a message in progress).
                self.message = None;
                let taken = self.whole(frame.opcode, &input[start..end]);
                return (pos, Some(as_event(taken)));
            }

            let chunk = &input[start..end];
            let is_text = self.message == Some(Opcode::Text);
            let receiving = self.receiving();
            if is_text && receiving.utf8.feed(chunk).is_err() {
                return (pos, Some(self.fail(invalid_utf8())));
            }
            // Room for the rest of the frame at once (its size was checked
            // against the limits with the header), so the buffer never
            // grows by doubling.
            let rest = chunk.len() + frame.remaining;
            receiving.message_buf.append(chunk, rest, frame.fin);
            if frame.remaining > 0 {
                receiving.frame = Some(frame);
                return (pos, None);
            }
            if frame.fin {
                return (pos, Some(self.finish_message()));
            }
            // A non-final fragment is complete: go on to the next header.
        }
    }

    /// The next piece of a message handed over in parts: `chunk`, the
    /// payload of `frame` that this input holds (unmasked, and `frame`
    /// already advanced past it), `whole` when that is all the frame.
    /// `None` when there is nothing to hand over yet (no payload of the
    /// frame in this input); the frame is kept when more of it is to come.
    fn part<'a>(
        &mut self,
        chunk: &'a [u8],
        frame: FrameProgress,
        whole: bool,
    ) -> Option<Event<'a>> {
        let kind = self.message.unwrap_or(Opcode::Binary);
        let is_text = kind == Opcode::Text;
        let last = frame.fin && frame.remaining == 0;
        if whole && last && frame.opcode != Opcode::Continuation {
            // The whole message in one part: nothing to keep between reads.
            self.message = None;
            self.message_in_parts = false;
            if is_text && std::str::from_utf8(chunk).is_err() {
                return Some(self.fail(invalid_utf8()));
            }
            return Some(Event::Part(MessagePart {
                kind,
                bytes: Payload::Borrowed(chunk),
                first: true,
                last: true,
            }));
        }
        let receiving = self.receiving();
        if is_text && receiving.utf8.feed(chunk).is_err() {
            return Some(self.fail(invalid_utf8()));
        }
        if frame.remaining > 0 {
            receiving.frame = Some(frame);
        }
        if chunk.is_empty() && !last {
            return None;
        }
        let first = receiving.parts_len == 0;
        receiving.parts_len += chunk.len();
        if last {
            if is_text && receiving.utf8.finish().is_err() {
                return Some(self.fail(invalid_utf8()));
            }
            receiving.parts_len = 0;
            self.message = None;
            self.message_in_parts = false;
            self.release_idle_receiving();
        }
        Some(Event::Part(MessagePart {
            kind,
            bytes: Payload::Borrowed(chunk),
            first,
            last,
        }))
    }

    /// Where the rest of a large frame can be read straight to: the bytes
    /// of its message buffer that the frame's remaining payload will fill.
    /// `None` unless an uncompressed data frame is being received with at
    /// least [`message_buf::LARGE`] bytes still to come. After a read into
    /// it, call [`Session::payload_received`] with the count (and nothing
    /// else in between): the bytes are not payload until then.
    pub fn payload_target(&mut self) -> Option<&mut [u8]> {
        if self.failed || self.close_received || self.message_compressed || self.message_in_parts {
            return None;
        }
        let receiving = self.receiving.as_mut()?;
        let frame = receiving.frame.as_ref()?;
        if frame.opcode.is_control() || frame.remaining < message_buf::LARGE {
            return None;
        }
        Some(receiving.message_buf.target(frame.remaining))
    }

    /// How many payload bytes must arrive before anything else on this
    /// connection can: the rest of the frame [`Session::payload_target`]
    /// would read into (the peer may not send a control frame inside it),
    /// or 0 when it would return `None`.
    pub fn payload_awaited(&self) -> usize {
        if self.failed || self.close_received || self.message_compressed || self.message_in_parts {
            return 0;
        }
        match self.receiving.as_ref().and_then(|r| r.frame.as_ref()) {
            Some(frame) if !frame.opcode.is_control() && frame.remaining >= message_buf::LARGE => {
                frame.remaining
            }
            _ => 0,
        }
    }

    /// Takes `n` bytes read into [`Session::payload_target`] as the
    /// frame's next payload: unmasks them in place, checks text as UTF-8,
    /// and completes the message when they end its last frame, as
    /// [`Session::read`] would have with the same bytes.
    pub fn payload_received(&mut self, n: usize) -> Option<Event<'static>> {
        let receiving = self.receiving.as_mut()?;
        let mut frame = receiving.frame.take()?;
        let n = n.min(frame.remaining);
        let chunk = receiving.message_buf.commit(n);
        if let Some(key) = frame.mask {
            apply_mask(chunk, key, frame.offset);
        }
        let bad_text = self.message == Some(Opcode::Text) && receiving.utf8.feed(chunk).is_err();
        frame.offset += n;
        frame.remaining -= n;
        if bad_text {
            return Some(self.fail(invalid_utf8()));
        }
        if frame.remaining > 0 {
            receiving.frame = Some(frame);
            return None;
        }
        // A non-final fragment ends here; its next header comes by `read`.
        frame.fin.then(|| self.finish_message())
    }

    /// Appends a complete unfragmented message (Text or Binary) to `out`,
    /// after any pending frames. Text must be valid UTF-8 (not checked).
    #[inline(always)]
    pub fn send(
        &mut self,
        kind: Opcode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.check_data(kind)?;
        if self.sending.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        if payload.len() > self.limits.message() {
            return Err(SendError::TooBig);
        }
        self.take_pending(out);
        match self.deflate.as_mut() {
            Some(d) if payload.len() >= d.params.min_size => {
                write_compressed(self.role, true, kind, payload, &mut d.compressor, out);
            }
            _ => write_frame(self.role, true, kind, payload, out),
        }
        Ok(())
    }

    /// Appends one fragment of a message. The first call's `kind` starts the
    /// message; later calls must pass the same kind and are sent as
    /// continuation frames; `fin` ends the message. Pings, pongs and close
    /// may be sent between fragments.
    pub fn send_fragment(
        &mut self,
        kind: Opcode,
        payload: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        let opcode = self.next_fragment(kind, payload.len(), fin)?;
        self.take_pending(out);
        match self.deflate.as_mut() {
            // The total size is unknown at the first fragment, so a
            // fragmented message is always compressed when deflate is on.
            Some(d) if opcode != Opcode::Continuation || d.sending_compressed => {
                d.sending_compressed = !fin;
                write_compressed_fragment(self.role, fin, opcode, payload, &mut d.compressor, out);
            }
            _ => write_frame(self.role, fin, opcode, payload, out),
        }
        Ok(())
    }

    /// Checks a fragment of `len` bytes of a `kind` message and moves the
    /// sending state past it; returns the opcode its frame carries (the
    /// message's kind first, then continuation). Nothing changes on error.
    fn next_fragment(&mut self, kind: Opcode, len: usize, fin: bool) -> Result<Opcode, SendError> {
        self.check_data(kind)?;
        let opcode = match self.sending {
            None => kind,
            Some(started) if started == kind => Opcode::Continuation,
            Some(_) => return Err(SendError::FragmentInProgress),
        };
        if len > self.limits.frame() {
            return Err(SendError::TooBig);
        }
        self.sending = if fin { None } else { Some(kind) };
        Ok(opcode)
    }

    /// Appends a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_control(Opcode::Ping, payload, out)
    }

    /// Appends an unsolicited pong, e.g. as a heartbeat (at most 125 bytes).
    pub fn pong(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_control(Opcode::Pong, payload, out)
    }

    /// Starts the closing handshake: appends a close frame with `code` and
    /// `reason` (cut to 123 bytes at a character boundary). The peer's
    /// reply arrives later as [`Event::Close`]. Only codes that are valid
    /// on the wire are accepted (1000-1003, 1007-1011, 3000-4999).
    pub fn close(&mut self, code: u16, reason: &str, out: &mut Vec<u8>) -> Result<(), SendError> {
        if self.close_sent || self.close_received {
            return Err(SendError::Closed);
        }
        if !close::is_valid_received_code(code) {
            return Err(SendError::InvalidCloseCode);
        }
        self.take_pending(out);
        write_close(self.role, Some((code, reason)), out);
        self.close_sent = true;
        Ok(())
    }

    /// A header for an unfragmented message of `len` bytes, for a server
    /// that queues one shared payload to many connections without copying
    /// it. The caller writes the header, then the payload. Clients must
    /// mask each payload, so they get `SendError::MaskRequired`.
    pub fn frame_header(&self, kind: Opcode, len: usize) -> Result<([u8; 14], usize), SendError> {
        self.check_unfragmented(kind, len)?;
        Ok(reply_header(kind, len).encode())
    }

    /// Why [`Session::frame_header`] would refuse, if it would.
    fn check_unfragmented(&self, kind: Opcode, len: usize) -> Result<(), SendError> {
        if self.role == Role::Client {
            return Err(SendError::MaskRequired);
        }
        self.check_data(kind)?;
        if self.sending.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        if len > self.limits.message() {
            return Err(SendError::TooBig);
        }
        Ok(())
    }

    /// [`Session::frame_header`] for a message [`Session::send`] would send
    /// uncompressed: `None` when deflate is negotiated and the message is
    /// large enough to compress (the session's own compressor must see it,
    /// to keep its context), or when `frame_header` refuses.
    pub fn plain_frame_header(&self, kind: Opcode, len: usize) -> Option<([u8; 14], usize)> {
        self.sends_plain(kind, len)
            .then(|| reply_header(kind, len).encode())
    }

    /// Whether [`Session::send`] would send this message now as one plain
    /// frame, the one [`Session::plain_frame_header`] heads (the checks
    /// alone, for a header already written).
    #[inline]
    pub fn sends_plain(&self, kind: Opcode, len: usize) -> bool {
        let compresses = matches!(&self.deflate, Some(d) if len >= d.params.min_size);
        !compresses && self.check_unfragmented(kind, len).is_ok()
    }

    /// [`Session::send_fragment`] for a server that writes the payload
    /// itself, straight from the caller's slice: the fragment's header,
    /// with the sending state moved on as if the whole fragment had been
    /// appended. `None`, with nothing changed, where `send_fragment` must
    /// encode the fragment itself (a client masks, and with deflate
    /// negotiated fragments are compressed) or would refuse it.
    pub fn plain_fragment_header(
        &mut self,
        kind: Opcode,
        len: usize,
        fin: bool,
    ) -> Option<([u8; MAX_HEADER_LEN], usize)> {
        if self.role == Role::Client || self.deflate.is_some() {
            return None;
        }
        let opcode = self.next_fragment(kind, len, fin).ok()?;
        let header = FrameHeader {
            fin,
            opcode,
            mask: None,
            payload_len: len as u64,
        };
        Some(header.encode())
    }

    /// A header for an unfragmented message whose payload `shared` already
    /// compressed (`len` bytes on the wire), with RSV1 set: a broadcast
    /// compresses once and every connection it fits writes this header and
    /// the shared bytes. `Ok(None)`: this connection cannot take them (no
    /// deflate, its own compressor keeps context, or its peer wants a
    /// smaller window); send the message uncompressed instead.
    pub fn compressed_frame_header(
        &self,
        kind: Opcode,
        len: usize,
        shared: &SharedCompressor,
    ) -> Result<Option<([u8; MAX_HEADER_LEN], usize)>, SendError> {
        let (mut header, n) = self.frame_header(kind, len)?;
        match self.deflate_params() {
            Some(params) if shared.fits(params, self.role) => {
                header[0] |= RSV1;
                Ok(Some((header, n)))
            }
            _ => Ok(None),
        }
    }

    /// Inflates a piece of a compressed message into `message_buf`,
    /// checking any text as it appears; `last` ends the message.
    fn inflate_chunk(&mut self, chunk: &[u8], last: bool) -> Result<(), ProtocolError> {
        // `message_compressed` is only set when deflate was negotiated.
        let Some(d) = self.deflate.as_mut() else {
            return Err(ProtocolError::new(
                close::PROTOCOL_ERROR,
                "RSV1 without deflate",
            ));
        };
        let limit = self.limits.message();
        let receiving = self.receiving.get_or_insert_with(Receiving::new);
        let out = receiving.message_buf.as_vec();
        let before = out.len();
        let inflated = d.decompressor.inflate(chunk, out, limit).and_then(|()| {
            if last {
                d.decompressor.finish_message(out, limit)
            } else {
                Ok(())
            }
        });
        let text = self.message == Some(Opcode::Text);
        let valid = !text || receiving.utf8.feed(&out[before..]).is_ok();
        receiving.message_buf.sync();
        inflated?;
        if !valid {
            return Err(invalid_utf8());
        }
        Ok(())
    }

    /// Decodes the next header and checks it against the message state.
    fn next_frame(
        &mut self,
        input: &[u8],
    ) -> Result<Option<(FrameProgress, usize)>, ProtocolError> {
        let expect_masked = self.role == Role::Server;
        let max_frame = u64::try_from(self.limits.frame()).unwrap_or(u64::MAX);
        // Without deflate, the header decoder is the one that always
        // rejects RSV1: the uncompressed path stays as it was.
        let decoded = if self.deflate.is_some() {
            decode_header_deflate(input, expect_masked, max_frame)?
        } else {
            decode_header(input, expect_masked, max_frame)?
                .map(|(header, len)| (header, false, len))
        };
        let Some((header, compressed, header_len)) = decoded else {
            return Ok(None);
        };
        // `decode_header` bounded the length by a `usize` limit already.
        let len = usize::try_from(header.payload_len)
            .map_err(|_| ProtocolError::new(close::TOO_BIG, "frame too big"))?;

        match header.opcode {
            Opcode::Continuation if self.message.is_none() => {
                return Err(ProtocolError::new(
                    close::PROTOCOL_ERROR,
                    "continuation frame with no message in progress",
                ));
            }
            Opcode::Text | Opcode::Binary if self.message.is_some() => {
                return Err(ProtocolError::new(
                    close::PROTOCOL_ERROR,
                    "new message started inside a fragmented message",
                ));
            }
            Opcode::Text | Opcode::Binary => {
                self.message = Some(header.opcode);
                self.message_compressed = compressed;
                self.message_in_parts = !compressed && len >= self.parts_from as usize;
                if let Some(receiving) = self.receiving.as_mut() {
                    receiving.utf8.reset();
                }
            }
            _ => {}
        }
        // Judge the declared size before buffering any of it. A compressed
        // message is judged as it inflates: its wire size says little.
        if !header.opcode.is_control()
            && !self.message_compressed
            && self.buffered_message_len().saturating_add(len) > self.limits.message()
        {
            return Err(ProtocolError::new(close::TOO_BIG, "message too big"));
        }

        let frame = FrameProgress {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: len,
            offset: 0,
        };
        Ok(Some((frame, header_len)))
    }

    /// Completes the reassembled message in `message_buf`.
    fn finish_message(&mut self) -> Event<'static> {
        let kind = self.message.take();
        let receiving = self.receiving();
        if kind == Some(Opcode::Text) && receiving.utf8.finish().is_err() {
            return self.fail(invalid_utf8());
        }
        // Hand the buffer itself to the caller: no copy, and an idle
        // session keeps no message memory.
        let payload = Payload::Owned(receiving.message_buf.take());
        self.release_idle_receiving();
        match kind {
            Some(Opcode::Text) => Event::Text(payload),
            _ => Event::Binary(payload),
        }
    }

    /// Reacts to a complete control frame.
    fn on_control<'a>(&mut self, opcode: Opcode, payload: Payload<'a>) -> Event<'a> {
        match opcode {
            Opcode::Ping => {
                // Nothing may follow our close frame, not even a pong.
                if !self.close_sent {
                    write_frame(self.role, true, Opcode::Pong, &payload, self.pending());
                }
                Event::Ping(payload)
            }
            Opcode::Pong => Event::Pong(payload),
            _ => match close::parse_close_payload(&payload) {
                Err(e) => self.fail(e),
                Ok((code, reason)) => {
                    self.close_received = true;
                    if !self.close_sent {
                        // Echo the code; an empty close is echoed empty,
                        // since 1005 must never go on the wire.
                        let echo = (code != close::NO_STATUS).then_some((code, ""));
                        write_close(self.role, echo, self.pending());
                        self.close_sent = true;
                    }
                    self.release_input_state();
                    Event::Close { code, reason }
                }
            },
        }
    }

    /// Fails the connection: queues a close with the error's code (unless
    /// one was already sent) and stops reading.
    fn fail(&mut self, error: ProtocolError) -> Event<'static> {
        log::debug!("failing WebSocket connection: {error}");
        self.failed = true;
        if !self.close_sent {
            let role = self.role;
            write_close(role, Some((error.code, error.reason)), self.pending());
            self.close_sent = true;
        }
        self.release_input_state();
        Event::Error {
            code: error.code,
            reason: error.reason,
        }
    }

    /// Drops any half-received frame or message once no more input will be
    /// read, returning its memory.
    fn release_input_state(&mut self) {
        self.message = None;
        self.message_compressed = false;
        self.message_in_parts = false;
        if let Some(d) = self.deflate.as_mut() {
            d.decompressor.discard();
        }
        self.receiving = None;
    }

    /// The state of a frame or message arriving in pieces, made on first use.
    fn receiving(&mut self) -> &mut Receiving {
        self.receiving.get_or_insert_with(Receiving::new)
    }

    /// Frees the receiving state once nothing arrives in pieces any more.
    fn release_idle_receiving(&mut self) {
        let idle = self.receiving.as_ref().is_some_and(|r| {
            self.message.is_none()
                && r.frame.is_none()
                && r.message_buf.is_empty()
                && r.control_buf.is_empty()
        });
        if idle {
            self.receiving = None;
        }
    }

    /// Bytes of the message being received: reassembled, or handed over
    /// in parts.
    fn buffered_message_len(&self) -> usize {
        self.receiving
            .as_ref()
            .map_or(0, |r| r.message_buf.len() + r.parts_len)
    }

    /// The pending output, made on first use.
    fn pending(&mut self) -> &mut Vec<u8> {
        self.pending.get_or_insert_with(Box::default)
    }

    fn check_data(&self, kind: Opcode) -> Result<(), SendError> {
        if kind != Opcode::Text && kind != Opcode::Binary {
            return Err(SendError::InvalidOpcode);
        }
        self.check_open()
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.close_sent || self.close_received || self.failed {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    fn send_control(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::TooBig);
        }
        self.take_pending(out);
        write_frame(self.role, true, opcode, payload, out);
        Ok(())
    }
}

fn invalid_utf8() -> ProtocolError {
    ProtocolError::new(close::INVALID_DATA, "invalid UTF-8 in text message")
}

/// A fresh masking key for a client's frame; none for a server's.
fn new_mask(role: Role) -> Option<[u8; 4]> {
    match role {
        Role::Client => Some(fastrand::u32(..).to_ne_bytes()),
        Role::Server => None,
    }
}

/// A whole message as [`Session::read`] reports it: borrowed, as an event.
#[inline(always)]
fn as_event<'a>(taken: Result<Message<'a>, Event<'static>>) -> Event<'a> {
    match taken {
        Ok(Message::Text(text)) => Event::Text(Payload::Borrowed(text.as_bytes())),
        Ok(Message::Binary(data)) => Event::Binary(Payload::Borrowed(data)),
        Err(error) => error,
    }
}

/// Appends one frame to `out`, masking it with a fresh key for a client.
#[inline(always)]
fn write_frame(role: Role, fin: bool, opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
    let mask = new_mask(role);
    let header = FrameHeader {
        fin,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.reserve(14 + payload.len());
    header.write_to(out);
    match mask {
        Some(key) => extend_masked(out, payload, key),
        None => out.extend_from_slice(payload),
    }
}

/// Appends one whole compressed message as a single frame with RSV1.
///
/// When our compressor keeps no context and compression did not pay (random
/// bytes), the plain frame goes out instead: the peer's window does not
/// depend on what we sent. With context kept that would desynchronise the
/// two windows, so the compressed frame goes out whatever its size.
fn write_compressed(
    role: Role,
    fin: bool,
    kind: Opcode,
    payload: &[u8],
    compressor: &mut Compressor,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    write_compressed_fragment(role, fin, kind, payload, compressor, out);
    let plain_header = FrameHeader {
        fin,
        opcode: kind,
        mask: new_mask(role).map(|_| [0; 4]),
        payload_len: payload.len() as u64,
    };
    let plain_len = plain_header.encode().1 + payload.len();
    if compressor.settings().no_context_takeover && out.len() - start >= plain_len {
        out.truncate(start);
        write_frame(role, fin, kind, payload, out);
    }
}

/// Appends one frame of a compressed message: RSV1 on a first frame, the
/// payload compressed (and its tail cut when `fin`). The payload is
/// compressed straight into `out` behind room for the longest header, then
/// moved up against the real header: one copy, no scratch buffer.
fn write_compressed_fragment(
    role: Role,
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    compressor: &mut Compressor,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let body = start + MAX_HEADER_LEN;
    out.resize(body, 0);
    compressor.compress_fragment(payload, fin, out);
    let body_len = out.len() - body;
    let mask = new_mask(role);
    let header = FrameHeader {
        fin,
        opcode,
        mask,
        payload_len: body_len as u64,
    };
    let (mut head, n) = header.encode();
    if opcode != Opcode::Continuation {
        head[0] |= RSV1;
    }
    out.copy_within(body.., start + n);
    out.truncate(start + n + body_len);
    out[start..start + n].copy_from_slice(&head[..n]);
    if let Some(key) = mask {
        apply_mask(&mut out[start + n..], key, 0);
    }
}

/// Appends a close frame: with a code and reason, or empty for `None`.
fn write_close(role: Role, status: Option<(u16, &str)>, out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(MAX_CONTROL_PAYLOAD);
    if let Some((code, reason)) = status {
        close::write_close_payload(code, reason, &mut payload);
    }
    write_frame(role, true, Opcode::Close, &payload, out);
}

/// The smallest payload [`Session::read_whole_framed`] frames in place.
/// Below it, copying the payload into the write queue costs less than the
/// bookkeeping of a loan (callgrind, on the first version, which framed
/// every size: 166 more instructions a message for 32 B ones one at a
/// time, 97 fewer for 1 KiB ones 16 at a time).
pub const FRAME_IN_PLACE_MIN: usize = 512;

/// The header of an unfragmented, unmasked, uncompressed message: what a
/// server sends a message in.
#[inline]
fn reply_header(kind: Opcode, len: usize) -> FrameHeader {
    FrameHeader {
        fin: true,
        opcode: kind,
        mask: None,
        payload_len: len as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a raw frame, masked as a client would (or not), with optional
    /// RSV bits, bypassing every check the session applies to sending.
    fn raw_frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let header = FrameHeader {
            fin,
            opcode: Opcode::from_u8(opcode).unwrap_or(Opcode::Binary),
            mask: masked.then_some([0x11, 0x22, 0x33, 0x44]),
            payload_len: payload.len() as u64,
        };
        header.write_to(&mut out);
        out[0] = (out[0] & 0xF0) | opcode;
        let start = out.len();
        out.extend_from_slice(payload);
        if masked {
            apply_mask(&mut out[start..], [0x11, 0x22, 0x33, 0x44], 0);
        }
        out
    }

    /// A frame a client sends to a server.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        raw_frame(fin, opcode, payload, true)
    }

    #[test]
    fn framed_echoes_are_what_send_writes_and_lie_back_to_back() {
        use crate::ws::reader::EventReader;
        // Text and binary, on either side of the threshold and of each
        // length form, and a ping between two of them.
        let sizes = [600, 4000, 100, 70_000, 512, 511, 1024, 1024, 126];
        let messages: Vec<(Opcode, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let kind = if i % 3 == 0 {
                    Opcode::Text
                } else {
                    Opcode::Binary
                };
                (kind, (0..n).map(|b| b"wsloop!"[(b + i) % 7]).collect())
            })
            .collect();
        let mut input = Vec::new();
        for (i, (kind, payload)) in messages.iter().enumerate() {
            if i == 7 {
                input.extend(client_frame(true, 0x9, b"ping"));
            }
            input.extend(client_frame(true, *kind as u8, payload));
        }
        let base = input.as_ptr() as usize;
        let mut session = Session::new(Role::Server, Limits::default());
        // Per message: where its reply frame was built, if it was.
        let mut framed = Vec::new();
        let mut reader = EventReader::new(&mut input);
        loop {
            if let Some((taken, reply)) = reader.next_framed(&mut session) {
                let message = taken.expect("valid message");
                let (kind, payload) = &messages[framed.len()];
                assert_eq!(
                    (message.opcode(), message.as_bytes()),
                    (*kind, &payload[..])
                );
                assert_eq!(reply.is_some(), payload.len() >= FRAME_IN_PLACE_MIN);
                if let Some(reply) = reply {
                    assert!(reply.is(&message));
                    assert!(!reply.is(&Message::Binary(&message.as_bytes()[1..])));
                }
                framed.push(reply.map(|f| (f.frame_at() - base, f.frame_len())));
                continue;
            }
            match reader.next(&mut session) {
                Some((_, Some(Event::Ping(p)))) => assert_eq!(&p[..], b"ping"),
                Some((_, None)) => {}
                Some((_, other)) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        assert_eq!(reader.consumed(), input.len());
        assert_eq!(framed.len(), messages.len());
        // Every reply built is the frame a server sends the message in,
        // still whole after the rest of the buffer was read.
        let mut sender = Session::new(Role::Server, Limits::default());
        for (reply, (kind, payload)) in framed.iter().zip(&messages) {
            let Some((at, len)) = *reply else { continue };
            let mut expected = Vec::new();
            sender.send(*kind, payload, &mut expected).unwrap();
            assert_eq!(
                &input[at..at + len],
                &expected[..],
                "{} bytes",
                payload.len()
            );
        }
        // Replies built one after another touch: a run of echoes is one
        // stretch of the buffer. The ping before message 7 ends a run.
        let mut touching = 0;
        for i in 1..framed.len() {
            if let (Some((prev, prev_len)), Some((at, _))) = (framed[i - 1], framed[i]) {
                assert_eq!(at == prev + prev_len, i != 7, "message {i}");
                touching += usize::from(i != 7);
            }
        }
        assert_eq!(touching, 2, "messages 1 and 4 follow framed ones");
    }

    #[test]
    fn a_framed_note_is_two_words() {
        // It rides along with every message handed to a handler.
        assert_eq!(std::mem::size_of::<Option<Framed>>(), 16);
    }

    #[test]
    fn a_client_or_bad_text_gets_no_framed_reply() {
        use crate::ws::reader::EventReader;
        let mut from_server = raw_frame(true, 0x2, &[5; 1000], false);
        let mut client = Session::new(Role::Client, Limits::default());
        let mut reader = EventReader::new(&mut from_server);
        let (taken, reply) = reader.next_framed(&mut client).unwrap();
        assert_eq!(taken, Ok(Message::Binary(&[5; 1000])));
        assert_eq!(reply, None);

        let mut bad = vec![b'a'; 1000];
        bad[500] = 0xff;
        let mut input = client_frame(true, 0x1, &bad);
        let mut server = Session::new(Role::Server, Limits::default());
        let mut reader = EventReader::new(&mut input);
        let (taken, reply) = reader.next_framed(&mut server).unwrap();
        assert!(matches!(taken, Err(Event::Error { code: 1007, .. })));
        assert_eq!(reply, None);
    }

    /// Plays the caller: keeps a read buffer, appends `chunk`, reads events
    /// until the session needs more, and drops what was consumed.
    struct Driver {
        session: Session,
        buf: Vec<u8>,
        events: Vec<Event<'static>>,
    }

    impl Driver {
        fn new(role: Role) -> Self {
            Self::with_limits(role, Limits::default())
        }

        fn with_limits(role: Role, limits: Limits) -> Self {
            Driver {
                session: Session::new(role, limits),
                buf: Vec::new(),
                events: Vec::new(),
            }
        }

        fn feed(&mut self, chunk: &[u8]) -> &[Event<'static>] {
            let before = self.events.len();
            self.buf.extend_from_slice(chunk);
            let mut pos = 0;
            loop {
                let (n, event) = self.session.read(&mut self.buf[pos..]);
                pos += n;
                match event {
                    Some(event) => self.events.push(event.into_owned()),
                    None if n == 0 => break,
                    None => {}
                }
            }
            self.buf.drain(..pos);
            // Only an incomplete header may be left over.
            assert!(self.buf.len() < 14, "kept {} bytes", self.buf.len());
            &self.events[before..]
        }

        fn feed_in_chunks(&mut self, bytes: &[u8], rng: &mut fastrand::Rng, max_chunk: usize) {
            let mut pos = 0;
            while pos < bytes.len() {
                let end = (pos + rng.usize(1..=max_chunk)).min(bytes.len());
                self.feed(&bytes[pos..end]);
                pos = end;
            }
        }

        fn pending(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            self.session.take_pending(&mut out);
            out
        }
    }

    /// Decodes frames a session produced, by reading them with a session of
    /// the opposite role.
    fn decode_output(from: Role, bytes: &[u8]) -> Vec<Event<'static>> {
        let to = match from {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut peer = Driver::new(to);
        peer.feed(bytes);
        peer.events
    }

    fn error_code(events: &[Event<'_>]) -> Option<u16> {
        events.iter().find_map(|e| match e {
            Event::Error { code, .. } => Some(*code),
            _ => None,
        })
    }

    /// Feeds `bytes` to a fresh server and returns the error code, checking
    /// that a close frame with that code was queued.
    fn server_error(bytes: &[u8]) -> u16 {
        let mut d = Driver::new(Role::Server);
        d.feed(bytes);
        let code = error_code(&d.events).expect("expected an error");
        assert!(d.session.is_failed());
        let reply = decode_output(Role::Server, &d.pending());
        assert!(
            matches!(reply.as_slice(), [Event::Close { code: c, .. }] if *c == code),
            "{reply:?}"
        );
        code
    }

    fn text(s: &str) -> Event<'static> {
        Event::Text(Payload::Owned(s.as_bytes().to_vec()))
    }

    #[test]
    fn fast_path_borrows_and_unmasks_in_place() {
        let mut s = Session::new(Role::Server, Limits::default());
        let mut buf = client_frame(true, 0x1, b"Hello");
        buf.extend_from_slice(&client_frame(true, 0x2, &[1, 2, 3]));
        let (n, ev) = s.read(&mut buf);
        assert_eq!(n, 11);
        assert_eq!(ev, Some(Event::Text(Payload::Borrowed(b"Hello"))));
        let (m, ev) = s.read(&mut buf[n..]);
        assert_eq!(m, 9);
        assert_eq!(ev, Some(Event::Binary(Payload::Borrowed(&[1, 2, 3]))));
        assert_eq!(s.read(&mut buf[n + m..]), (0, None));
        // The payload was unmasked where it lay.
        assert_eq!(&buf[6..11], b"Hello");
    }

    #[test]
    fn read_whole_takes_only_whole_unfragmented_messages() {
        let mut s = Session::new(Role::Server, Limits::default());
        let mut buf = client_frame(true, 0x1, b"Hello");
        let (n, taken) = s.read_whole(&mut buf).unwrap();
        assert_eq!((n, taken), (11, Ok(Message::Text("Hello"))));

        // A first fragment, a ping, a partial payload: left for `read`,
        // untouched (still masked).
        for (fin, opcode, cut) in [(false, 0x2, 0), (true, 0x9, 0), (true, 0x2, 1)] {
            let frame = client_frame(fin, opcode, b"abc");
            let mut part = frame[..frame.len() - cut].to_vec();
            assert_eq!(
                s.read_whole(&mut part),
                None,
                "fin {fin} opcode {opcode} cut {cut}"
            );
            assert_eq!(part, frame[..frame.len() - cut]);
        }
        // A continuation with no message started: also `read`'s to judge.
        let mut stray = client_frame(true, 0x0, b"abc");
        assert_eq!(s.read_whole(&mut stray), None);
        assert!(matches!(
            s.read(&mut stray).1,
            Some(Event::Error { code: 1002, .. })
        ));
    }

    #[test]
    fn read_whole_fails_invalid_text_as_read_does() {
        let mut s = Session::new(Role::Server, Limits::default());
        let mut buf = client_frame(true, 0x1, &[0xC3, 0x28]);
        let len = buf.len();
        let (n, taken) = s.read_whole(&mut buf).unwrap();
        assert_eq!(n, len);
        assert!(matches!(taken, Err(Event::Error { code: 1007, .. })));
        assert!(s.is_failed());
        // The close frame with 1007 (and a reason) is owed to the peer.
        let mut out = Vec::new();
        s.take_pending(&mut out);
        assert_eq!((out[0], &out[2..4]), (0x88, &1007u16.to_be_bytes()[..]));
        assert_eq!(s.read_whole(&mut client_frame(true, 0x2, b"x")), None);
    }

    #[test]
    fn rfc_client_side_examples() {
        let mut d = Driver::new(Role::Client);
        // Unmasked "Hello", then the same split into "Hel" + "lo".
        d.feed(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        d.feed(&[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!(d.events, vec![text("Hello"), text("Hello")]);
    }

    #[test]
    fn incomplete_header_is_not_consumed() {
        let mut s = Session::new(Role::Server, Limits::default());
        let frame = client_frame(true, 0x2, &[0; 300]);
        for cut in 0..8 {
            let mut part = frame[..cut].to_vec();
            assert_eq!(s.read(&mut part), (0, None), "cut {cut}");
        }
        // Once the header is there, partial payload is consumed.
        let mut part = frame[..20].to_vec();
        assert_eq!(s.read(&mut part), (20, None));
    }

    fn round_trip(from: Role, lens: &[usize], seed: u64) {
        let to = match from {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut sender = Session::new(from, Limits::default());
        let mut receiver = Driver::new(to);
        for &len in lens {
            let binary: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let text: String = (0..len)
                .map(|i| if i % 7 == 0 { 'é' } else { 'a' })
                .collect();
            for (kind, payload) in [
                (Opcode::Binary, binary.as_slice()),
                (Opcode::Text, text.as_bytes()),
            ] {
                let mut wire = Vec::new();
                sender.send(kind, payload, &mut wire).unwrap();
                assert_eq!(wire[1] & 0x80 != 0, from == Role::Client, "masking");
                let max_chunk = rng.usize(1..=len.max(1) * 2 + 20);
                receiver.feed_in_chunks(&wire, &mut rng, max_chunk);
                let got = receiver.events.pop().expect("no event");
                assert!(receiver.events.is_empty());
                let expected = match kind {
                    Opcode::Text => Event::Text(Payload::Owned(payload.to_vec())),
                    _ => Event::Binary(Payload::Owned(payload.to_vec())),
                };
                assert!(got == expected, "len {len} kind {kind:?}");
            }
        }
    }

    const LENGTHS: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

    #[test]
    fn round_trip_client_to_server() {
        round_trip(Role::Client, &LENGTHS, 1);
    }

    #[test]
    fn round_trip_server_to_client() {
        round_trip(Role::Server, &LENGTHS, 2);
    }

    #[test]
    fn round_trip_tiny_chunks() {
        // Byte-at-a-time-ish feeding exercises every split of header and
        // payload, including UTF-8 split inside code points.
        let mut rng = fastrand::Rng::with_seed(3);
        for from in [Role::Client, Role::Server] {
            let mut sender = Session::new(from, Limits::default());
            let to = if from == Role::Client {
                Role::Server
            } else {
                Role::Client
            };
            let mut receiver = Driver::new(to);
            let mut wire = Vec::new();
            let msgs = ["", "x", "κόσμε 🎉", &"ü".repeat(200), &"z".repeat(70000)];
            for m in msgs {
                sender.send(Opcode::Text, m.as_bytes(), &mut wire).unwrap();
            }
            receiver.feed_in_chunks(&wire, &mut rng, 3);
            let expected: Vec<_> = msgs.iter().map(|m| text(m)).collect();
            assert_eq!(receiver.events, expected);
        }
    }

    #[test]
    fn fragmented_message_with_interleaved_pings() {
        let mut client = Session::new(Role::Client, Limits::default());
        let mut wire = Vec::new();
        client
            .send_fragment(Opcode::Text, b"Hel", false, &mut wire)
            .unwrap();
        client.ping(b"p1", &mut wire).unwrap();
        client
            .send_fragment(Opcode::Text, b"", false, &mut wire)
            .unwrap();
        client
            .send_fragment(Opcode::Text, b"lo ", false, &mut wire)
            .unwrap();
        client.ping(b"p2", &mut wire).unwrap();
        client
            .send_fragment(Opcode::Text, "wörld".as_bytes(), true, &mut wire)
            .unwrap();

        for max_chunk in [1, 4, wire.len()] {
            let mut server = Driver::new(Role::Server);
            server.feed_in_chunks(&wire, &mut fastrand::Rng::with_seed(9), max_chunk);
            assert_eq!(
                server.events,
                vec![
                    Event::Ping(Payload::Owned(b"p1".to_vec())),
                    Event::Ping(Payload::Owned(b"p2".to_vec())),
                    text("Hello wörld"),
                ]
            );
            let pongs = decode_output(Role::Server, &server.pending());
            assert_eq!(
                pongs,
                vec![
                    Event::Pong(Payload::Owned(b"p1".to_vec())),
                    Event::Pong(Payload::Owned(b"p2".to_vec())),
                ]
            );
        }
    }

    #[test]
    fn empty_messages_and_fragments() {
        let mut d = Driver::new(Role::Server);
        d.feed(&client_frame(true, 0x1, b""));
        d.feed(&client_frame(true, 0x2, b""));
        d.feed(&client_frame(false, 0x2, b""));
        d.feed(&client_frame(false, 0x0, b""));
        d.feed(&client_frame(true, 0x0, b""));
        assert_eq!(
            d.events,
            vec![
                text(""),
                Event::Binary(Payload::Owned(vec![])),
                Event::Binary(Payload::Owned(vec![])),
            ]
        );
    }

    #[test]
    fn zero_length_final_frame_completes_without_more_input() {
        let mut d = Driver::new(Role::Server);
        assert!(d.feed(&client_frame(false, 0x1, b"ab")).is_empty());
        // Exactly the final frame's bytes, nothing after them.
        assert_eq!(d.feed(&client_frame(true, 0x0, b"")), &[text("ab")]);
    }

    #[test]
    fn masking_must_match_role() {
        assert_eq!(server_error(&raw_frame(true, 0x1, b"hi", false)), 1002);
        let mut client = Driver::new(Role::Client);
        client.feed(&raw_frame(true, 0x1, b"hi", true));
        assert_eq!(error_code(&client.events), Some(1002));
        // The client's own error close is masked.
        let out = client.pending();
        assert_eq!(out[1] & 0x80, 0x80);
    }

    #[test]
    fn header_level_violations() {
        for rsv in [0x40, 0x20, 0x10] {
            let mut f = client_frame(true, 0x1, b"x");
            f[0] |= rsv;
            assert_eq!(server_error(&f), 1002);
        }
        for op in (3..=7).chain(0xB..=0xF) {
            assert_eq!(server_error(&client_frame(true, op, b"")), 1002);
        }
        assert_eq!(server_error(&client_frame(true, 0x9, &[0; 126])), 1002);
        assert_eq!(server_error(&client_frame(false, 0x9, b"")), 1002);
        assert_eq!(server_error(&client_frame(false, 0x8, b"")), 1002);
    }

    #[test]
    fn fragmentation_violations() {
        assert_eq!(server_error(&client_frame(true, 0x0, b"x")), 1002);
        assert_eq!(server_error(&client_frame(false, 0x0, b"x")), 1002);
        let mut bytes = client_frame(false, 0x1, b"a");
        bytes.extend(client_frame(true, 0x1, b"b"));
        assert_eq!(server_error(&bytes), 1002);
        let mut bytes = client_frame(false, 0x2, b"a");
        bytes.extend(client_frame(false, 0x2, b"b"));
        assert_eq!(server_error(&bytes), 1002);
        // A finished message leaves nothing to continue.
        let mut bytes = client_frame(true, 0x1, b"a");
        bytes.extend(client_frame(true, 0x0, b"b"));
        assert_eq!(server_error(&bytes), 1002);
    }

    #[test]
    fn size_limits_are_checked_before_buffering() {
        let limits = Limits {
            max_message_size: 100,
            max_frame_size: 60,
        };
        // A frame over the frame limit fails on its header alone.
        let mut d = Driver::with_limits(Role::Server, limits);
        let frame = client_frame(true, 0x2, &[0; 61]);
        d.feed(&frame[..8]);
        assert_eq!(error_code(&d.events), Some(1009));

        // Fragments adding up past the message limit fail on the header of
        // the fragment that would cross it.
        let mut d = Driver::with_limits(Role::Server, limits);
        d.feed(&client_frame(false, 0x2, &[0; 60]));
        assert!(d.events.is_empty());
        let frame = client_frame(true, 0x0, &[0; 41]);
        d.feed(&frame[..6]);
        assert_eq!(error_code(&d.events), Some(1009));

        // Exactly at the limit is fine.
        let mut d = Driver::with_limits(Role::Server, limits);
        d.feed(&client_frame(false, 0x2, &[0; 60]));
        d.feed(&client_frame(true, 0x0, &[0; 40]));
        assert_eq!(d.events, vec![Event::Binary(Payload::Owned(vec![0; 100]))]);
    }

    #[test]
    fn invalid_utf8_in_single_frame() {
        assert_eq!(server_error(&client_frame(true, 0x1, b"ok \xff")), 1007);
        assert_eq!(
            server_error(&client_frame(true, 0x1, b"\xed\xa0\x80")),
            1007
        );
        // Truncated code point at the end of the message.
        assert_eq!(server_error(&client_frame(true, 0x1, b"ok \xe2\x82")), 1007);
        // Binary is not checked.
        let mut d = Driver::new(Role::Server);
        d.feed(&client_frame(true, 0x2, b"\xff"));
        assert_eq!(d.events, vec![Event::Binary(Payload::Owned(vec![0xff]))]);
    }

    #[test]
    fn invalid_utf8_fails_on_the_fragment_that_breaks_it() {
        // "κ" is CE BA; the second fragment starts with CE and the third
        // would continue it with a non-continuation byte... but the second
        // fragment already holds an impossible sequence (CE 41).
        let mut d = Driver::new(Role::Server);
        assert!(d.feed(&client_frame(false, 0x1, b"ab\xce")).is_empty());
        let events = d.feed(&client_frame(false, 0x0, b"\x41cd"));
        assert_eq!(error_code(events), Some(1007));
        // The final fragment is never needed, and is ignored if it comes.
        assert!(d.feed(&client_frame(true, 0x0, b"ef")).is_empty());

        // A code point split validly across fragments is accepted.
        let mut d = Driver::new(Role::Server);
        d.feed(&client_frame(false, 0x1, b"\xf0\x9f"));
        d.feed(&client_frame(false, 0x0, b"\x8e"));
        d.feed(&client_frame(true, 0x0, b"\x89"));
        assert_eq!(d.events, vec![text("🎉")]);

        // ...but a sequence that stops with the message is not.
        let mut d = Driver::new(Role::Server);
        d.feed(&client_frame(false, 0x1, b"\xf0\x9f"));
        assert!(d.feed(&client_frame(false, 0x0, b"\x8e")).is_empty());
        assert_eq!(
            error_code(d.feed(&client_frame(true, 0x0, b""))),
            Some(1007)
        );
    }

    #[test]
    fn invalid_utf8_fails_while_a_single_frame_is_still_arriving() {
        let mut payload = "valid prefix ".repeat(10).into_bytes();
        payload.extend_from_slice(b"\xc0\xaf");
        payload.extend_from_slice(&[b'x'; 1000]);
        let frame = client_frame(true, 0x1, &payload);
        let bad_at = 6 + 130 + 2; // header, prefix, bad bytes
        let mut d = Driver::new(Role::Server);
        assert!(d.feed(&frame[..bad_at - 1]).is_empty());
        assert_eq!(
            error_code(d.feed(&frame[bad_at - 1..bad_at + 10])),
            Some(1007)
        );
    }

    #[test]
    fn close_payload_violations() {
        assert_eq!(server_error(&client_frame(true, 0x8, &[0x03])), 1002);
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 5000] {
            let frame = client_frame(true, 0x8, &code.to_be_bytes());
            assert_eq!(server_error(&frame), 1002, "code {code}");
        }
        assert_eq!(
            server_error(&client_frame(true, 0x8, b"\x03\xe8\xff")),
            1007
        );
    }

    #[test]
    fn peer_initiated_close_is_echoed() {
        let mut d = Driver::new(Role::Server);
        d.feed(&client_frame(true, 0x8, b"\x0f\xa0bye"));
        assert_eq!(
            d.events,
            vec![Event::Close {
                code: 4000,
                reason: "bye".into()
            }]
        );
        assert!(d.session.close_received() && d.session.close_sent());
        assert_eq!(d.session.state(), State::CloseReceived);
        assert!(!d.session.is_closed());
        let echo = d.pending();
        assert_eq!(echo, [0x88, 0x02, 0x0f, 0xa0]);
        assert_eq!(d.session.state(), State::Closed);
        assert!(d.session.is_closed());
        // Anything after the close is ignored, even garbage.
        assert!(d.feed(&[0xff; 20]).is_empty());
        assert!(!d.session.has_pending());
        let mut out = Vec::new();
        assert_eq!(
            d.session.send(Opcode::Text, b"x", &mut out),
            Err(SendError::Closed)
        );
        assert_eq!(d.session.close(1000, "", &mut out), Err(SendError::Closed));
        assert!(out.is_empty());
    }

    #[test]
    fn empty_close_is_reported_as_1005_and_echoed_empty() {
        let mut d = Driver::new(Role::Server);
        d.feed(&client_frame(true, 0x8, b""));
        assert_eq!(
            d.events,
            vec![Event::Close {
                code: 1005,
                reason: String::new()
            }]
        );
        assert_eq!(d.pending(), [0x88, 0x00]);
    }

    #[test]
    fn locally_initiated_close() {
        let mut d = Driver::new(Role::Server);
        let mut out = Vec::new();
        assert_eq!(
            d.session.close(1005, "", &mut out),
            Err(SendError::InvalidCloseCode)
        );
        d.session.close(1001, "going", &mut out).unwrap();
        assert_eq!(d.session.state(), State::CloseSent);
        assert_eq!(
            decode_output(Role::Server, &out),
            vec![Event::Close {
                code: 1001,
                reason: "going".into()
            }]
        );
        // The peer may still send data and pings before its close; data is
        // delivered, pings are not answered after our close.
        d.feed(&client_frame(true, 0x1, b"late"));
        d.feed(&client_frame(true, 0x9, b"ping"));
        assert!(!d.session.has_pending());
        d.feed(&client_frame(true, 0x8, b"\x03\xe9"));
        assert_eq!(
            d.events,
            vec![
                text("late"),
                Event::Ping(Payload::Owned(b"ping".to_vec())),
                Event::Close {
                    code: 1001,
                    reason: String::new()
                }
            ]
        );
        assert!(d.session.is_closed());
        assert!(d.pending().is_empty());
    }

    #[test]
    fn error_after_our_close_sends_nothing_more() {
        let mut d = Driver::new(Role::Server);
        let mut out = Vec::new();
        d.session.close(1000, "", &mut out).unwrap();
        d.feed(&client_frame(true, 0x1, b"\xff"));
        assert_eq!(error_code(&d.events), Some(1007));
        assert!(d.session.is_failed());
        assert!(d.pending().is_empty());
    }

    #[test]
    fn input_after_an_error_is_ignored() {
        let mut d = Driver::new(Role::Server);
        let mut bytes = client_frame(true, 0x0, b"x");
        bytes.extend(client_frame(true, 0x1, b"never seen"));
        d.feed(&bytes);
        assert_eq!(d.events.len(), 1);
        assert!(d.feed(&client_frame(true, 0x9, b"")).is_empty());
        assert_eq!(d.session.state(), State::CloseSent);
    }

    #[test]
    fn pending_output_keeps_its_order_ahead_of_sends() {
        let mut d = Driver::new(Role::Server);
        d.feed(&client_frame(true, 0x9, b"hb"));
        let mut out = Vec::new();
        d.session.close(1000, "", &mut out).unwrap();
        assert_eq!(
            decode_output(Role::Server, &out),
            vec![
                Event::Pong(Payload::Owned(b"hb".to_vec())),
                Event::Close {
                    code: 1000,
                    reason: String::new()
                }
            ]
        );
    }

    #[test]
    fn control_frame_split_across_reads() {
        let mut d = Driver::new(Role::Server);
        let frame = client_frame(true, 0x9, &[7; 125]);
        for piece in frame.chunks(10) {
            d.feed(piece);
        }
        assert_eq!(d.events, vec![Event::Ping(Payload::Owned(vec![7; 125]))]);
    }

    #[test]
    fn send_errors() {
        let mut s = Session::new(Role::Client, Limits::new(10));
        let mut out = Vec::new();
        assert_eq!(
            s.send(Opcode::Ping, b"", &mut out),
            Err(SendError::InvalidOpcode)
        );
        assert_eq!(
            s.send(Opcode::Binary, &[0; 11], &mut out),
            Err(SendError::TooBig)
        );
        assert_eq!(s.ping(&[0; 126], &mut out), Err(SendError::TooBig));
        assert_eq!(
            s.frame_header(Opcode::Binary, 3),
            Err(SendError::MaskRequired)
        );
        s.send_fragment(Opcode::Text, b"a", false, &mut out)
            .unwrap();
        assert_eq!(
            s.send(Opcode::Text, b"x", &mut out),
            Err(SendError::FragmentInProgress)
        );
        assert_eq!(
            s.send_fragment(Opcode::Binary, b"x", true, &mut out),
            Err(SendError::FragmentInProgress)
        );
        s.send_fragment(Opcode::Text, b"b", true, &mut out).unwrap();
        s.send(Opcode::Text, b"c", &mut out).unwrap();
        assert_eq!(
            decode_output(Role::Client, &out),
            vec![text("ab"), text("c")]
        );
    }

    #[test]
    fn shared_payload_header() {
        let s = Session::new(Role::Server, Limits::default());
        let (header, n) = s.frame_header(Opcode::Text, 70000).unwrap();
        let mut wire = header[..n].to_vec();
        wire.extend_from_slice(&[b'a'; 70000]);
        assert_eq!(
            decode_output(Role::Server, &wire),
            vec![text(&"a".repeat(70000))]
        );
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = fastrand::Rng::with_seed(99);
        for _ in 0..2000 {
            for role in [Role::Server, Role::Client] {
                let mut d = Driver::with_limits(role, Limits::new(1 << 16));
                let len = rng.usize(0..64);
                let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                d.feed_in_chunks(&bytes, &mut rng, 8);
            }
        }
    }

    /// The messages in `events`: parts joined (checking their first and
    /// last marks), whole ones as they are, each with its kind and whether
    /// it came in parts; control events are left out.
    fn joined_messages(events: &[Event<'_>]) -> Vec<(Opcode, Vec<u8>, bool)> {
        let mut messages = Vec::new();
        let mut open: Option<(Opcode, Vec<u8>)> = None;
        for event in events {
            match event {
                Event::Part(part) => {
                    assert_eq!(part.is_first(), open.is_none(), "{event:?}");
                    let (kind, bytes) = open.get_or_insert((part.opcode(), Vec::new()));
                    assert_eq!(*kind, part.opcode());
                    assert!(!part.is_empty() || part.is_last(), "{event:?}");
                    bytes.extend_from_slice(part.as_bytes());
                    if part.is_last() {
                        let (kind, bytes) = open.take().unwrap();
                        messages.push((kind, bytes, true));
                    }
                }
                Event::Text(p) => messages.push((Opcode::Text, p.to_vec(), false)),
                Event::Binary(p) => messages.push((Opcode::Binary, p.to_vec(), false)),
                _ => assert!(open.is_none() || !matches!(event, Event::Error { .. })),
            }
        }
        assert!(open.is_none(), "a message's parts never ended");
        messages
    }

    #[test]
    fn large_messages_come_in_parts_that_join_into_them() {
        let long_text = "héllo wörld ✓ ".repeat(40); // multibyte, 720 bytes
        let binary: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut wire = Vec::new();
        // One frame, over the line: in parts.
        wire.extend(client_frame(true, 0x1, long_text.as_bytes()));
        // Under the line: whole.
        wire.extend(client_frame(true, 0x2, &binary[..99]));
        // Fragmented, first frame over the line, a ping and an empty
        // fragment between: in parts, the empty one not handed over.
        wire.extend(client_frame(false, 0x2, &binary[..400]));
        wire.extend(client_frame(true, 0x9, b"hb"));
        wire.extend(client_frame(false, 0x0, b""));
        wire.extend(client_frame(false, 0x0, &binary[400..900]));
        wire.extend(client_frame(true, 0x0, &binary[900..]));
        // Fragmented, first frame under the line: whole.
        wire.extend(client_frame(false, 0x1, &long_text.as_bytes()[..50]));
        wire.extend(client_frame(true, 0x0, &long_text.as_bytes()[50..]));
        // Over the line, ended by an empty final frame: an empty last part.
        wire.extend(client_frame(false, 0x1, &long_text.as_bytes()[..300]));
        wire.extend(client_frame(true, 0x0, b""));
        let expected = vec![
            (Opcode::Text, long_text.as_bytes().to_vec(), true),
            (Opcode::Binary, binary[..99].to_vec(), false),
            (Opcode::Binary, binary.clone(), true),
            (Opcode::Text, long_text.as_bytes().to_vec(), false),
            (Opcode::Text, long_text.as_bytes()[..300].to_vec(), true),
        ];
        for (seed, max_chunk) in [(1, 1), (2, 7), (3, 64), (4, 333), (5, wire.len())] {
            let mut d = Driver::new(Role::Server);
            d.session.set_parts_from(100);
            d.feed_in_chunks(&wire, &mut fastrand::Rng::with_seed(seed), max_chunk);
            assert_eq!(
                joined_messages(&d.events),
                expected,
                "chunks of {max_chunk}"
            );
            assert_eq!(error_code(&d.events), None);
            let pong = decode_output(Role::Server, &d.pending());
            assert_eq!(pong, vec![Event::Pong(Payload::Owned(b"hb".to_vec()))]);
            // Nothing of a message is held between them.
            assert!(d.session.receiving.is_none());
        }
    }

    #[test]
    fn a_text_message_in_parts_fails_where_its_utf8_does() {
        let good = "ünïcödé ".repeat(30);
        // A bad byte well inside the message.
        let mut bad = good.as_bytes().to_vec();
        bad[200] = 0xFF;
        // A character cut off by the message's end.
        let mut cut = good.as_bytes().to_vec();
        cut.extend_from_slice(&"✓".as_bytes()[..2]);
        for payload in [bad, cut] {
            for max_chunk in [1, 50, payload.len() + 8] {
                let mut d = Driver::new(Role::Server);
                d.session.set_parts_from(100);
                let wire = client_frame(true, 0x1, &payload);
                d.feed_in_chunks(&wire, &mut fastrand::Rng::with_seed(7), max_chunk);
                assert_eq!(error_code(&d.events), Some(close::INVALID_DATA));
                // What was handed over was valid so far, and never the end.
                let mut given = Vec::new();
                for event in &d.events {
                    if let Event::Part(part) = event {
                        assert!(!part.is_last());
                        given.extend_from_slice(part.as_bytes());
                    }
                }
                assert!(given.len() < payload.len());
                assert_eq!(&payload[..given.len()], &given[..]);
                let valid_up_to =
                    std::str::from_utf8(&payload).map_or_else(|e| e.valid_up_to(), str::len);
                assert!(given.len() <= valid_up_to + 3);
            }
        }
    }

    #[test]
    fn a_message_in_parts_is_held_to_the_size_limit() {
        let limits = Limits {
            max_message_size: 1000,
            max_frame_size: 1000,
        };
        // Two fragments that pass one at a time but not together.
        let mut d = Driver::with_limits(Role::Server, limits);
        d.session.set_parts_from(100);
        d.feed(&client_frame(false, 0x2, &[1; 600]));
        d.feed(&client_frame(true, 0x0, &[2; 600]));
        assert_eq!(error_code(&d.events), Some(close::TOO_BIG));
        assert!(d.events.iter().all(|e| match e {
            Event::Part(part) => !part.is_last(),
            _ => true,
        }));
        // A first frame over the limit, refused at its header.
        let mut d = Driver::with_limits(Role::Server, limits);
        d.session.set_parts_from(100);
        let mut wire = client_frame(true, 0x2, &[1; 1001]);
        wire.truncate(20);
        assert_eq!(error_code(d.feed(&wire)), Some(close::TOO_BIG));
        assert!(d.events.iter().all(|e| !matches!(e, Event::Part(_))));
    }

    #[test]
    fn a_compressed_message_comes_whole_even_when_large() {
        let params = DeflateParams::from_config(&crate::ws::deflate::DeflateConfig::default());
        let mut client = Session::with_deflate(Role::Client, Limits::default(), Some(params));
        let payload = vec![b'z'; 5000];
        let mut wire = Vec::new();
        client.send(Opcode::Binary, &payload, &mut wire).unwrap();
        let mut d = Driver::new(Role::Server);
        d.session.enable_deflate(params);
        d.session.set_parts_from(10);
        d.feed(&wire);
        assert_eq!(d.events, vec![Event::Binary(Payload::Owned(payload))]);
    }

    #[test]
    fn plain_fragment_headers_head_what_send_fragment_writes() {
        let pieces: [(&[u8], bool); 3] = [(b"first ", false), (b"", false), (b"last", true)];
        let mut by_send = Session::new(Role::Server, Limits::default());
        let mut by_header = Session::new(Role::Server, Limits::default());
        let (mut sent, mut headed) = (Vec::new(), Vec::new());
        for (payload, fin) in pieces {
            by_send
                .send_fragment(Opcode::Text, payload, fin, &mut sent)
                .unwrap();
            let (header, n) = by_header
                .plain_fragment_header(Opcode::Text, payload.len(), fin)
                .expect("a server's plain fragment");
            headed.extend_from_slice(&header[..n]);
            headed.extend_from_slice(payload);
        }
        assert_eq!(headed, sent);
        assert_eq!(decode_output(Role::Server, &sent), vec![text("first last")]);
        // Another message's fragment may not start inside this one.
        let mut s = Session::new(Role::Server, Limits::default());
        assert!(s.plain_fragment_header(Opcode::Binary, 5, false).is_some());
        assert!(s.plain_fragment_header(Opcode::Text, 5, true).is_none());
        // A client masks and a deflate session compresses: no plain header.
        let mut client = Session::new(Role::Client, Limits::default());
        assert!(client
            .plain_fragment_header(Opcode::Binary, 5, true)
            .is_none());
        let mut deflating = Session::with_deflate(
            Role::Server,
            Limits::default(),
            Some(DeflateParams::from_config(
                &crate::ws::deflate::DeflateConfig::default(),
            )),
        );
        assert!(deflating
            .plain_fragment_header(Opcode::Binary, 5, true)
            .is_none());
    }
}
