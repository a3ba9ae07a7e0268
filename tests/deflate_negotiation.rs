//! permessage-deflate negotiation (RFC 7692 section 7.1): header parsing,
//! the server's choice among offers, and the client's check of the answer.

use wsloop::ws::deflate::{
    client_accept, client_offer, parse_extensions, server_accept, DeflateConfig, DeflateParams,
    ServerAgreement,
};
use wsloop::ws::Role;

fn accept(offer: &str) -> Option<ServerAgreement> {
    server_accept([offer], &DeflateConfig::default()).unwrap()
}

fn accept_with(offer: &str, config: &DeflateConfig) -> Option<ServerAgreement> {
    server_accept([offer], config).unwrap()
}

fn response(offer: &str) -> Option<String> {
    accept(offer).map(|a| a.response)
}

#[test]
fn parses_lists_parameters_and_quoted_values() {
    let list = parse_extensions(
        " permessage-deflate ; client_max_window_bits; server_max_window_bits=\"10\" ,, x-foo;a=b , PerMessage-Deflate",
    )
    .unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0].name, "permessage-deflate");
    assert_eq!(
        list[0].params,
        vec![
            ("client_max_window_bits".to_string(), None),
            ("server_max_window_bits".to_string(), Some("10".to_string())),
        ]
    );
    assert_eq!(list[1].name, "x-foo");
    assert_eq!(list[2].name, "permessage-deflate");
    assert!(list[2].params.is_empty());
    assert!(parse_extensions("").unwrap().is_empty());
}

#[test]
fn malformed_header_values_are_errors() {
    for bad in [
        "permessage-deflate; ",
        "permessage-deflate;=1",
        "permessage-deflate; a=",
        "permessage-deflate; a=\"unterminated",
        "permessage-deflate; a=\"two words\"",
        "permessage-deflate; a=\"\"",
        "permessage-deflate x",
        "; a",
        "permessage-deflate; a=b c",
    ] {
        assert!(parse_extensions(bad).is_err(), "{bad:?}");
        assert!(
            server_accept([bad], &DeflateConfig::default()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn plain_offer_gets_plain_answer_and_defaults() {
    let a = accept("permessage-deflate").unwrap();
    assert_eq!(a.response, "permessage-deflate");
    let p = a.params;
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (15, 15)
    );
    assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
    // A bare client_max_window_bits only says the client supports it.
    assert_eq!(
        response("permessage-deflate; client_max_window_bits").unwrap(),
        "permessage-deflate"
    );
}

#[test]
fn each_parameter_of_an_offer() {
    assert_eq!(
        response("permessage-deflate; server_no_context_takeover").unwrap(),
        "permessage-deflate; server_no_context_takeover"
    );
    let a = accept("permessage-deflate; client_no_context_takeover").unwrap();
    assert_eq!(a.response, "permessage-deflate; client_no_context_takeover");
    assert!(a.params.recv_no_context_takeover(Role::Server));
    assert!(!a.params.send_no_context_takeover(Role::Server));

    for bits in 8..=15u8 {
        let a = accept(&format!(
            "permessage-deflate; server_max_window_bits={bits}"
        ))
        .unwrap();
        assert_eq!(
            a.response,
            format!("permessage-deflate; server_max_window_bits={bits}")
        );
        assert_eq!(a.params.send_window_bits(Role::Server), bits);
        assert_eq!(a.params.recv_window_bits(Role::Server), 15);

        let a = accept(&format!(
            "permessage-deflate; client_max_window_bits={bits}"
        ))
        .unwrap();
        assert_eq!(a.params.recv_window_bits(Role::Server), bits);
        assert_eq!(a.params.send_window_bits(Role::Client), bits);
    }
    // A quoted value is the same value.
    assert_eq!(
        accept("permessage-deflate; server_max_window_bits=\"9\"")
            .unwrap()
            .params
            .server_max_window_bits,
        9
    );
}

#[test]
fn invalid_or_duplicate_parameters_decline_the_offer() {
    for offer in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=255",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; unknown_param",
        "permessage-deflate; x=1",
    ] {
        assert_eq!(accept(offer), None, "{offer:?}");
    }
}

#[test]
fn first_acceptable_offer_wins() {
    // Autobahn 13.7's shape: three offers, the first acceptable is used.
    let a = accept(
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=8, \
         permessage-deflate; client_no_context_takeover, permessage-deflate",
    )
    .unwrap();
    assert_eq!(
        a.response,
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=8"
    );
    // A bad first offer is skipped, not fatal; other extensions are ignored.
    let a = accept(
        "x-webkit-deflate-frame, permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10",
    )
    .unwrap();
    assert_eq!(a.response, "permessage-deflate; server_max_window_bits=10");
    // Offers spread over several header lines count in order.
    let a = server_accept(
        ["x-foo", "permessage-deflate; server_no_context_takeover"],
        &DeflateConfig::default(),
    )
    .unwrap()
    .unwrap();
    assert!(a.params.server_no_context_takeover);
    assert_eq!(accept("x-foo, x-bar"), None);
}

#[test]
fn server_settings_shape_the_answer() {
    let config = DeflateConfig {
        server_max_window_bits: 10,
        client_max_window_bits: 11,
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    // The client did not mention client_max_window_bits: the server must
    // not ask for it, and receives with a full window.
    let a = accept_with("permessage-deflate", &config).unwrap();
    assert_eq!(
        a.response,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10"
    );
    assert_eq!(a.params.recv_window_bits(Role::Server), 15);
    // It did: the server asks for its own smaller value.
    let a = accept_with(
        "permessage-deflate; client_max_window_bits; server_max_window_bits=12",
        &config,
    )
    .unwrap();
    assert!(a
        .response
        .ends_with("server_max_window_bits=10; client_max_window_bits=11"));
    assert_eq!(a.params.client_max_window_bits, 11);
    // A client asking for less than the server's limit gets it.
    let a = accept_with("permessage-deflate; server_max_window_bits=8", &config).unwrap();
    assert_eq!(a.params.server_max_window_bits, 8);
    // Disabled: nothing is accepted, but a malformed header is still an error.
    let off = DeflateConfig {
        enabled: false,
        ..DeflateConfig::default()
    };
    assert_eq!(accept_with("permessage-deflate", &off), None);
    assert!(server_accept(["permessage-deflate;"], &off).is_err());
}

#[test]
fn client_offer_renders_settings() {
    let config = DeflateConfig::default();
    assert_eq!(
        client_offer(&config).unwrap(),
        "permessage-deflate; client_max_window_bits"
    );
    let config = DeflateConfig {
        server_max_window_bits: 12,
        client_max_window_bits: 10,
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let offer = client_offer(&config).unwrap();
    assert_eq!(
        offer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=12; client_max_window_bits=10"
    );
    // Our own server takes our own offer as is.
    let agreed = accept_with(&offer, &DeflateConfig::default()).unwrap();
    let back = client_accept([agreed.response.as_str()], &config)
        .unwrap()
        .unwrap();
    assert_eq!(
        (back.server_max_window_bits, back.client_max_window_bits),
        (12, 10)
    );
    assert!(back.server_no_context_takeover && back.client_no_context_takeover);
    let off = DeflateConfig {
        enabled: false,
        ..DeflateConfig::default()
    };
    assert_eq!(client_offer(&off), None);
}

#[test]
fn client_accepts_valid_answers() {
    let config = DeflateConfig::default();
    assert_eq!(client_accept([], &config).unwrap(), None);
    let p = client_accept(["permessage-deflate"], &config)
        .unwrap()
        .unwrap();
    assert_eq!(p, DeflateParams::from_config(&config));
    // The server may add its own window and context rules, and ask us for
    // a smaller window since we said we support it.
    let p = client_accept(
        [
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
          server_max_window_bits=9; client_max_window_bits=8",
        ],
        &config,
    )
    .unwrap()
    .unwrap();
    assert!(p.recv_no_context_takeover(Role::Client) && p.send_no_context_takeover(Role::Client));
    assert_eq!(p.recv_window_bits(Role::Client), 9);
    assert_eq!(p.send_window_bits(Role::Client), 8);
}

#[test]
fn client_fails_unacceptable_answers() {
    let plain = DeflateConfig::default();
    let asking = DeflateConfig {
        server_max_window_bits: 10,
        client_max_window_bits: 12,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let fails = |answer: &str, config: &DeflateConfig| client_accept([answer], config).is_err();
    // Not what we offered, or more than one.
    assert!(fails("x-foo", &plain));
    assert!(fails("permessage-deflate, permessage-deflate", &plain));
    assert!(client_accept(["permessage-deflate", "permessage-deflate"], &plain).is_err());
    // Bad, unknown or duplicate parameters.
    assert!(fails("permessage-deflate; foo", &plain));
    assert!(fails(
        "permessage-deflate; server_max_window_bits=16",
        &plain
    ));
    assert!(fails("permessage-deflate; server_max_window_bits", &plain));
    assert!(fails(
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        &plain
    ));
    // client_max_window_bits must carry a value in an answer.
    assert!(fails("permessage-deflate; client_max_window_bits", &plain));
    // What we asked for was not honoured.
    let ok = "permessage-deflate; server_no_context_takeover; server_max_window_bits=10";
    assert!(client_accept([ok], &asking).unwrap().is_some());
    assert!(fails(
        "permessage-deflate; server_max_window_bits=10",
        &asking
    ));
    assert!(fails(
        "permessage-deflate; server_no_context_takeover",
        &asking
    ));
    assert!(fails(
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
        &asking
    ));
    assert!(fails(
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
         client_max_window_bits=13",
        &asking
    ));
    // Disabled clients offered nothing, so any acceptance is wrong.
    let off = DeflateConfig {
        enabled: false,
        ..DeflateConfig::default()
    };
    assert!(fails("permessage-deflate", &off));
}

#[test]
fn config_validation() {
    assert!(DeflateConfig::default().validate().is_ok());
    for bad in [
        DeflateConfig {
            level: 10,
            ..DeflateConfig::default()
        },
        DeflateConfig {
            mem_level: 0,
            ..DeflateConfig::default()
        },
        DeflateConfig {
            server_max_window_bits: 7,
            ..DeflateConfig::default()
        },
        DeflateConfig {
            client_max_window_bits: 16,
            ..DeflateConfig::default()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn parsed_offers_and_answers_from_the_handshake() {
    // The handshake's own parser hands over parameter lists.
    let list = wsloop::ws::ExtensionParams::parse_list([
        &b"permessage-deflate; bogus, permessage-deflate; server_max_window_bits=9"[..],
    ])
    .unwrap();
    let config = DeflateConfig::default();
    let agreed =
        wsloop::ws::deflate::accept_offer_params(list.iter().map(|e| e.params.as_slice()), &config)
            .unwrap();
    assert_eq!(
        agreed.response,
        "permessage-deflate; server_max_window_bits=9"
    );
    let answer = wsloop::ws::ExtensionParams::parse_list([agreed.response.as_bytes()]).unwrap();
    let p = wsloop::ws::deflate::check_answer_params(&answer[0].params, &config).unwrap();
    assert_eq!(p.server_max_window_bits, 9);
}
