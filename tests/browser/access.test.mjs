// Who may connect, in the browser: the sign-in form (with the relay's rate limit), sharing
// (links with role and expiry, role switch, revoke), Ctrl+Break, recordings replayed with
// seeking, sign-out. A relay with a local user and a recorded target on its own simulator.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  hasLine, hashPassword, launchBrowser, newPage, run, screenText, shot, startRelay, startSim, waitForScreen,
} from "./lib.mjs";

let sim;
let relay;
let browser;
let page;
let sessionId;

before(async () => {
  sim = await startSim("svc", "sim-password-rec");
  relay = await startRelay("127.0.0.1:0", {
    config: `
[[user]]
name = "alice"
password_hash = "${hashPassword("alice-password")}"

[recordings]
dir = "@DIR@/recordings"

[[target]]
name = "rec"
description = "recorded"
endpoint = "${sim.endpoint}"
user = "svc"
password_env = "WINRELAY_TEST_REC_PW"
pin = "${sim.fingerprint}"
owners = ["alice"]
record = true
`,
    env: { WINRELAY_TEST_REC_PW: "sim-password-rec" },
  });
  browser = await launchBrowser();
  page = await newPage(browser);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
  await sim?.stop();
});

async function submitSignIn(p, user, password) {
  await p.locator(".signin .signin-user").fill(user);
  await p.locator(".signin .signin-pass").fill(password);
  const answer = p.waitForResponse((r) => r.url().endsWith("/api/login"));
  await p.locator(".signin button[type=submit]").click();
  return (await answer).status();
}

test("the sign-in form shows the relay's refusals, its rate limit, then signs in", async () => {
  await page.goto(relay.url + "/?renderer=dom");
  await page.locator(".picker .signin").waitFor({ timeout: 20_000 });
  assert.match(await page.locator(".topbar").innerText(), /not signed in/);
  let status = 0;
  let tries = 0;
  while (status !== 429 && tries < 8) {
    tries += 1;
    status = await submitSignIn(page, "alice", "wrong-" + tries);
    const msg = page.locator(".signin-failed");
    if (status === 401) await msg.filter({ hasText: "wrong user name or password" }).waitFor();
  }
  assert.equal(status, 429, "the relay limits attempts");
  assert.ok(tries >= 6, `limited only after 5 failures (after ${tries - 1})`);
  await page.locator(".signin-failed", { hasText: /too many failed sign-ins: try again in \d+ s/ }).waitFor();
  await page.locator(".signin button[type=submit]", { hasText: /Wait \d+ s/ }).waitFor();
  assert.ok(await page.locator(".signin button[type=submit]").isDisabled());
  await shot(page, "50-sign-in-rate-limited");

  await page.locator(".signin button[type=submit]", { hasText: "Sign in" }).waitFor({ timeout: 20_000 });
  assert.equal(await submitSignIn(page, "alice", "alice-password"), 200);
  await page.locator('.targets li[data-target="rec"]').waitFor();
  assert.equal(await page.locator(".topbar .user").innerText(), "alice");
  await page.locator(".topbar .signout").waitFor();
  await shot(page, "51-signed-in");
});

test("the owner shares a writer link with an expiry, switches the guest to viewer and back, revokes it", async () => {
  await page.locator('.targets li[data-target="rec"] .open').click();
  await page.waitForURL(/\/s\/[^/?]+/);
  sessionId = new URL(page.url()).pathname.split("/")[2];
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(page, (t) => />\s*$/m.test(t), "a prompt");

  await page.locator(".statusbar .sharing").click();
  await page.locator(".share-panel").waitFor();
  await page.locator(".share-panel .share-role").selectOption("writer");
  await page.locator(".share-panel .share-ttl").selectOption("900");
  await page.locator(".share-panel .share-create").click();
  const link = await page.locator(".sharebox .share-url").inputValue();
  assert.match(link, new RegExp(`/s/${sessionId}\\?share=`), link);
  const row = page.locator(".share-links li").first();
  await row.filter({ hasText: "writer" }).waitFor();
  assert.match(await row.innerText(), /expires in 15 min/);

  const guest = await newPage(browser);
  const url = new URL(link);
  url.searchParams.set("renderer", "dom");
  await guest.goto(url.href);
  await guest.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  // The token leaves the address bar (and history) once the page holds it; other
  // parameters stay, and a reload of the tab still gets in.
  const shown = new URL(guest.url());
  assert.equal(shown.pathname, `/s/${sessionId}`);
  assert.equal(shown.searchParams.get("share"), null, guest.url());
  assert.equal(shown.searchParams.get("renderer"), "dom", guest.url());
  await guest.reload();
  await guest.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  assert.equal(new URL(guest.url()).searchParams.get("share"), null, guest.url());
  await run(guest, "echo guest-types-1");
  await waitForScreen(page, hasLine("guest-types-1"), "the writer guest's command in the owner's terminal");
  // The link lists who came through it.
  await page.locator(".share-links li", { hasText: "used by guest" }).waitFor({ timeout: 10_000 });
  await shot(page, "52-sharing-panel");

  const guestRow = page.locator(".share-panel .people li", { hasText: "guest" });
  await guestRow.locator(".set-role", { hasText: "Make viewer" }).click();
  await guest.locator(".statusbar .notice", { hasText: /viewer/i }).waitFor({ timeout: 10_000 });
  await guestRow.locator(".role", { hasText: "viewer" }).waitFor();
  await run(guest, "echo guest-types-2");
  await page.waitForTimeout(700);
  assert.ok(!(await screenText(page)).includes("guest-types-2"), "a viewer's typing never reaches the shell");
  await shot(guest, "53-guest-made-viewer");

  await guestRow.locator(".set-role", { hasText: "Make writer" }).click();
  await guest.locator(".statusbar .notice", { hasText: /let you type/ }).waitFor({ timeout: 10_000 });
  await run(guest, "echo guest-types-3");
  await waitForScreen(page, hasLine("guest-types-3"), "the guest's command after being made writer again");

  await row.locator(".revoke").click();
  await guest.locator('.statusbar [data-link="closed"]').waitFor({ timeout: 10_000 });
  await page.locator(".share-panel .empty", { hasText: "No links" }).waitFor();
  await page.waitForFunction(() => !document.querySelector(".share-panel .people").textContent.includes("guest"));
  await shot(guest, "54-guest-link-revoked");
  await guest.context().close();
  await page.locator(".share-panel .share-close").click();
});

test("Ctrl+Break from the key bar stops a running command", async () => {
  const url = new URL(page.url());
  url.searchParams.set("keybar", "1");
  await page.goto(url.href);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await run(page, "sleep 600");
  await page.waitForTimeout(600);
  await page.locator(".keybar .break").click();
  await run(page, "echo after-break");
  await waitForScreen(page, (t) => t.split("\n").some((l) => /(^|>)after-break$/.test(l.trim())),
    "output of the command after Ctrl+Break", 10_000);
  await shot(page, "55-after-ctrl-break");
});

test("a recorded session is listed, downloadable, and replays; seeking to the end shows its output", async () => {
  await run(page, "echo recorded-$((6*7))-marker");
  await waitForScreen(page, hasLine("recorded-42-marker"), "the command's output");
  await run(page, "exit 0");
  await page.locator(".statusbar .exit").waitFor({ timeout: 15_000 });

  await page.locator(".topbar .recordings-link").click();
  await page.waitForURL((u) => u.pathname === "/recordings");
  const item = page.locator(`.recording-list li[data-recording="${sessionId}"]`);
  await item.waitFor({ timeout: 10_000 });
  assert.match(await item.innerText(), /rec/);
  const href = await item.locator("a.download").getAttribute("href");
  const cast = await page.request.get(relay.url + href);
  assert.equal(cast.status(), 200);
  assert.match(await cast.text(), /recorded-42-marker/);
  await shot(page, "56-recordings");

  await item.locator(".replay").click();
  await page.waitForURL((u) => u.pathname === `/recordings/${sessionId}`);
  await page.locator(".replay .play:not([disabled])").waitFor({ timeout: 10_000 });
  await page.locator(".replay .speed").selectOption("8");
  // Pause, then seek to the end: everything up to then is written at once.
  if ((await page.locator(".replay .play").innerText()) === "Pause") await page.locator(".replay .play").click();
  const seek = (where) => page.locator(".replay .seek").evaluate((el, w) => {
    el.value = w === "end" ? el.max : "0";
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }, where);
  await seek("end");
  await waitForScreen(page, hasLine("recorded-42-marker"), "the recorded output after seeking to the end", 5_000);
  await shot(page, "57-replay-at-end");
  await seek("start");
  await page.waitForFunction(() => ![...document.querySelectorAll(".xterm-rows > div")]
    .some((r) => r.textContent.includes("recorded-42-marker")), null, { timeout: 5_000 });
  // Playing at 8x gets there again.
  await page.locator(".replay .play").click();
  await waitForScreen(page, hasLine("recorded-42-marker"), "the output when played at 8x", 20_000);
  assert.deepEqual(page.errors, []);
});

test("signing out returns to the sign-in form", async () => {
  await page.goto(relay.url + "/?renderer=dom");
  await page.locator(".topbar .signout").click();
  await page.locator(".picker .signin").waitFor({ timeout: 10_000 });
  const me = await page.request.get(relay.url + "/api/me");
  assert.equal(me.status(), 401);
  await shot(page, "58-signed-out");
});
