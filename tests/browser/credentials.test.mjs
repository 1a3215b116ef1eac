// A target that asks the person for credentials (`ask_credentials = true`): wrong ones are
// refused with a clear message and asked again, never stored; right ones open a shell. Then the
// WebGL renderer losing its context falls back to the DOM renderer and keeps showing output.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hasLine, launchBrowser, newPage, run, shot, startRelay, startSim, waitForScreen } from "./lib.mjs";

const SIM_USER = "svc-ask";
const RIGHT = "right-horse-battery-60";
const WRONG = "wrong-staple-61";

let sim;
let relay;
let browser;
let page;
let sessionId;

before(async () => {
  sim = await startSim(SIM_USER, RIGHT);
  relay = await startRelay("127.0.0.1:0", {
    config: `
[[target]]
name = "ask"
description = "asks who connects"
endpoint = "${sim.endpoint}"
ask_credentials = true
pin = "${sim.fingerprint}"
`,
  });
  browser = await launchBrowser();
  page = await newPage(browser);
  const login = new URL(relay.login);
  await page.goto(new URL(login.pathname + login.search, relay.url).href);
  await page.waitForURL((u) => u.pathname === "/");
});
after(async () => {
  await browser?.close();
  await relay?.stop();
  await sim?.stop();
});

/** Everything the page keeps between loads: no password may be in there. */
async function storedState(p) {
  const storage = await p.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } }));
  const cookies = JSON.stringify(await p.context().cookies());
  return `${p.url()}\n${storage}\n${cookies}`;
}

test("a target that asks for credentials: a wrong password is refused and asked again, the right one opens a shell", async () => {
  await page.goto(relay.url + "/?renderer=dom");
  const row = page.locator('.targets li[data-target="ask"]');
  await row.waitFor({ timeout: 15_000 });
  await row.locator(".open").click();
  // The picker asks right below the target's row.
  const form = page.locator(".targets form");
  await form.waitFor();
  await form.locator('input[autocomplete="username"]').fill(SIM_USER);
  await form.locator('input[type="password"]').fill(WRONG);
  await shot(page, "60-credentials-asked");
  await form.locator('button[type="submit"]').click();

  // Refused: the reason, and the form again.
  await page.waitForURL((u) => u.pathname === "/open/ask");
  const error = page.locator(".overlay .open-error");
  await error.waitFor({ timeout: 20_000 });
  assert.match(await error.innerText(), /wrong user name or password/);
  assert.ok(!(await error.innerText()).includes(WRONG), "the error never repeats the password");
  const again = page.locator(".overlay form");
  await again.waitFor();
  assert.equal(await again.locator('input[type="password"]').inputValue(), "");
  assert.ok(!(await storedState(page)).includes(WRONG), "the wrong password is not kept in the URL, storage or cookies");
  await shot(page, "61-credentials-wrong");
  const live = await (await page.request.get(relay.url + "/api/sessions")).json();
  // The relay keeps a refused attempt listed as failed for a while (as it does ended sessions),
  // with no shell behind it; the picker lists only live ones.
  assert.deepEqual(live.map((s) => s.state.state), ["failed"], JSON.stringify(live));

  // A reload asks again with an empty form: nothing was stored.
  await page.reload();
  await page.locator(".overlay .open-error").waitFor({ timeout: 20_000 });
  const fresh = page.locator(".overlay form");
  await fresh.waitFor();
  assert.equal(await fresh.locator('input[autocomplete="username"]').inputValue(), "");
  assert.equal(await fresh.locator('input[type="password"]').inputValue(), "");
  assert.doesNotMatch(await page.locator(".overlay .open-error").innerText(), /wrong user name or password/,
    "after the reload the relay was asked without credentials, not with the old ones");
  await shot(page, "62-credentials-after-reload");

  await fresh.locator('input[autocomplete="username"]').fill(SIM_USER);
  await fresh.locator('input[type="password"]').fill(RIGHT);
  await fresh.locator('button[type="submit"]').click();
  await page.waitForURL(/\/s\/[^/?]+/, { timeout: 20_000 });
  sessionId = new URL(page.url()).pathname.split("/")[2];
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(page, (t) => />\s*$/m.test(t), "a prompt");
  await page.locator(".overlay").waitFor({ state: "detached" });
  await run(page, "echo hello");
  await waitForScreen(page, hasLine("hello"), "the output of `echo hello`");
  await shot(page, "63-credentials-shell");
  const sessions = await (await page.request.get(relay.url + "/api/sessions")).json();
  assert.deepEqual(sessions.filter((s) => s.state.state !== "failed").map((s) => s.id), [sessionId],
    "exactly one live session: the one that opened");
  const kept = await storedState(page);
  assert.ok(!kept.includes(RIGHT) && !kept.includes(WRONG), "no password kept by the page");
  assert.ok(!relay.stderr().includes(RIGHT) && !relay.stderr().includes(WRONG), "no password in the relay's log");
  assert.deepEqual(page.errors, []);
});

test("the WebGL renderer losing its context falls back to the DOM renderer, which shows old and new output", async () => {
  assert.ok(sessionId, "the previous test opened a session");
  // No `?renderer=dom`: headless chromium here has WebGL2 (software), so the app picks WebGL.
  await page.goto(`${relay.url}/s/${sessionId}`);
  await page.locator('.app[data-renderer="webgl"]').waitFor({ timeout: 15_000 });
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  // The DOM renderer's rows are gone while WebGL draws; its canvas is in the terminal.
  const glCanvases = () => page.evaluate(() => [...document.querySelectorAll(".term .xterm-screen canvas")]
    .filter((c) => c.getContext("webgl2") !== null).length);
  assert.equal(await glCanvases(), 1);
  assert.equal(await page.locator(".xterm-rows > div").count(), 0, "WebGL draws the rows, not the DOM");
  await run(page, "echo before-$((6*7))");
  await page.waitForTimeout(1_000);
  await shot(page, "64-webgl-renderer");

  const lost = await page.evaluate(() => {
    const canvas = [...document.querySelectorAll(".term .xterm-screen canvas")].find((c) => c.getContext("webgl2"));
    const ext = canvas.getContext("webgl2").getExtension("WEBGL_lose_context");
    if (!ext) return false;
    ext.loseContext();
    return true;
  });
  assert.ok(lost, "WEBGL_lose_context is available");
  // xterm.js waits 3 s for a restore before it reports the loss.
  await page.locator('.app[data-renderer="dom"]').waitFor({ timeout: 10_000 });
  assert.equal(await glCanvases(), 0, "the WebGL canvas is gone");
  // The DOM renderer redraws what was written while WebGL drew it...
  await waitForScreen(page, hasLine("before-42"), "the output written before the context loss");
  // ...and everything after.
  await run(page, "echo after-loss");
  await waitForScreen(page, hasLine("after-loss"), "the output of `echo after-loss` after the context loss");
  await page.locator('.statusbar [data-link="connected"]').waitFor();
  // The DOM renderer's cells are not as wide as WebGL's: the terminal is fitted again, so no
  // column hides past the window's edge.
  const widths = () => page.evaluate(() => ({
    term: document.querySelector(".term").getBoundingClientRect().width,
    screen: document.querySelector(".term .xterm-screen").getBoundingClientRect().width,
  }));
  let w = await widths();
  for (let i = 0; i < 20 && w.screen > w.term + 1; i++) { await page.waitForTimeout(100); w = await widths(); }
  assert.ok(w.screen <= w.term + 1, `the terminal (${w.screen} px) fits its ${w.term} px after the fallback`);
  await shot(page, "65-webgl-lost-dom-fallback");
  assert.deepEqual(page.errors, []);
});
