// What a new user does after `make run`: open the login link in a browser with WebGL (the
// default renderer, no ?renderer=dom), click Open on the demo target, type a command.
// Playwright's click fails when another element (e.g. a renderer canvas) would take it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, shot, startRelay } from "./lib.mjs";

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

test("the picker is clickable over the WebGL terminal and opens a shell", async () => {
  const page = await newPage(browser);
  await page.goto(relay.login);
  await page.waitForURL((u) => u.pathname === "/");
  const open = page.locator(".targets li .open").first();
  await open.waitFor({ timeout: 15_000 });
  // The WebGL renderer is the default where WebGL exists (it does in headless chromium here).
  await page.locator('.app[data-renderer="webgl"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(".term canvas").count() > 0, true);
  await open.click({ timeout: 5_000 });
  await page.waitForURL(/\/s\/[^/?]+/);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await page.keyboard.type("echo new-user-$((20+22))\r");
  await page.waitForTimeout(1000);
  await shot(page, "70-new-user-webgl-shell");
  // WebGL draws on a canvas: reopen the same session with the DOM renderer to read what the
  // command printed (the relay replays the session's output).
  const url = new URL(page.url());
  url.searchParams.set("renderer", "dom");
  await page.goto(url.href);
  await page.waitForFunction(
    () => document.querySelector(".xterm-rows")?.textContent?.includes("new-user-42"),
    null,
    { timeout: 15_000 },
  );
});
