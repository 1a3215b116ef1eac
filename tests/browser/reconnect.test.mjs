// Network drops and relay restarts: the page says what happened and recovers on its own.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  hasLine, launchBrowser, newPage, openDemo, run, shot, signInAndOpenDemo, startProxy, startRelay,
  waitForScreen,
} from "./lib.mjs";

let relay;
let proxy;
let browser;
let first;
before(async () => {
  relay = await startRelay();
  proxy = await startProxy(relay.port);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.close();
  await relay?.stop();
});

const count = (text, line) => text.split("\n").filter((l) => l.trim() === line).length;

test("a network drop: the page says so, reconnects and resumes without losing or repeating output", async () => {
  const page = await newPage(browser);
  first = page;
  const base = `http://127.0.0.1:${proxy.port}`;
  const id = await signInAndOpenDemo(page, relay, base);
  await run(page, "echo before-drop");
  await waitForScreen(page, hasLine("before-drop"), "output before the drop");

  await proxy.cut();
  await page.locator('.statusbar [data-link="retrying"]').waitFor({ timeout: 10_000 });
  assert.match(await page.locator(".statusbar").innerText(), /disconnected.*retrying/i);
  await shot(page, "20-network-drop");

  await proxy.restore();
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 20_000 });
  assert.equal(new URL(page.url()).pathname, `/s/${id}`, "still the same session");
  await run(page, "echo after-drop");
  const text = await waitForScreen(page, hasLine("after-drop"), "output after the drop");
  assert.equal(count(text, "before-drop"), 1, `earlier output exactly once:\n${text}`);
  await shot(page, "21-network-restored");
});

test("a relay restart: the page says the relay is gone, then what to do when it is back", async () => {
  // Same browser context as the first test: the one-time login link is already used.
  const page = await first.context().newPage();
  page.errors = [];
  const oldId = await openDemo(page, relay.url);
  await run(page, "echo before-restart");
  await waitForScreen(page, hasLine("before-restart"), "output before the restart");

  const port = relay.port;
  await relay.stop();
  await page.locator('.statusbar [data-link="retrying"]').waitFor({ timeout: 10_000 });
  assert.match(await page.locator(".statusbar").innerText(), /cannot be reached|lost/i);
  await shot(page, "22-relay-stopped");

  // The same state directory: sign-ins survive the restart.
  relay = await startRelay(`127.0.0.1:${port}`, { stateDir: relay.dir });
  // Sessions end with the relay (SIGTERM deletes every WinRS shell): the page must say so on
  // its own (no reload, no endless spinning) and offer a new shell on the same target,
  // still signed in.
  await page.locator('.statusbar [data-link="closed"]').waitFor({ timeout: 30_000 });
  const status = await page.locator(".statusbar").innerText();
  assert.match(status, /no longer exists/i, status);
  const lost = page.locator(".overlay.lost");
  await lost.waitFor();
  assert.match(await lost.innerText(), /no longer exists/);
  await shot(page, "23-relay-restarted");
  await lost.locator(".new-shell").click();
  await page.waitForURL((u) => /\/s\/[^/?]+/.test(u.pathname) && !u.pathname.endsWith(oldId));
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await run(page, "echo after-restart");
  await waitForScreen(page, hasLine("after-restart"), "output after the restart");
  await shot(page, "24-relay-restarted-new-shell");
  await page.context().close();
});
