//! The server side of the WebSocket session: arbitrary bytes from the peer,
//! in arbitrary pieces. See `wsloop_fuzz::session` for the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::Role;

fuzz_target!(|data: &[u8]| wsloop_fuzz::session::check(Role::Server, data));
