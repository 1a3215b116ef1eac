// The recordings player lists a recording's commands (its OSC 133 marks) as chapters: their
// text and outcome; picking one jumps there. A relay with a recorded target on its own
// simulator; its bash prompt emits the marks a shell integration would.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  hasLine, hashPassword, launchBrowser, newPage, run, shot, startRelay, startSim, waitForScreen,
} from "./lib.mjs";

let sim;
let relay;
let browser;
let page;

before(async () => {
  sim = await startSim("svc", "sim-password-chapters");
  relay = await startRelay("127.0.0.1:0", {
    config: `
[[user]]
name = "alice"
password_hash = "${hashPassword("alice-password")}"

[recordings]
dir = "@DIR@/recordings"

[[target]]
name = "rec"
endpoint = "${sim.endpoint}"
user = "svc"
password_env = "WINRELAY_TEST_CHAPTERS_PW"
pin = "${sim.fingerprint}"
owners = ["alice"]
record = true
`,
    env: { WINRELAY_TEST_CHAPTERS_PW: "sim-password-chapters" },
  });
  browser = await launchBrowser();
  page = await newPage(browser);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
  await sim?.stop();
});

test("the player lists the recorded commands with their outcome and jumps to one", async () => {
  await page.goto(relay.url + "/?renderer=dom");
  await page.locator(".signin .signin-user").fill("alice");
  await page.locator(".signin .signin-pass").fill("alice-password");
  await page.locator(".signin button[type=submit]").click();
  await page.locator('.targets li[data-target="rec"] .open').click();
  await page.waitForURL(/\/s\/[^/?]+/);
  const id = new URL(page.url()).pathname.split("/")[2];
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(page, (t) => />\s*$/m.test(t), "a prompt");
  await run(page, String.raw`PS1='\[\e]133;D;$?\a\e]133;A\a\]MARK> \[\e]133;B\a\]'; PS0='\e]133;C\a'`);
  await waitForScreen(page, (t) => /MARK>\s*$/.test(t), "the marked prompt");
  await run(page, "echo chap-one");
  await waitForScreen(page, hasLine("chap-one"), "the first command");
  await run(page, "false");
  await waitForScreen(page, (t) => /MARK> false\nMARK>\s*$/.test(t), "the second command's end");
  await run(page, "echo chap-three");
  await waitForScreen(page, hasLine("chap-three"), "the third command");
  await run(page, "exit 0");
  await page.locator(".statusbar .exit").waitFor({ timeout: 15_000 });

  await page.goto(`${relay.url}/recordings/${id}?renderer=dom`);
  await page.locator(".replay .play:not([disabled])").waitFor({ timeout: 10_000 });
  if ((await page.locator(".replay .play").innerText()) === "Pause") await page.locator(".replay .play").click();
  const chapters = page.locator(".replay select.chapters");
  await chapters.waitFor();
  const all = await chapters.locator("option").allInnerTexts();
  // The command that set the prompt is a chapter too: the relay marked it (cmd prompt) until
  // the shell's own marks took over.
  assert.match(all[1], /^✓ PS1=.* — succeeded/);
  const options = all.filter((o) => !o.includes("PS1="));
  assert.deepEqual(options.slice(0, 4).map((o) => o.replace(/, at \d+:\d\d$/, "")), [
    "—",
    "✓ echo chap-one — succeeded",
    "✗ false — failed (exit code 1)",
    "✓ echo chap-three — succeeded",
  ]);
  await shot(page, "66-replay-chapters");

  // Options: "—", the PS1 line, `echo chap-one`, `false`, ...
  await chapters.selectOption({ index: 3 });
  await waitForScreen(page, (t) => t.includes("MARK> false") && !t.includes("chap-three"), "the recording at `false`");
  assert.equal(await chapters.inputValue(), "2");
  // The replayed output carries the marks: the terminal draws them as it does live. At the
  // jump (the moment `false` started) the earlier command has ended well; whether `false`'s
  // own end is already on screen depends on whether the shell's output after it came in the
  // same recorded event, so play on to see it fail.
  await page.locator('.term .cmd-mark[data-status="ok"]').first().waitFor({ timeout: 5_000 });
  assert.equal(await page.locator('.term .cmd-mark[data-status="failed"]').count() +
    await page.locator('.term .cmd-mark[data-status="running"]').count(), 1,
    "`false` has a mark: running at its start, or failed if its end came in the same event");
  if ((await page.locator(".replay .play").innerText()) === "Play") await page.locator(".replay .play").click();
  await page.locator('.term .cmd-mark[data-status="failed"]').waitFor({ timeout: 10_000 });
  assert.deepEqual(page.errors, []);
});
