//! The permessage-deflate negotiation: `server_accept` and `client_accept`
//! on arbitrary `Sec-WebSocket-Extensions` values, and on real offers.
//!
//! Bytes 0-3 pick a server and a client configuration; the rest, cut at
//! each newline, is a list of header values. Neither side may panic on
//! any of it. Whatever the server accepts renders an answer that parses
//! again to one permessage-deflate extension, with windows of 8 to 15
//! bits. And for the offer our own client renders from its configuration,
//! the server always agrees, and the client accepts the answer with the
//! same parameters the server settled on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::ws::deflate::{self, DeflateConfig, DeflateParams};
use wsloop::ws::extension::ExtensionParams;
use wsloop_fuzz::chunks;

fuzz_target!(|data: &[u8]| {
    let (head, rest) = chunks::header::<4>(data);
    let server = config_from(head[0], head[1]);
    let client = config_from(head[2], head[3]);
    let text = String::from_utf8_lossy(rest);
    let values: Vec<&str> = text.split('\n').collect();

    if let Ok(Some(agreement)) = deflate::server_accept(values.iter().copied(), &server) {
        let answer =
            ExtensionParams::parse_list([agreement.response.as_bytes()]).expect("answer parses");
        assert_eq!(answer.len(), 1, "{}", agreement.response);
        assert_eq!(answer[0].name, "permessage-deflate");
        assert_windows(&agreement.params);
    }
    if let Ok(Some(params)) = deflate::client_accept(values.iter().copied(), &client) {
        assert_windows(&params);
    }

    let offer = deflate::client_offer(&client).expect("an enabled client offers");
    let agreement = deflate::server_accept([offer.as_str()], &server)
        .expect("our offer parses")
        .expect("every offer of ours is acceptable");
    let params = deflate::client_accept([agreement.response.as_str()], &client)
        .unwrap_or_else(|e| panic!("client refuses {:?} to {offer:?}: {e}", agreement.response))
        .expect("the answer names the extension");
    assert_eq!(
        negotiated(&params),
        negotiated(&agreement.params),
        "{offer:?}"
    );
});

/// Byte `a`: level (0-9), the context flags (bits 4, 5); byte `b`: the two
/// windows (8 + 3 bits each) and the memory level.
fn config_from(a: u8, b: u8) -> DeflateConfig {
    DeflateConfig {
        enabled: true,
        level: (a & 15) % 10,
        mem_level: 1 + (b >> 6) * 2,
        server_max_window_bits: 8 + (b & 7),
        client_max_window_bits: 8 + ((b >> 3) & 7),
        server_no_context_takeover: a & 16 != 0,
        client_no_context_takeover: a & 32 != 0,
        min_size: 64,
        ..DeflateConfig::default()
    }
}

fn assert_windows(params: &DeflateParams) {
    assert!(
        (8..=15).contains(&params.server_max_window_bits),
        "{params:?}"
    );
    assert!(
        (8..=15).contains(&params.client_max_window_bits),
        "{params:?}"
    );
}

/// What both ends must agree on (level and memory are each side's own).
fn negotiated(p: &DeflateParams) -> (bool, bool, u8, u8) {
    (
        p.server_no_context_takeover,
        p.client_no_context_takeover,
        p.server_max_window_bits,
        p.client_max_window_bits,
    )
}
