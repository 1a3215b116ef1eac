// Hidden input in an embedded terminal (no status bar): the indicator shows over the
// terminal, in a live region. A portal on another loopback origin frames the terminal as in
// embed.test.mjs; the test injects `input_mode` into the frame's session socket.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, launchBrowser, newPage, shot, signJwt, startRelay } from "./lib.mjs";

const SECRET = "browser-test-embed-secret-hidden-0123456789";
let relay;
let browser;
let portal;

before(async () => {
  const page = readFileSync(join(ROOT, "docs/examples/portal.html"));
  const server = http.createServer((req, res) => {
    if (new URL(req.url, "http://x").pathname !== "/portal.html") { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  });
  await new Promise((r) => server.listen(0, "127.0.0.2", r));
  portal = { server, origin: `http://127.0.0.2:${server.address().port}` };
  relay = await startRelay("127.0.0.1:0", {
    config: `demo = true\n[embed]\nsecret_env = "WINRELAY_TEST_EMBED_SECRET"\nframe_ancestors = ["${portal.origin}"]\n`,
    env: { WINRELAY_TEST_EMBED_SECRET: SECRET },
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await relay?.stop();
  portal?.server.close();
});

test("an embedded terminal shows hidden input over the terminal", async () => {
  const page = await newPage(browser);
  let socket;
  await page.routeWebSocket(/\/api\/sessions\/[^/]+\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => ws.send(m));
    socket = ws;
  });
  const token = signJwt({ sub: "portal-user", target: "demo", role: "writer", exp: Math.floor(Date.now() / 1000) + 300 }, SECRET);
  await page.goto(`${portal.origin}/portal.html#relay=${encodeURIComponent(relay.url)}&target=demo&token=${token}`);
  await page.waitForFunction(() => (window.portalEvents || []).some((e) => e.type === "connected"), null, { timeout: 20_000 });
  const frame = page.frames().find((f) => f.url().startsWith(relay.url));
  assert.ok(frame, "the terminal's frame");
  assert.ok(socket, "the frame's session socket is routed");
  const badge = frame.locator(".hidden-input.floating");
  assert.equal(await badge.getAttribute("role"), "status");
  assert.equal(await badge.textContent(), "");
  socket.send(JSON.stringify({ type: "input_mode", hidden: true, why: "read-host" }));
  await frame.waitForFunction(() => document.querySelector(".hidden-input.floating")?.textContent.includes("hidden input"), null, { timeout: 5_000 });
  assert.equal(await badge.textContent(), "🔒 hidden input — typing is not shown or recorded (Read-Host asked for a secure string)");
  assert.ok(await badge.isVisible());
  await shot(page, "70-embed-hidden-input");
  socket.send(JSON.stringify({ type: "input_mode", hidden: false }));
  await frame.waitForFunction(() => document.querySelector(".hidden-input.floating")?.textContent === "", null, { timeout: 5_000 });
  assert.ok(!(await badge.isVisible()));
});
