//! A plain TCP echo: the first user of the loop and the baseline every
//! WebSocket benchmark is measured against.

use crate::protocol::Protocol;
use crate::reactor::Context;

/// Writes back every byte it receives.
///
/// It follows the backpressure contract literally: when its peer stops
/// reading and the write queue rises above the high watermark, it stops
/// reading too, so TCP flow control pushes back on the sender and the memory
/// held for the connection stays near one high watermark plus one read.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpEcho;

impl Protocol for TcpEcho {
    type Shared = ();
    type Command = ();

    /// Reads of exactly the kernel's 64 KiB segments: 4 KiB more (the
    /// WebSocket default) splits a segment per read, and measured a quarter
    /// to a third more CPU per echoed byte at 64 KiB and 1 MiB messages.
    const READ_BUFFER: usize = 64 * 1024;

    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        cx.write(data);
        data.len()
    }

    /// Once the peer stops sending, finish echoing and close.
    fn eof_received(&mut self, _cx: &mut Context<'_, Self>) -> bool {
        false
    }

    fn pause_writing(&mut self, cx: &mut Context<'_, Self>) {
        cx.pause_reading();
    }

    fn resume_writing(&mut self, cx: &mut Context<'_, Self>) {
        cx.resume_reading();
    }
}
