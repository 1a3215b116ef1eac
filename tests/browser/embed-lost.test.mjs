// The embed page tells its host page when the session is lost for good: here the relay
// restarts (sessions live in its memory), so the reconnect finds no session. The page follows
// its connection's state to say so (one `error` event), as it says `connected` again on a
// reconnect.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, launchBrowser, newPage, shot, signJwt, startRelay } from "./lib.mjs";

const SECRET = "browser-test-embed-secret-0123456789abcdef";
let relay;
let browser;
let portal;
let config;

before(async () => {
  portal = await new Promise((resolve) => {
    const page = readFileSync(join(ROOT, "docs/examples/portal.html"));
    const server = http.createServer((req, res) => {
      if (new URL(req.url, "http://x").pathname !== "/portal.html") { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(page);
    });
    server.listen(0, "127.0.0.2", () => resolve({ server, origin: `http://127.0.0.2:${server.address().port}` }));
  });
  config = {
    config: `demo = true\n[embed]\nsecret_env = "WINRELAY_TEST_EMBED_SECRET"\nframe_ancestors = ["${portal.origin}"]\n`,
    env: { WINRELAY_TEST_EMBED_SECRET: SECRET },
  };
  relay = await startRelay("127.0.0.1:0", config);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await relay?.stop();
  portal?.server.close();
});

const events = (page) => page.evaluate(() => window.portalEvents.map((e) => ({ ...e })));
async function waitForEvent(page, pred, what, timeout = 20_000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    const ev = (await events(page)).find(pred);
    if (ev) return ev;
    await page.waitForTimeout(100);
  }
  throw new Error(`the portal never got ${what}; it got ${JSON.stringify(await events(page))}\n${page.errors.join("\n")}`);
}

test("after a relay restart the portal gets one error event: the session no longer exists", async () => {
  const page = await newPage(browser);
  const token = signJwt({ sub: "portal-user", target: "demo", role: "writer", exp: Math.floor(Date.now() / 1000) + 600 }, SECRET);
  await page.goto(`${portal.origin}/portal.html#relay=${encodeURIComponent(relay.url)}&target=demo&token=${token}`);
  const connected = await waitForEvent(page, (e) => e.type === "connected", "connected");

  const port = relay.port;
  await relay.stop();
  relay = await startRelay(`127.0.0.1:${port}`, config);

  const err = await waitForEvent(page, (e) => e.type === "error", "an error", 40_000);
  assert.match(err.message, /no longer exists/, err.message);
  await page.waitForTimeout(1_000);
  const all = await events(page);
  assert.equal(all.filter((e) => e.type === "error").length, 1, JSON.stringify(all));
  assert.equal(all.filter((e) => e.type === "connected").length, 1, JSON.stringify(all));
  assert.ok(!all.some((e) => e.type === "exited"), JSON.stringify(all));
  const frame = page.frames().find((f) => f.url().startsWith(relay.url));
  assert.equal(new URL(frame.url()).pathname, `/embed/s/${connected.session}`);
  await shot(page, "43-embed-session-lost");
  // The browser itself logs the refused WebSocket handshake; the app logs nothing.
  assert.deepEqual(page.errors.filter((e) => !/^WebSocket connection to .* failed/.test(e)), []);
  await page.context().close();
});
