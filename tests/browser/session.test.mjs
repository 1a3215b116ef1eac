// A shell through the real relay and its demo target, as a user drives it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  hasLine, launchBrowser, newPage, run, screenText, shot, signInAndOpenDemo, startRelay, waitForScreen,
} from "./lib.mjs";

let relay;
let browser;
let page;
let sessionId;
before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  page = await newPage(browser);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

test("sign in with the demo link, open the demo target, echo hello", async () => {
  sessionId = await signInAndOpenDemo(page, relay);
  assert.match(sessionId, /\S+/);
  await shot(page, "10-session-prompt");
  await run(page, "echo hello");
  await waitForScreen(page, hasLine("hello"), "the output line `hello`");
  const status = await page.locator(".statusbar").innerText();
  assert.match(status, /demo/, "the status bar names the target");
  assert.match(status, /connected/);
  assert.match(status, /owner/);
  assert.equal(await page.title(), "demo — winrelay");
  await page.locator(".statusbar .latency").filter({ hasText: /\d+ ms/ }).waitFor({ timeout: 10_000 });
  await shot(page, "11-echo-hello");
});

test("Ctrl+C stops a command that would run for minutes", async () => {
  await run(page, "sleep 600");
  await page.waitForTimeout(800);
  await shot(page, "12-long-command-running");
  const started = Date.now();
  await page.keyboard.press("Control+c");
  await run(page, "echo after-interrupt");
  await waitForScreen(page, hasLine("after-interrupt"), "output of the command after Ctrl+C", 10_000);
  assert.ok(Date.now() - started < 10_000);
  await shot(page, "13-after-ctrl-c");
});

test("a reload rejoins the same session with its earlier output", async () => {
  await page.reload();
  await page.waitForURL((u) => u.pathname === `/s/${sessionId}`);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  const text = await waitForScreen(page, hasLine("hello"), "the earlier `hello` after reload");
  assert.ok(text.split("\n").some((l) => l.trim() === "after-interrupt"));
  await run(page, "echo still-here");
  await waitForScreen(page, hasLine("still-here"), "new output after reload");
  await shot(page, "14-after-reload");
});

test("a viewer joins with a share link, sees new output, and cannot type", async () => {
  // The owner copies a viewer link from the status bar.
  await page.locator(".statusbar .share-viewer").click();
  const link = await page.locator(".sharebox .share-url").inputValue();
  assert.match(link, new RegExp(`/s/${sessionId}\\?share=`), link);
  await shot(page, "15-owner-shares-viewer-link");
  await page.locator(".sharebox button").click();
  const viewer = await newPage(browser);
  const url = new URL(link);
  url.searchParams.set("renderer", "dom");
  await viewer.goto(url.href);
  await viewer.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await viewer.locator(".statusbar .role", { hasText: "viewer" }).first().waitFor();
  // The owner sees the viewer arrive.
  await page.locator(".statusbar .who", { hasText: "viewer" }).waitFor({ timeout: 10_000 });

  await run(page, "echo from-owner");
  await waitForScreen(viewer, hasLine("from-owner"), "the owner's output in the viewer");
  await run(viewer, "echo from-viewer");
  await viewer.locator(".statusbar .notice", { hasText: /view only|not allowed/i }).waitFor();
  await page.waitForTimeout(500);
  assert.ok(!(await screenText(page)).includes("from-viewer"), "the viewer's typing never reaches the shell");
  await shot(viewer, "16-viewer");
  await shot(page, "17-owner-sees-viewer");

  // The owner removes the viewer: its page says so and does not reconnect.
  await page.locator(".statusbar .who .kick").first().click();
  await viewer.locator('.statusbar [data-link="closed"]').waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => !document.querySelector(".statusbar .who").textContent.includes("viewer"), null, { timeout: 10_000 });
  await shot(viewer, "18-viewer-removed");
  await viewer.context().close();
});

test("when the shell exits the status bar shows the code and a new shell starts from it", async () => {
  await run(page, "exit 3");
  await page.locator(".statusbar .exit", { hasText: "exited with code 3" }).waitFor({ timeout: 15_000 });
  await shot(page, "19-shell-exited");
  await page.locator(".statusbar .new-shell").click();
  await page.waitForURL((u) => /\/s\/[^/?]+/.test(u.pathname) && !u.pathname.endsWith(sessionId));
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await run(page, "echo fresh-shell");
  await waitForScreen(page, hasLine("fresh-shell"), "output in the new shell");
});
