//! Runs `tests/browser/chat.mjs` (two headless Chromium pages on the chat
//! page, driven by playwright-core) against a chat server's URL.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the script against `url` with extra environment `env`; panics
/// unless it reports success. Needs `/usr/bin/chromium` and `npm ci` in
/// `tests/browser` (scripts/test.sh sees to both).
pub fn run_chat_script(url: &str, env: &[(&str, &str)]) {
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
        .arg(url)
        .envs(env.iter().copied())
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
    assert!(status.success(), "browser test failed: {out}");
    assert!(out.contains("browser chat test passed"), "{out}");
}
