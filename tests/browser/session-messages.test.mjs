// Messages that say what happened in the session view (issue 19): a guest removed by the
// owner, or whose share link was revoked, reads one clear message (live and after a reload)
// and is not offered a shell they cannot open; a session the relay ended says why, never
// "connected" beside "exited".
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, openDemo, run, shot, signInAndOpenDemo, startRelay, waitForScreen } from "./lib.mjs";

let relay;
let browser;
let owner;
before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  owner = await newPage(browser);
  await signInAndOpenDemo(owner, relay);
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** A fresh session of the owner's and a guest (own browser context) in it by a writer link. */
async function guestInNewSession() {
  const id = await openDemo(owner, relay.url);
  await owner.locator(".statusbar .share-writer").click();
  const link = new URL(await owner.locator(".sharebox .share-url").inputValue());
  link.searchParams.set("renderer", "dom");
  const guest = await newPage(browser);
  await guest.goto(link.href);
  await guest.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  return { id, guest };
}

const card = (page) => page.locator(".overlay.lost .card");

async function assertOneMessage(page, text) {
  await card(page).locator(".share-ended", { hasText: text }).waitFor({ timeout: 15_000 });
  const all = await card(page).innerText();
  assert.doesNotMatch(all, /Signed out|Not signed in|no longer exists/, all);
  assert.equal(await page.locator(".signin").count(), 0, "no sign-in form: signing in would not help");
  assert.equal(await page.locator(".new-shell").count(), 0, "a guest cannot open a shell");
}

test("a guest the owner removes reads why, live and after a reload, and is offered no new shell", async () => {
  const { guest } = await guestInNewSession();
  await owner.locator(".statusbar .who .kick").first().click();
  await assertOneMessage(guest, "The session's owner removed you.");
  await shot(guest, "67-guest-removed");
  await guest.reload();
  await assertOneMessage(guest, "The session's owner removed you from this session.");
  await guest.context().close();
});

test("a writer whose link was revoked reloads and reads one message, while the session runs on", async () => {
  const { id, guest } = await guestInNewSession();
  const shares = await (await owner.request.get(`${relay.url}/api/sessions/${id}/shares`)).json();
  assert.equal(shares.length, 1);
  const revoked = await owner.request.delete(`${relay.url}/api/sessions/${id}/shares/${shares[0].id}`, { headers: { "X-Winrelay": "1" } });
  assert.equal(revoked.status(), 204);
  await assertOneMessage(guest, "The share link was revoked.");
  await guest.reload();
  // The relay tells a revoked link (410 share_ended) from a session that is gone.
  await assertOneMessage(guest, "This share link no longer works: it was revoked or it expired.");
  assert.doesNotMatch(await card(guest).innerText(), /session ended/);
  await shot(guest, "68-revoked-link-reloaded");
  // The owner's session is unaffected.
  await run(owner, "echo still-running");
  await waitForScreen(owner, (t) => t.split("\n").some((l) => l.trim() === "still-running"), "the owner's session running on");
  await guest.context().close();
});

test("when the shell exits a guest is not offered a new shell; the owner is", async () => {
  const { guest } = await guestInNewSession();
  await run(guest, "exit 0");
  await guest.locator(".statusbar .exit", { hasText: "exited with code 0" }).waitFor({ timeout: 15_000 });
  await owner.locator(".statusbar .exit").waitFor({ timeout: 15_000 });
  await owner.locator(".statusbar .new-shell").waitFor();
  assert.equal(await guest.locator(".new-shell").count(), 0);
  assert.notEqual(await guest.locator(".statusbar [data-link]").innerText(), "connected");
  await guest.context().close();
});

test("a session the relay ended says why, and not \"connected\" beside it", async () => {
  const page = await newPage(browser);
  await page.context().addCookies(await owner.context().cookies());
  let socket;
  await page.routeWebSocket(/\/api\/sessions\/[^/]+\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => ws.send(m));
    socket = ws;
  });
  await openDemo(page, relay.url);
  // As the relay reports an idle timeout (the reason comes with the PowerShell console work).
  socket.send(JSON.stringify({ type: "status", state: "exited", code: -1, reason: "nobody was attached for 30 min" }));
  const exit = page.locator(".statusbar .exit");
  await exit.waitFor({ timeout: 5_000 });
  assert.equal(await exit.innerText(), "ended: nobody was attached for 30 min (exit code -1)");
  assert.equal(await page.locator(".statusbar [data-link]").innerText(), "shell ended");
  assert.equal(await page.locator(".statusbar .state.ok").count(), 0);
  await page.locator(".statusbar .new-shell").waitFor();
  await shot(page, "69-ended-with-reason");
  await page.close();
});
