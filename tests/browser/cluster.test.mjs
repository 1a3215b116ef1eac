// Several relays (issue 15): a browser attached to a relay that is not the session's owner
// keeps its shell while the owner dies. Real relays, a real redis-server, the simulator.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  hasLine, launchBrowser, newPage, openDemo, run, shot, startRelay, startSim, waitForScreen,
} from "./lib.mjs";

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
});

let redis;
let sim;
let a;
let b;
let browser;
before(async () => {
  const port = await freePort();
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
    "--dir", mkdtempSync(join(tmpdir(), "winrelay-redis-"))], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 300));
  sim = await startSim("svc", "browser-cluster-pw");
  const config = `[[target]]\nname = "box"\nendpoint = "${sim.endpoint}"\nuser = "svc"\npassword_env = "BOX_PW"\npin = "${sim.fingerprint}"\n\n`
    + `[cluster]\nredis = "redis://127.0.0.1:${port}/0"\nlease = "1500ms"\n`;
  const env = { BOX_PW: "browser-cluster-pw" };
  a = await startRelay("127.0.0.1:0", { config, env });
  b = await startRelay("127.0.0.1:0", { config, env });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await a?.stop();
  await b?.stop();
  await sim?.stop();
  redis?.kill("SIGKILL");
});

test("a browser on relay B keeps its shell while relay A, the owner, dies", async () => {
  const page = await newPage(browser);
  // Signed in through B; the sign-in works on A too (one cluster).
  const login = new URL(b.login);
  await page.goto(new URL(login.pathname + login.search, b.url).href);
  await page.waitForURL((u) => u.pathname === "/");
  // The session is opened on A (A owns it) ...
  const onA = await page.context().newPage();
  onA.errors = [];
  const id = await openDemo(onA, a.url);
  await run(onA, "echo opened-on-a");
  await waitForScreen(onA, hasLine("opened-on-a"), "output on A");
  await onA.close();
  // ... and used through B.
  await page.goto(new URL(`/s/${id}?renderer=dom`, b.url).href);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(page, hasLine("opened-on-a"), "B shows what was typed on A");
  await run(page, "echo typed-on-b-$((20+1))");
  await waitForScreen(page, hasLine("typed-on-b-21"), "an answer through B");

  a.proc.kill("SIGKILL");
  const killed = Date.now();
  await run(page, "echo after-the-owner-died-$((40+2))");
  const text = await waitForScreen(page, hasLine("after-the-owner-died-42"), "an answer after A died", 30_000);
  console.log(`answered ${Date.now() - killed} ms after kill -9 of the owner`);
  assert.equal(text.split("\n").filter((l) => l.trim() === "typed-on-b-21").length, 1, `earlier output once:\n${text}`);
  assert.equal(await page.locator('.statusbar [data-link="connected"]').count(), 1, "still connected");
  assert.equal(new URL(page.url()).pathname, `/s/${id}`, "the same session");
  assert.deepEqual(page.errors, [], "no page errors");
  await shot(page, "90-cluster-owner-died");
});
