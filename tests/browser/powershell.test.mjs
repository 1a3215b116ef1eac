// A PowerShell console (`demo-ps`: PSRP against the built-in simulator, the relay as the
// console host) in the real page, as a user drives it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  hasLine, launchBrowser, newPage, openDemo, run, screenText, shot, startRelay, waitForScreen,
} from "./lib.mjs";

let relay;
let browser;
let page;
let sessionId;

const promptShown = (t) => /PS .*>\s*$/m.test(t);

before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  page = await newPage(browser);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** The last non-empty row of the terminal. */
async function lastRow(p) {
  const rows = (await screenText(p)).split("\n").filter((l) => l.trim() !== "");
  return rows[rows.length - 1] || "";
}

test("demo-ps opens with the remote prompt", async () => {
  const login = new URL(relay.login);
  await page.goto(new URL(login.pathname + login.search, relay.url).href);
  await page.waitForURL((u) => u.pathname === "/");
  await page.goto(new URL("/?renderer=dom", relay.url).href);
  const open = page.locator('.targets li[data-target="demo-ps"] .open');
  await open.waitFor({ timeout: 15_000 });
  await open.click();
  await page.waitForURL(/\/s\/[^/?]+/);
  sessionId = new URL(page.url()).pathname.split("/")[2];
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(page, promptShown, "the PowerShell prompt");
  await run(page, "Write-Output hello-ps");
  await waitForScreen(page, hasLine("hello-ps"), "the output of Write-Output");
  await shot(page, "ps-10-prompt");
});

test("Tab completes Get-ChildI to Get-ChildItem", async () => {
  await page.locator(".term .xterm").click();
  await page.keyboard.type("Get-ChildI", { delay: 5 });
  await page.keyboard.press("Tab");
  await waitForScreen(page, (t) => /Get-ChildItem\s*$/m.test(t), "the completed command");
  await shot(page, "ps-11-tab");
  // Escape clears the line again.
  await page.keyboard.press("Escape");
  await waitForScreen(page, promptShown, "the prompt with an empty line");
});

test("a multi-line function definition, then a call", async () => {
  await run(page, "function Hello {");
  await waitForScreen(page, (t) => /^>> *$/m.test(t), "the continuation prompt");
  await run(page, "Write-Output \"from-a-function\"");
  await run(page, "}");
  await waitForScreen(page, promptShown, "the prompt after the definition");
  await run(page, "Hello");
  await waitForScreen(page, hasLine("from-a-function"), "the function's output");
  await shot(page, "ps-12-function");
});

test("a progress bar appears, updates in place and disappears", async () => {
  await run(page, "Write-Progress -Activity Copying -Status Half -PercentComplete 50; Start-Sleep 2; "
    + "Write-Progress -Activity Copying -Status Most -PercentComplete 90; Start-Sleep 2; "
    + "Write-Progress -Activity Copying -Completed; Write-Output progress-done");
  await waitForScreen(page, (t) => /Copying: Half.*50%/.test(t), "the progress bar at 50%");
  await shot(page, "ps-13-progress");
  const text = await waitForScreen(page, (t) => /Copying: Most.*90%/.test(t), "the progress bar at 90%");
  assert.ok(!/Copying: Half/.test(text), "updated in place, not a second line:\n" + text);
  const done = await waitForScreen(page, hasLine("progress-done"), "the output after the progress");
  assert.ok(!/Copying: /.test(done), "the bar is gone when completed:\n" + done);
});

test("Read-Host -AsSecureString: the secret reaches nobody's screen", async () => {
  const secret = "hunter2-browser-secret";
  // A viewer watches through a share link.
  await page.locator(".statusbar .share-viewer").click();
  const link = await page.locator(".sharebox .share-url").inputValue();
  await page.locator(".sharebox button").click();
  const viewer = await newPage(browser);
  const url = new URL(link);
  url.searchParams.set("renderer", "dom");
  await viewer.goto(url.href);
  await viewer.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(viewer, (t) => t.includes("progress-done"), "the session's output on the viewer");

  await run(page, "$pw = Read-Host -AsSecureString; Write-Output read-done");
  await page.waitForTimeout(500);
  await page.keyboard.type(secret, { delay: 5 });
  await page.keyboard.press("Enter");
  await waitForScreen(page, hasLine("read-done"), "the command after Read-Host");
  await waitForScreen(viewer, hasLine("read-done"), "the same on the viewer");
  assert.ok(!(await screenText(page)).includes(secret), "echoed to the writer");
  assert.ok(!(await screenText(viewer)).includes(secret), "shown to the viewer");
  // A late joiner (a fresh page on the same link) sees the history without it.
  const late = await newPage(browser);
  await late.goto(url.href);
  await late.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  const lateText = await waitForScreen(late, (t) => t.includes("read-done"), "the output on a late joiner");
  assert.ok(!lateText.includes(secret), "in a late joiner's view");
  await shot(viewer, "ps-14-viewer-after-secret");
  await viewer.context().close();
  await late.context().close();
});

test("Ctrl+C during Start-Sleep 100 brings the prompt back", async () => {
  await run(page, "Start-Sleep 100");
  await page.waitForTimeout(500);
  await page.keyboard.press("Control+c");
  await waitForScreen(page, (t) => /\^C/.test(t), "^C");
  // The prompt is the last thing on the screen again, and the console runs commands.
  await run(page, "Write-Output after-ctrl-c");
  await waitForScreen(page, hasLine("after-ctrl-c"), "a command after Ctrl+C");
  assert.match(await lastRow(page), /^PS .*>/);
});

test("exit 3 ends the session with code 3", async () => {
  await run(page, "exit 3");
  await page.locator(".statusbar .exit").filter({ hasText: "exited with code 3" }).waitFor({ timeout: 15_000 });
  await shot(page, "ps-15-exit-3");
});

test("cmd: a password prompt hides the next line from every screen", async () => {
  // The same page (signed in) opens the cmd demo.
  await openDemo(page, relay.url);
  const secret = "cmd-browser-secret";
  await run(page, "printf 'Enter password: '; read pw; echo got-${#pw}");
  await waitForScreen(page, (t) => /Enter password:\s*$/m.test(t), "the password prompt");
  await page.waitForTimeout(300);
  await page.keyboard.type(secret, { delay: 5 });
  await page.keyboard.press("Enter");
  await waitForScreen(page, hasLine(`got-${secret.length}`), "the shell got the whole secret");
  assert.ok(!(await screenText(page)).includes(secret), "the secret was echoed");
  await shot(page, "ps-16-cmd-password");
});
