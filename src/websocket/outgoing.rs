//! How an outgoing message gets into the write queue, in the one order
//! the wire allows: control frames the session owes first, then the
//! message's header, then its payload (copied, shared by reference, or
//! written straight through to the socket).

use bytes::Bytes;

use crate::transport::Transport;
use crate::ws::frame::MAX_HEADER_LEN;
use crate::ws::{Framed, Opcode, SendError, Session};

/// Payloads at least this large are queued by reference instead of copied
/// when they are already shared (`Bytes`); below it a copy is cheaper than
/// an extra chunk in the write queue (measured in benches/broadcast.rs).
pub(crate) const SHARE_THRESHOLD: usize = 4096;

/// A server writes payloads at least this large straight from the caller's
/// slice to the socket when nothing is queued ahead of them: copying them
/// into the write queue first costs more than giving up corking for them.
pub(crate) const WRITE_THROUGH_THRESHOLD: usize = 8192;

/// Whether a message of `len` payload bytes still fits under `cap` with
/// `queued` bytes already waiting (counting the largest frame header).
pub(crate) fn fits(queued: usize, len: usize, cap: usize) -> bool {
    queued + len + MAX_HEADER_LEN <= cap
}

/// What follows the bytes [`queue_after_pending`] copies into the queue.
pub(crate) enum Tail<'p> {
    /// Nothing: the copied bytes were the whole frame.
    None,
    /// A payload queued by reference.
    Shared(Bytes),
    /// A payload written to the socket at once (whatever the kernel does
    /// not take is queued).
    Through(&'p [u8]),
}

/// Queues the control frames the session owes the peer, then `head` (a
/// frame header, or a whole small frame), then `tail`. `None` when the
/// transport no longer takes writes.
pub(crate) fn queue_after_pending(
    session: &mut Session,
    transport: &mut Transport,
    head: &[u8],
    tail: Tail<'_>,
) -> Option<()> {
    if session.has_pending() || !head.is_empty() {
        transport.write_with(|out| {
            session.take_pending(out);
            out.extend_from_slice(head);
        })?;
    }
    match tail {
        Tail::None => {}
        Tail::Shared(payload) => transport.write_shared(payload),
        Tail::Through(payload) => transport.write_through(payload),
    }
    Some(())
}

/// Queues one message whose payload is already shared. A server writes the
/// header and then the payload by reference; a client must mask, and a
/// session that compresses must run its own compressor, so both encode
/// into the queue.
pub(crate) fn send_shared(
    session: &mut Session,
    transport: &mut Transport,
    kind: Opcode,
    payload: Bytes,
) -> Result<(), SendError> {
    if payload.len() >= SHARE_THRESHOLD {
        if let Some((header, len)) = session.plain_frame_header(kind, payload.len()) {
            let _ = queue_after_pending(session, transport, &header[..len], Tail::Shared(payload));
            return Ok(());
        }
    }
    transport
        .write_with(|out| session.send(kind, &payload, out))
        .unwrap_or(Err(SendError::Closed))
}

/// Queues one message borrowed from the caller. Large server payloads are
/// written through; everything else (small payloads, client role, a
/// payload to compress, or an error that `Session::send` reports) is
/// encoded into the queue.
///
/// It and the steps below it (`Transport::write_with`, the queue's
/// `append_with`, `Session::send`, `write_frame`, the header's `write_to`)
/// are inlined into `WebSocket::send`: that took 111 of the 868
/// instructions a message off at 1 KiB x P16 (callgrind,
/// `scripts/profile.sh`).
#[inline]
pub(crate) fn send_borrowed(
    session: &mut Session,
    transport: &mut Transport,
    kind: Opcode,
    payload: &[u8],
) -> Result<(), SendError> {
    let header = (payload.len() >= WRITE_THROUGH_THRESHOLD)
        .then(|| session.plain_frame_header(kind, payload.len()))
        .flatten();
    let result = match header {
        Some((header, len)) => {
            queue_after_pending(session, transport, &header[..len], Tail::Through(payload)).map(Ok)
        }
        None => transport.write_with(|out| session.send(kind, payload, out)),
    };
    result.unwrap_or(Err(SendError::Closed))
}

/// Queues one fragment of a message borrowed from the caller, as
/// [`send_borrowed`] does a whole message: a large fragment of a server's
/// plain message is written through, anything else encoded into the queue
/// by the session. `lendable` says the payload lies in the buffer being
/// read (a message part sent on as it came): then a plain fragment's
/// header is queued and its payload lent ([`Transport::lend`]), so the
/// fragments of one read go out together in one write when the read's
/// bytes have been handled, the raw echo's one write per read. Returns
/// whether the payload was lent.
pub(crate) fn send_fragment(
    session: &mut Session,
    transport: &mut Transport,
    kind: Opcode,
    payload: &[u8],
    fin: bool,
    lendable: bool,
) -> Result<bool, SendError> {
    let lend = lendable && !payload.is_empty() && transport.can_lend();
    let header = (lend || payload.len() >= WRITE_THROUGH_THRESHOLD)
        .then(|| session.plain_fragment_header(kind, payload.len(), fin))
        .flatten();
    let result = match header {
        Some((header, len)) if lend => {
            queue_after_pending(session, transport, &header[..len], Tail::None).map(|()| {
                transport.lend(payload.as_ptr() as usize, payload.len());
                Ok(true)
            })
        }
        Some((header, len)) => {
            let through = Tail::Through(payload);
            queue_after_pending(session, transport, &header[..len], through).map(|()| Ok(false))
        }
        None => transport
            .write_with(|out| session.send_fragment(kind, payload, fin, out))
            .map(|sent| sent.map(|()| false)),
    };
    result.unwrap_or(Err(SendError::Closed))
}

/// Sends a received message back unchanged when the session framed it in
/// place (`Session::read_whole_framed`): the frame is lent to the transport
/// from the read buffer, and only the control frames the session owes go
/// ahead of it through the queue. `false`, with nothing sent, when
/// [`send_borrowed`] must do it: the transport cannot lend (TLS, closing),
/// or the session would not send the message as framed (closing, a
/// fragmented send under way, a message to compress).
#[inline]
pub(crate) fn send_framed(
    session: &mut Session,
    transport: &mut Transport,
    framed: Framed,
) -> bool {
    // The header in place was right when the message was read; the session
    // may have changed since (a close, a fragment begun), so its checks
    // are made again.
    if !session.sends_plain(framed.opcode(), framed.len()) || !transport.can_lend() {
        return false;
    }
    if session.has_pending() {
        let _ = transport.write_with(|out| session.take_pending(out));
    }
    transport.lend(framed.frame_at(), framed.frame_len());
    true
}
