// The everyday conveniences: search, multi-line paste confirmation, zoom, themes, key bar,
// renderer choice, the `/open/TARGET` deep link.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hasLine, launchBrowser, newPage, run, shot, signInAndOpenDemo, startRelay, waitForScreen } from "./lib.mjs";

let relay;
let browser;
let page;
before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  page = await newPage(browser);
  await signInAndOpenDemo(page, relay);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

const rows = (p) => p.locator(".xterm-rows > div").count();

test("Ctrl+Shift+F searches the scrollback; Escape closes the search", async () => {
  await run(page, "echo needle-in-haystack");
  await waitForScreen(page, hasLine("needle-in-haystack"), "the echo");
  await page.keyboard.press("Control+Shift+F");
  const input = page.locator(".search input");
  await input.waitFor();
  await input.fill("needle");
  await page.keyboard.press("Enter");
  // The search addon selects the match.
  await page.waitForFunction(() => document.querySelector(".xterm-selection div, .xterm-decoration") !== null
    || window.getSelection().toString().length > 0, null, { timeout: 5_000 }).catch(() => {});
  await shot(page, "30-search");
  await page.keyboard.press("Escape");
  await input.waitFor({ state: "detached" });
});

test("pasting several lines asks first, then runs them", async () => {
  await page.locator(".term .xterm").click();
  const text = "echo paste-one\recho paste-two\recho paste-three\recho paste-four\r";
  await page.evaluate((t) => {
    const dt = new DataTransfer();
    dt.setData("text/plain", t.replace(/\r/g, "\n"));
    document.querySelector(".xterm-helper-textarea")
      .dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  }, text);
  const dialog = page.locator(".dialog");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Paste 4 lines/);
  await shot(page, "31-paste-confirm");
  await dialog.locator("button.primary").click();
  // All four lines are echoed at once, so later outputs follow the prompt of earlier ones.
  const output = (word) => (t) => t.split("\n").some((l) => new RegExp(`(^|>)${word}$`).test(l.trim()));
  for (const w of ["paste-one", "paste-two", "paste-three", "paste-four"]) {
    await waitForScreen(page, output(w), `the output of the pasted \`echo ${w}\``);
  }
});

test("Ctrl+= zooms in, Ctrl+0 resets; the theme switches to light and back", async () => {
  const before = await rows(page);
  await page.keyboard.press("Control+Equal");
  await page.keyboard.press("Control+Equal");
  await page.waitForFunction((n) => document.querySelectorAll(".xterm-rows > div").length < n, before, { timeout: 5_000 });
  await shot(page, "32-zoomed");
  await page.keyboard.press("Control+0");
  await page.waitForFunction((n) => document.querySelectorAll(".xterm-rows > div").length === n, before, { timeout: 5_000 });

  await page.locator(".topbar .theme").click();
  assert.equal(await page.getAttribute("html", "data-theme"), "light");
  await shot(page, "33-light-theme");
  await page.locator(".topbar .theme").click();
  assert.equal(await page.getAttribute("html", "data-theme"), "dark");
});

test("the touch key bar sends keys; Ctrl is sticky for the next key", async () => {
  const url = new URL(page.url());
  url.searchParams.set("keybar", "1");
  await page.goto(url.href);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await page.locator(".term .xterm").click();
  await page.keyboard.type("sleep 600", { delay: 5 });
  await page.keyboard.press("Enter");
  await page.waitForTimeout(500);
  await page.locator(".keybar button", { hasText: "Ctrl" }).click();
  await page.keyboard.type("c");
  await run(page, "echo keybar-ok");
  await waitForScreen(page, hasLine("keybar-ok"), "output after Ctrl (key bar) + c");
  await shot(page, "34-keybar");
});

test("/open/TARGET opens a new shell directly; without ?renderer=dom a renderer is chosen", async () => {
  const p = await page.context().newPage();
  await p.goto(relay.url + "/open/demo");
  await p.waitForURL(/\/s\/[^/?]+/);
  await p.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await p.waitForFunction(() => ["webgl", "dom"].includes(document.querySelector(".app").dataset.renderer));
  const renderer = await p.getAttribute(".app", "data-renderer");
  console.log(`renderer without ?renderer=dom: ${renderer}`);
  await shot(p, `35-deep-link-${renderer}`);
  await p.close();
});

test("an unknown target says so and offers the way back", async () => {
  const p = await page.context().newPage();
  await p.goto(relay.url + "/open/no-such-target?renderer=dom");
  await p.locator(".open-error").waitFor({ timeout: 10_000 });
  assert.ok((await p.locator(".open-error").innerText()).length > 5);
  await shot(p, "36-unknown-target");
  await p.locator("button", { hasText: "Back to targets" }).click();
  await p.locator(".targets li").first().waitFor();
  await p.close();
});

test("a flood of output does not freeze the tab and Ctrl+C still gets through", async () => {
  await page.goto(relay.url + "/open/demo?renderer=dom");
  await page.waitForURL(/\/s\/[^/?]+/);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await run(page, "yes winrelay-flood-line-with-some-text");
  await page.waitForTimeout(2_000);
  // The page answers quickly while the flood runs: acks keep the relay within the window.
  const t0 = Date.now();
  await page.evaluate(() => 1);
  const lag = Date.now() - t0;
  assert.ok(lag < 2_000, `the tab answered in ${lag} ms during the flood`);
  await shot(page, "37-flood");
  await page.keyboard.press("Control+c");
  await run(page, "echo flood-stopped");
  await waitForScreen(page, (t) => t.split("\n").some((l) => /(^|>)flood-stopped$/.test(l.trim())),
    "output after Ctrl+C stopped the flood", 20_000);
  await shot(page, "38-flood-stopped");
});
