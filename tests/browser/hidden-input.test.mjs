// Hidden input, the page's side (issue 14): a writer's key (Ctrl+Shift+H) and button send
// `hide_next_line`; an `input_mode` from the relay shows (and clears) the indicator, in a live
// region, readable in both themes. The test sits between page and relay (playwright's
// WebSocket routing): it records what the page sends and injects `input_mode`, so it does
// not depend on the relay implementing hidden input yet.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, shot, signInAndOpenDemo, startRelay, waitForScreen } from "./lib.mjs";

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let relay;
let browser;
let page;
/** JSON messages the page sent on its session socket. */
const sent = [];
/** The page's end of the routed socket (to inject server messages). */
let socket;
before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  page = await newPage(browser, { bypassCSP: true });
  await page.routeWebSocket(/\/api\/sessions\/[^/]+\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      if (typeof m === "string") sent.push(JSON.parse(m));
      server.send(m);
    });
    server.onMessage((m) => ws.send(m));
    socket = ws;
  });
  await signInAndOpenDemo(page, relay);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

const hides = () => sent.filter((m) => m.type === "hide_next_line").length;
const indicator = () => page.locator(".statusbar .hidden-input");
const inject = (msg) => socket.send(JSON.stringify(msg));

test("the Hide next line button sends hide_next_line and gives the keys back to the terminal", async () => {
  const button = page.locator(".statusbar .hide-next-line");
  await button.waitFor();
  assert.equal(await button.getAttribute("aria-keyshortcuts"), "Control+Shift+H");
  const before = hides();
  await button.click();
  await page.waitForFunction(() => document.activeElement?.classList.contains("xterm-helper-textarea"), null, { timeout: 5_000 });
  assert.equal(hides(), before + 1);
});

test("Ctrl+Shift+H sends hide_next_line and types nothing into the shell", async () => {
  await page.locator(".term .xterm").click();
  const inputs = sent.filter((m) => m.type === "input").length;
  const before = hides();
  await page.keyboard.press("Control+Shift+H");
  // The key went nowhere else: no input message followed it.
  await page.keyboard.type("echo after-key");
  await page.keyboard.press("Enter");
  await waitForScreen(page, (t) => t.split("\n").some((l) => l.trim() === "after-key"), "the command typed after the key");
  assert.equal(hides(), before + 1);
  const typed = sent.filter((m) => m.type === "input").slice(inputs).map((m) => m.data).join("");
  assert.equal(typed, "echo after-key\r");
});

test("input_mode hidden shows the indicator in a live region, saying why; not hidden clears it", async () => {
  assert.equal(await indicator().textContent(), "");
  assert.equal(await indicator().getAttribute("role"), "status");
  inject({ type: "input_mode", hidden: true, why: "password-prompt" });
  await page.waitForFunction(() => document.querySelector(".statusbar .hidden-input")?.textContent.includes("hidden input"), null, { timeout: 5_000 });
  assert.equal(await indicator().textContent(),
    "🔒 hidden input — typing is not shown or recorded (the shell asked for a password)");
  assert.ok(await indicator().isVisible());
  // While input is hidden there is nothing to switch on.
  await page.locator(".statusbar .hide-next-line").waitFor({ state: "detached" });
  await shot(page, "65-hidden-input");

  inject({ type: "input_mode", hidden: true, why: "manual" });
  await page.waitForFunction(() => document.querySelector(".statusbar .hidden-input")?.textContent.includes("a writer switched it on"), null, { timeout: 5_000 });

  inject({ type: "input_mode", hidden: false });
  await page.waitForFunction(() => document.querySelector(".statusbar .hidden-input")?.textContent === "", null, { timeout: 5_000 });
  assert.ok(!(await indicator().isVisible()));
  await page.locator(".statusbar .hide-next-line").waitFor();
});

test("the indicator passes the accessibility scan in both themes", async () => {
  inject({ type: "input_mode", hidden: true, why: "credential" });
  await page.waitForFunction(() => document.querySelector(".statusbar .hidden-input")?.textContent.includes("credential"), null, { timeout: 5_000 });
  await page.addScriptTag({ path: AXE });
  for (const theme of ["dark", "light"]) {
    if ((await page.getAttribute("html", "data-theme")) !== theme) await page.locator(".topbar .theme").click();
    const violations = await page.evaluate(async () => {
      const r = await window.axe.run(".statusbar", { resultTypes: ["violations"] });
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    });
    assert.deepEqual(violations, [], `${theme} theme`);
  }
});
