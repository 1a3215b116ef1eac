// Commands the terminal knows, on a PowerShell console (`demo-ps`): the relay's own OSC 133
// marks carry each pipeline's outcome, so the page marks succeeded and failed commands
// differently (the recordings player reads the same marks: chapters.test.mjs).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hasLine, launchBrowser, newPage, run, startRelay, waitForScreen } from "./lib.mjs";

let relay;
let browser;
let page;

before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  page = await newPage(browser);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

const promptShown = (t) => /PS .*>\s*$/m.test(t);
const mark = (status, command) => page.locator(`.term .cmd-mark[data-status="${status}"][title^="${command}:"]`);

test("demo-ps: succeeded and failed pipelines get different marks, from the relay's marks", async () => {
  const login = new URL(relay.login);
  await page.goto(new URL(login.pathname + login.search, relay.url).href);
  await page.waitForURL((u) => u.pathname === "/");
  await page.goto(new URL("/?renderer=dom", relay.url).href);
  await page.locator('.targets li[data-target="demo-ps"] .open').click();
  await page.waitForURL(/\/s\/[^/?]+/);
  await waitForScreen(page, promptShown, "the PowerShell prompt");
  await run(page, "Write-Output marked-ok");
  await waitForScreen(page, hasLine("marked-ok"), "the first pipeline's output");
  await run(page, "Write-Error marked-bad");
  await waitForScreen(page, (t) => t.includes("marked-bad") && promptShown(t), "the error and the prompt");
  await mark("ok", "Write-Output marked-ok").waitFor({ timeout: 10_000 });
  await mark("failed", "Write-Error marked-bad").waitFor({ timeout: 10_000 });
  assert.equal(await mark("ok", "Write-Output marked-ok").textContent(), "✓");
  assert.equal(await mark("failed", "Write-Error marked-bad").textContent(), "✗");
});
