//! The chat page over `https://` and `wss://` in headless Chromium, which
//! trusts the test certificate by its public key's hash
//! (`--ignore-certificate-errors-spki-list`, set by `tests/browser/chat.mjs`
//! from `WSLOOP_TLS_CERT`): the page, its WebSocket and the browser's TLS
//! all go through our TLS layer.

mod common;

use common::browser::run_chat_script;
use common::tls::TestPki;

#[test]
fn the_chat_page_works_over_https_and_wss() {
    let pki = TestPki::new();
    let cert = pki.cert_path().display().to_string();
    let (server, addr) = pki.wsloop("chat", &[]);
    run_chat_script(&format!("https://{addr}/"), &[("WSLOOP_TLS_CERT", &cert)]);
    drop(server);
}
