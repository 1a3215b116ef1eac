// Commands the terminal knows (issue 14): shell-integration marks (OSC 133) in the output
// drawn beside each prompt, Ctrl+Up / Ctrl+Down between commands, one click copies a
// command's output, the status bar names the running command. The demo's cmd is bash, so
// the test makes it emit the marks a shell integration would: D and A before the prompt, B
// after it (PS1), C before the command runs (PS0).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hasLine, launchBrowser, newPage, run, shot, signInAndOpenDemo, startRelay, waitForScreen } from "./lib.mjs";

let relay;
let browser;
let page;
let context;
before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  page = await newPage(browser);
  context = page.context();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: relay.url });
  await signInAndOpenDemo(page, relay);
  // BEL-terminated A/B/D in the prompt, ST-terminated C (both terminators occur in the wild).
  await run(page, String.raw`PS1='\[\e]133;D;$?\a\e]133;A\a\]MARK> \[\e]133;B\a\]'; PS0='\e]133;C\e\\'`);
  await waitForScreen(page, (t) => /MARK>\s*$/.test(t), "the marked prompt");
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

const marks = (status) => page.locator(`.term .cmd-mark[data-status="${status}"]`);

test("each command gets a mark by its prompt: ✓ succeeded, ✗ failed", async () => {
  await run(page, "echo marks-one");
  await waitForScreen(page, hasLine("marks-one"), "the first command's output");
  await run(page, "false");
  await run(page, "echo marks-two");
  await waitForScreen(page, hasLine("marks-two"), "the third command's output");
  await page.waitForFunction(() => document.querySelectorAll('.cmd-mark[data-status="ok"]').length >= 2, null, { timeout: 10_000 });
  await marks("failed").first().waitFor({ timeout: 10_000 });
  assert.equal(await marks("failed").count(), 1);
  assert.equal(await marks("failed").first().textContent(), "✗");
  assert.equal(await marks("ok").first().textContent(), "✓");
  assert.match(await marks("failed").first().getAttribute("title"), /^false: failed \(exit code 1\)/);
  // The mark of the prompt waiting for input says nothing yet.
  assert.equal(await marks("pending").count(), 1);
  await shot(page, "60-command-marks");
});

test("a mark without a status reads as unknown", async () => {
  // The prompt's own D;$? comes after this one, which already ended the command.
  await run(page, String.raw`printf 'marks-unknown\n\033]133;D\007'`);
  await marks("unknown").first().waitFor({ timeout: 10_000 });
  assert.equal(await marks("unknown").first().textContent(), "·");
});

test("the status bar names the running command and its time; it clears when the command ends", async () => {
  await run(page, "sleep 30");
  const running = page.locator(".statusbar .running");
  await running.waitFor({ timeout: 10_000 });
  assert.equal(await running.locator(".command").textContent(), "sleep 30");
  // The clock ticks: it leaves 0:00.
  await page.waitForFunction(() => /^0:0[1-9]$/.test(document.querySelector(".statusbar .running .elapsed")?.textContent || ""), null, { timeout: 10_000 });
  await shot(page, "61-running-command");
  await page.keyboard.press("Control+C");
  await running.waitFor({ state: "detached", timeout: 10_000 });
});

test("one click copies a command's output, from the status bar or the mark", async () => {
  await run(page, "printf 'copy-a\\ncopy-b   \\n'");
  await waitForScreen(page, hasLine("copy-b"), "the output to copy");
  const button = page.locator(".statusbar .copy-output");
  await page.waitForFunction(() => /printf/.test(document.querySelector(".statusbar .copy-output")?.getAttribute("aria-label") || ""), null, { timeout: 10_000 });
  await button.click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "copy-a\ncopy-b");
  assert.match(await page.locator(".statusbar .notice").textContent(), /Copied the output of `printf .*` \(2 lines\)/);

  await page.evaluate(() => navigator.clipboard.writeText("nothing yet"));
  // The mark of `echo marks-one` (the ✓ whose title names it).
  await page.locator('.term .cmd-mark[data-status="ok"][title^="echo marks-one:"]').first().click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "marks-one");
});

test("Ctrl+Up and Ctrl+Down jump between commands", async () => {
  await run(page, "seq 1 80");
  await waitForScreen(page, hasLine("80"), "the long output");
  await run(page, "echo marks-last");
  await waitForScreen(page, hasLine("marks-last"), "the last command");
  await page.locator(".term .xterm").click();
  const firstRow = () => page.evaluate(() => document.querySelector(".xterm-rows > div")?.textContent.replace(/\u00a0/g, " ") ?? "");
  // Up: `echo marks-last` (on the bottom page: no scroll), up again: `seq 1 80` at the top.
  await page.keyboard.press("Control+ArrowUp");
  await page.keyboard.press("Control+ArrowUp");
  await page.waitForFunction(() => /MARK> seq 1 80/.test(document.querySelector(".xterm-rows > div")?.textContent.replace(/\u00a0/g, " ") ?? ""), null, { timeout: 5_000 })
    .catch(async () => assert.fail(`the top row is not the command: ${await firstRow()}`));
  assert.equal(await page.locator(".term .cmd-mark.selected").count(), 1);
  assert.match(await page.locator(".statusbar .copy-output").getAttribute("aria-label"), /seq 1 80/);
  // Said for screen readers too (the notice is a live region).
  assert.match(await page.locator(".statusbar .notice").innerText(), /^Command \d+ of \d+: `seq 1 80`, succeeded\.$/);
  await shot(page, "62-jumped-to-command");
  // Down twice: past the last command, back at the bottom with the prompt.
  await page.keyboard.press("Control+ArrowDown");
  await page.keyboard.press("Control+ArrowDown");
  await waitForScreen(page, (t) => /MARK>\s*$/.test(t) && !/^MARK> seq 1 80/.test(t), "the bottom again");
  assert.equal(await page.locator(".term .cmd-mark.selected").count(), 0);
  assert.equal(await page.locator(".statusbar .notice").innerText(), "Back at the prompt.");
  // The keys never reached the shell (no `^[[1;5A` typed at the prompt).
  assert.ok(!/\[1;5[AB]/.test(await page.evaluate(() => document.querySelector(".xterm-rows").textContent)));
});

test("the picker names each target's kind of shell", async () => {
  const other = await context.newPage();
  try {
    await other.goto(relay.url + "/?renderer=dom");
    const kind = other.locator('.targets li[data-target="demo"] .kind');
    await kind.waitFor({ timeout: 15_000 });
    assert.equal(await kind.innerText(), "cmd");
  } finally {
    await other.close();
  }
});

async function joinAndFindMark(status, text) {
  const other = await context.newPage();
  try {
    await other.goto(page.url());
    await other.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
    const mark = other.locator(`.term .cmd-mark[data-status="${status}"][title^="${text}:"]`);
    await mark.first().waitFor({ timeout: 10_000 });
    return await mark.count();
  } finally {
    await other.close();
  }
}

test("a late joiner sees the same marks (the relay sends it the whole output while it has it)", async () => {
  // Marks are drawn for the rows on screen: the last command is.
  assert.equal(await joinAndFindMark("ok", "echo marks-last"), 1);
});

test("a viewer (share link, no sign-in) sees the marks and gets no hidden-input switch", async () => {
  await page.locator(".statusbar .share-viewer").click();
  const link = new URL(await page.locator(".sharebox .share-url").inputValue());
  link.searchParams.set("renderer", "dom");
  const viewer = await newPage(browser);
  try {
    await viewer.goto(link.href);
    await viewer.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
    await viewer.locator('.term .cmd-mark[data-status="ok"][title^="echo marks-last:"]').waitFor({ timeout: 10_000 });
    assert.equal(await viewer.locator(".statusbar .hide-next-line").count(), 0);
    // Jumping works for a viewer too (it only scrolls).
    await viewer.locator(".term .xterm").click();
    await viewer.keyboard.press("Control+ArrowUp");
    await viewer.locator(".term .cmd-mark.selected").waitFor({ timeout: 5_000 });
  } finally {
    await viewer.context().close();
  }
});

test("a late joiner after more output than the relay keeps sees the marks too (the snapshot carries them)", async () => {
  // More than the session's 1 MiB log: a late joiner now gets a snapshot.
  await run(page, "seq 1 250000");
  await waitForScreen(page, hasLine("250000"), "the end of the burst", 60_000);
  await run(page, "echo after-burst");
  await waitForScreen(page, hasLine("after-burst"), "the command after the burst");
  assert.equal(await joinAndFindMark("ok", "echo after-burst"), 1);
});
