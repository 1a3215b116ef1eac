// Issue 16: the picker groups discovered tasks by service (node, image, state, uptime), and a
// service's fleet view lists its tasks with reachability and open sessions. No Docker here:
// the page's /api/targets answer is replaced with targets that carry discovery's facts (the
// relay's side of them is tested in-process and in tests/docker/e2e.sh); sessions are real.
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

const ago = (secs) => new Date(Date.now() - secs * 1000).toISOString();
const task = (name, slot, facts) => ({
  name, description: "", shell: "cmd", role: "writer", ask_credentials: false,
  service: name.split(".")[0], slot, image: "winapp:ltsc2022", state: "running", ...facts,
});
const TASKS = [
  task("web.2", 2, { node: "n0d3b", started_at: ago(2 * 3600 + 5 * 60 + 7), reachable: false }),
  task("web.1", 1, { node: "n0d3a", started_at: ago(3 * 86400 + 4 * 3600 + 1), reachable: true }),
  task("db.1", 1, { node: "n0d3a", image: "sql:2022", started_at: ago(65), reachable: true }),
];

let cookies;
/** A signed-in page whose /api/targets adds the tasks to the relay's real list, and whose
 *  /api/sessions shows the real demo sessions as sessions of web.2. */
async function fleetPage() {
  const page = await newPage(browser, { viewport: { width: 1280, height: 720 } });
  if (!cookies) {
    // The login link works once: later pages get its cookie.
    await page.goto(relay.login);
    await page.waitForURL((u) => u.pathname === "/");
    cookies = await page.context().cookies();
  } else {
    await page.context().addCookies(cookies);
  }
  await page.route("**/api/targets", async (route) => {
    const real = await (await route.fetch()).json();
    await route.fulfill({ json: [...real, ...TASKS] });
  });
  await page.route("**/api/sessions", async (route) => {
    if (route.request().method() !== "GET") return route.continue();
    const real = await (await route.fetch()).json();
    await route.fulfill({ json: real.map((s) => ({ ...s, target: "web.2" })) });
  });
  return page;
}

test("the picker groups tasks by service with node, image, state and uptime", async () => {
  const page = await fleetPage();
  await page.goto(`${relay.url}/?renderer=dom`);
  const web = page.locator('.picker section.service[data-service="web"]');
  await web.waitFor({ timeout: 15_000 });
  // Services by name; configured targets stay in the first list, outside any group.
  assert.deepEqual(await page.locator(".picker section.service").evaluateAll(
    (s) => s.map((e) => e.dataset.service)), ["db", "web"]);
  assert.deepEqual(await page.locator(".picker > .card > ul.targets > li[data-target]").evaluateAll(
    (l) => l.map((e) => e.dataset.target)), ["demo", "demo-ps"]);
  // Tasks by slot, each saying where it runs and for how long.
  assert.deepEqual(await web.locator("li[data-target]").evaluateAll(
    (l) => l.map((e) => e.dataset.target)), ["web.1", "web.2"]);
  assert.match(await web.locator("h3").innerText(), /service web\s+2 tasks · 1 reachable/);
  const web2 = await web.locator('li[data-target="web.2"]').innerText();
  assert.match(web2, /node n0d3b · winapp:ltsc2022 · running · up 2 h 5 min/);
  assert.match(web2, /unreachable/);
  assert.match(await web.locator('li[data-target="web.1"]').innerText(), /up 3 d 4 h/);
  assert.match(await page.locator('li[data-target="db.1"]').innerText(), /sql:2022 · running · up 1 min/);
  // The filter still finds a task by name.
  await page.locator('.picker input[type="search"]').fill("db.");
  await page.locator('.picker section.service[data-service="web"]').waitFor({ state: "detached" });
  assert.equal(await page.locator('li[data-target="db.1"]').count(), 1);
  await shot(page, "60-picker-services");
  assert.deepEqual(page.errors, []);
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.context().close();
});

test("a service's fleet view lists its tasks with reachability and open sessions", async () => {
  const page = await fleetPage();
  // A real session, shown as a session of web.2.
  await page.goto(`${relay.url}/open/demo?renderer=dom`);
  await page.waitForURL(/\/s\/[^/?]+/);
  const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop());
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });

  await page.goto(`${relay.url}/?renderer=dom`);
  await page.locator('section.service[data-service="web"] button.fleet-link').click();
  await page.waitForURL((u) => u.pathname === "/fleet/web");
  const fleet = page.locator('.fleet[data-service="web"]');
  await fleet.locator('li[data-target="web.1"]').waitFor({ timeout: 15_000 });
  assert.deepEqual(await fleet.locator("li[data-target]").evaluateAll(
    (l) => l.map((e) => e.dataset.target)), ["web.1", "web.2"], "only web's tasks, by slot");
  assert.match(await fleet.locator(".summary").innerText(), /2 tasks, 1 reachable, 1 open session/);
  const web1 = fleet.locator('li[data-target="web.1"]');
  assert.match(await web1.innerText(), /reachable[\s\S]*node n0d3a[\s\S]*no session/);
  const web2 = fleet.locator('li[data-target="web.2"]');
  assert.match(await web2.innerText(), /unreachable/);
  await shot(page, "61-fleet-view");
  // Join goes to the session.
  await web2.locator(`button.join[data-session="${id}"]`).click();
  await page.waitForURL((u) => u.pathname === `/s/${encodeURIComponent(id)}`);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });

  // The fleet view's address works on its own (reload), and "All targets" leads back.
  await page.goto(`${relay.url}/fleet/web?renderer=dom`);
  await fleet.locator('li[data-target="web.2"]').waitFor({ timeout: 15_000 });
  await page.keyboard.type("web.2");
  await fleet.locator('li[data-target="web.1"]').waitFor({ state: "detached" });
  await fleet.locator("button.back").click();
  await page.waitForURL((u) => u.pathname === "/");
  assert.deepEqual(page.errors, []);
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.context().close();
});
