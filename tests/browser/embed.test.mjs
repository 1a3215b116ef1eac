// A portal on another loopback origin embeds the terminal (docs/examples/portal.html), opens
// a shell with an embed token and receives the postMessage events; commands from any other
// origin are ignored.
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
let evil;

/** A static server on `host`: `pages` maps paths to HTML. */
async function serve(host, pages) {
  const server = http.createServer((req, res) => {
    const page = pages[new URL(req.url, "http://x").pathname];
    if (!page) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  });
  await new Promise((r) => server.listen(0, host, r));
  return { server, origin: `http://${host}:${server.address().port}` };
}

before(async () => {
  portal = await serve("127.0.0.2", {
    "/portal.html": readFileSync(join(ROOT, "docs/examples/portal.html")),
  });
  // Another site, framed inside the portal page: it tries to command the terminal.
  evil = await serve("127.0.0.3", {
    "/evil.html": `<!doctype html><script>
      for (const cmd of [{ type: "theme", theme: "light" }, { type: "fontSize", size: 30 }, { type: "token", token: "forged" }])
        parent.frames[0].postMessage(Object.assign({ target: "winrelay" }, cmd), "*");
      document.title = "sent";
    </script>`,
  });
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
  evil?.server.close();
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

test("a portal on another origin embeds a shell and gets ready, connected, exited{code}", async () => {
  const page = await newPage(browser);
  const token = signJwt({ sub: "portal-user", target: "demo", role: "writer", exp: Math.floor(Date.now() / 1000) + 300 }, SECRET);
  await page.goto(`${portal.origin}/portal.html#relay=${encodeURIComponent(relay.url)}&target=demo&token=${token}&theme=dark&fontSize=15`);
  await waitForEvent(page, (e) => e.type === "ready", "ready");
  const connected = await waitForEvent(page, (e) => e.type === "connected", "connected");
  assert.equal(connected.source, "winrelay");
  assert.equal(connected.target, "demo");
  assert.equal(connected.role, "owner");
  assert.match(connected.session, /\S+/);
  const types = (await events(page)).map((e) => e.type);
  assert.deepEqual(types.slice(0, 2), ["ready", "connected"]);

  const frame = page.frames().find((f) => f.url().startsWith(relay.url));
  assert.ok(frame, "the terminal's frame");
  // The token was read from the fragment and taken out of the frame's address.
  assert.ok(!frame.url().includes(token) && !frame.url().includes("embed_token"), frame.url());
  assert.equal(new URL(frame.url()).pathname, `/embed/s/${connected.session}`);
  // No chrome: no top bar and no status bar; the look comes from the query.
  assert.equal(await frame.locator(".topbar").count(), 0);
  assert.equal(await frame.locator(".statusbar").count(), 0);
  assert.equal(await frame.getAttribute("html", "data-theme"), "dark");
  await shot(page, "40-embed-portal");

  // Commands from another origin (a frame of another site inside the portal) do nothing.
  await page.evaluate((src) => {
    const f = document.createElement("iframe");
    f.src = src;
    document.body.appendChild(f);
  }, `${evil.origin}/evil.html`);
  await page.frameLocator(`iframe[src^="${evil.origin}"]`).locator("html").waitFor({ state: "attached" });
  await page.waitForFunction((o) => [...document.querySelectorAll("iframe")].some((f) => f.src.startsWith(o)), evil.origin);
  const evilFrame = page.frames().find((f) => f.url().startsWith(evil.origin));
  await evilFrame.waitForFunction(() => document.title === "sent");
  await page.waitForTimeout(500);
  assert.equal(await frame.getAttribute("html", "data-theme"), "dark", "a command from another origin is ignored");

  // The portal's own commands work.
  await page.evaluate(() => window.sendCommand({ type: "theme", theme: "light" }));
  await frame.waitForFunction(() => document.documentElement.dataset.theme === "light");
  await page.evaluate(() => window.sendCommand({ type: "focus" }));

  // Typing in the embedded terminal; the shell's exit code reaches the portal.
  await frame.locator(".term .xterm").click();
  await page.keyboard.type("exit 5", { delay: 5 });
  await page.keyboard.press("Enter");
  const exited = await waitForEvent(page, (e) => e.type === "exited", "exited");
  assert.equal(exited.code, 5);
  assert.match(await page.locator("#status").innerText(), /exit code 5/);
  await shot(page, "41-embed-exited");
  assert.ok(!(await events(page)).some((e) => e.type === "error"), JSON.stringify(await events(page)));
  await page.context().close();
});

test("a forged token is refused and the portal gets an error event", async () => {
  const page = await newPage(browser);
  const token = signJwt({ sub: "mallory", target: "demo", role: "writer", exp: Math.floor(Date.now() / 1000) + 300 }, "not-the-secret-not-the-secret-not-the-secret");
  await page.goto(`${portal.origin}/portal.html#relay=${encodeURIComponent(relay.url)}&target=demo&token=${token}`);
  await waitForEvent(page, (e) => e.type === "ready", "ready");
  const err = await waitForEvent(page, (e) => e.type === "error", "error");
  assert.ok(err.message.length > 5, err.message);
  assert.ok(!(await events(page)).some((e) => e.type === "connected"));
  await shot(page, "42-embed-forged-token");
  await page.context().close();
});

test("the embed page outside a frame, or for a host the relay does not list, posts nothing and says why", async () => {
  const page = await newPage(browser);
  await page.goto(`${relay.url}/embed/open/demo?parent=${encodeURIComponent(portal.origin)}#embed_token=x`);
  await page.locator(".embed-error").waitFor({ timeout: 20_000 });
  assert.match(await page.locator(".embed-error").innerText(), /iframe/);
  await page.context().close();
});
