//! The chat page in a real browser: `tests/browser/chat.mjs` drives two
//! headless Chromium pages (playwright-core) against a `wsloop chat`
//! process. Needs `/usr/bin/chromium` and `npm ci` in `tests/browser`
//! (scripts/test.sh sees to both); without them this test fails.

mod common;

use common::browser::run_chat_script;
use common::process::Process;

#[test]
fn two_browser_pages_chat_and_see_each_other_leave() {
    let (server, addr) = Process::wsloop(&["chat", "--addr", "127.0.0.1:0"]);
    run_chat_script(&format!("http://{addr}/"), &[]);
    drop(server);
}
