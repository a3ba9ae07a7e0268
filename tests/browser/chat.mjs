// Drives the chat page of a running `wsloop chat` with two headless
// Chromium pages: both join (with permessage-deflate), talk, one closes,
// the other sees it leave.
// Usage: node chat.mjs http://127.0.0.1:PORT/ [screenshot.png]
// For an https:// URL, WSLOOP_TLS_CERT names the server's PEM certificate:
// Chromium is told to trust that certificate's public key.
import { chromium } from "playwright-core";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, screenshot] = process.argv.slice(2);
if (!url) throw new Error("usage: node chat.mjs URL [screenshot.png]");
const STEP = 30_000;
const overall = setTimeout(() => {
  console.error("browser test: overall deadline passed");
  process.exit(1);
}, 120_000);

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-quic"];
if (process.env.WSLOOP_TLS_CERT) {
  const cert = new X509Certificate(readFileSync(process.env.WSLOOP_TLS_CERT));
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  ARGS.push(`--ignore-certificate-errors-spki-list=${createHash("sha256").update(spki).digest("base64")}`);
}
const dirs = [];

async function openPage(name) {
  const dir = mkdtempSync(join(tmpdir(), "wsloop-chromium-"));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium", args: ARGS, headless: true, timeout: STEP,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(STEP);
  page.on("pageerror", (e) => { console.error(`${name}: page error: ${e}`); process.exitCode = 1; });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected");
  await page.fill("#name", name);
  await page.click("#join");
  await page.waitForFunction((n) => [...document.querySelectorAll("#users li")]
    .some((li) => li.textContent === n), name);
  return { context, page };
}

const logHas = (page, text) => page.waitForFunction((t) =>
  [...document.querySelectorAll("#log li")].some((li) => li.textContent === t), text);
const users = (page) => page.$$eval("#users li", (lis) => lis.map((li) => li.textContent));

async function say(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
}

try {
  const alice = await openPage("alice");
  const bob = await openPage("bob");
  await alice.page.waitForFunction(() => document.querySelectorAll("#users li").length === 2);
  // Chromium offers permessage-deflate and `wsloop chat` accepts it by default.
  const extensions = await alice.page.evaluate(() => socket.extensions);
  if (!extensions.startsWith("permessage-deflate")) {
    throw new Error(`expected permessage-deflate, the page negotiated ${JSON.stringify(extensions)}`);
  }
  await say(alice.page, "hello from alice");
  await logHas(bob.page, "alice:hello from alice");
  await say(bob.page, "hi alice, bob here");
  await logHas(alice.page, "bob:hi alice, bob here");
  await logHas(alice.page, "alice:hello from alice");
  if (screenshot) await alice.page.screenshot({ path: screenshot });
  await bob.context.close();
  await logHas(alice.page, "bob left");
  const left = await users(alice.page);
  if (JSON.stringify(left) !== JSON.stringify(["alice"])) {
    throw new Error(`user list after bob left: ${JSON.stringify(left)}`);
  }
  await alice.context.close();
  console.log("browser chat test passed");
} catch (e) {
  console.error(`browser test failed: ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  clearTimeout(overall);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
