//! The chat page in a real browser: `tests/browser/chat.mjs` drives two
//! headless Chromium pages (playwright-core) against a `wsloop chat`
//! process. Needs `/usr/bin/chromium` and `npm ci` in `tests/browser`
//! (scripts/test.sh sees to both); without them this test fails.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::Process;

#[test]
fn two_browser_pages_chat_and_see_each_other_leave() {
    let (server, addr) = Process::wsloop(&["chat", "--addr", "127.0.0.1:0"]);

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing (scripts/test.sh installs it)"
    );
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "run `npm ci` in tests/browser (scripts/test.sh does)"
    );
    let mut node = Command::new("node")
        .arg(dir.join("chat.mjs"))
        .arg(format!("http://{addr}/"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is needed for the browser test");
    // The script bounds itself at 120 s; this bounds the script.
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("the browser script did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut node.stdout.take().unwrap(), &mut out).unwrap();
    drop(server);
    assert!(status.success(), "browser test failed: {out}");
    assert!(out.contains("browser chat test passed"), "{out}");
}
