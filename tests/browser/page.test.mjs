// The page loads from the real relay, the wasm starts, and the terminal fills the window.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, screenText, shot, startRelay, waitForScreen } from "./lib.mjs";

let relay;
let browser;
before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

test("page loads, wasm starts, terminal fills the window and says how to sign in", async () => {
  const page = await newPage(browser);
  const resp = await page.goto(relay.url + "/?renderer=dom");
  assert.equal(resp.status(), 200);
  // Only the wasm app creates this element; the static page has just "Starting winrelay…".
  await page.locator('.app[data-wasm="started"]').waitFor({ timeout: 20_000 });
  await page.locator(".term .xterm-rows").waitFor();
  assert.equal(await page.locator("#boot").count(), 0, "the app removes the boot message");
  // Not signed in: the terminal itself says what to do.
  const text = await waitForScreen(page, (t) => t.includes("not signed in"), "the sign-in hint");
  assert.match(text, /winrelay serve/);
  await page.locator(".picker .signin-error").waitFor();
  assert.equal(await page.getAttribute(".app", "data-renderer"), "dom");

  const box = await page.locator(".term .xterm-screen").boundingBox();
  assert.ok(box.width > 900 && box.height > 500, `terminal fills the window: ${JSON.stringify(box)}`);
  const before = (await screenText(page)).split("\n").length;
  await shot(page, "01-page-loads-signed-out");

  // The fit addon follows the window.
  await page.setViewportSize({ width: 700, height: 400 });
  await page.waitForFunction((n) => document.querySelectorAll(".xterm-rows > div").length < n, before, { timeout: 5_000 });
  const small = await page.locator(".term .xterm-screen").boundingBox();
  assert.ok(small.width < 700 && small.width > 600, `terminal follows the window: ${JSON.stringify(small)}`);
  await shot(page, "02-page-resized");
  assert.deepEqual(page.errors, []);
});

test("assets are content-hashed and cached immutably; index.html is not cached", async () => {
  const index = await fetch(relay.url + "/s/whatever");
  assert.equal(index.status, 200);
  assert.equal(index.headers.get("cache-control"), "no-cache");
  const html = await index.text();
  const wasm = html.match(/\/assets\/winrelay-[0-9a-f]{8}_bg\.wasm/);
  const js = html.match(/\/assets\/boot-[0-9a-f]{8}\.js/);
  assert.ok(wasm && js, "index.html names hashed assets");
  const w = await fetch(relay.url + wasm[0]);
  assert.equal(w.headers.get("content-type"), "application/wasm");
  assert.match(w.headers.get("cache-control"), /immutable/);
});
