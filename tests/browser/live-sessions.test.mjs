// The live-sessions list names sessions usefully (issue 19): target, who started it, since
// when, who is attached and the last command typed — never a hidden line.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hasLine, launchBrowser, newPage, run, signInAndOpenDemo, startRelay, waitForScreen } from "./lib.mjs";

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

test("a live session is listed with its target, owner, start, people and last command", async () => {
  const page = await newPage(browser);
  await signInAndOpenDemo(page, relay);
  const id = new URL(page.url()).pathname.split("/")[2];
  await run(page, "echo named-by-its-last-command");
  await waitForScreen(page, hasLine("named-by-its-last-command"), "the command's output");
  // A password typed after a password prompt is hidden: it never names the session.
  await run(page, "printf 'Enter password: '; read pw; echo got-${#pw}");
  await page.locator(".statusbar .hidden-input", { hasText: "hidden input" }).waitFor({ timeout: 10_000 });
  await page.keyboard.type("never-listed-secret");
  await page.keyboard.press("Enter");
  await waitForScreen(page, hasLine("got-19"), "the shell got the hidden line");

  const home = await newPage(browser);
  await home.context().addCookies(await page.context().cookies());
  await home.goto(`${relay.url}/?renderer=dom`);
  const row = home.locator(`.sessions li[data-session="${id}"]`);
  await row.waitFor({ timeout: 15_000 });
  assert.equal(await row.locator(".name").innerText(), "demo");
  assert.match(await row.locator(".since").innerText(), /^since (\d+ \w+, )?\d\d:\d\d$/);
  const last = await row.locator(".last-command").innerText();
  assert.equal(last, "printf 'Enter password: '; read pw; echo got-${#pw}", "the last line typed, not the hidden one");
  assert.doesNotMatch(await row.innerText(), /never-listed-secret/);
});
