// An automated accessibility scan (axe-core) of the home page, a session, the sharing panel and
// the sign-in page, in both themes: no serious or critical violations.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, shot, startRelay } from "./lib.mjs";

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let relay;
let browser;
let cookies;
before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** Serious and critical violations on the page as it is now. */
async function scan(page) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")} ${n.failureSummary?.split("\n")[1] || ""}`).join("\n    ")}`);
  });
  return violations;
}

async function signedIn(theme) {
  const page = await newPage(browser, { viewport: { width: 1280, height: 720 }, bypassCSP: true });
  if (!cookies) {
    await page.goto(relay.login);
    await page.waitForURL((u) => u.pathname === "/");
    cookies = await page.context().cookies();
  } else {
    await page.context().addCookies(cookies);
  }
  await page.addInitScript((t) => localStorage.setItem("winrelay.theme", t), theme);
  return page;
}

for (const theme of ["dark", "light"]) {
  test(`no serious accessibility violations: sign-in page, home, session, sharing (${theme})`, async () => {
    const anon = await newPage(browser, { viewport: { width: 1280, height: 720 }, bypassCSP: true });
    await anon.addInitScript((t) => localStorage.setItem("winrelay.theme", t), theme);
    await anon.goto(`${relay.url}/?renderer=dom`);
    await anon.locator(".picker .signin-error").waitFor({ timeout: 20_000 });
    const found = { signin: await scan(anon) };
    await anon.context().close();

    const page = await signedIn(theme);
    await page.goto(`${relay.url}/?renderer=dom`);
    await page.locator(".targets li .open").first().waitFor({ timeout: 15_000 });
    found.home = await scan(page);
    await page.goto(`${relay.url}/open/demo?renderer=dom`);
    await page.waitForURL(/\/s\/[^/?]+/);
    await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
    await page.keyboard.type("dir\r");
    await page.waitForTimeout(500);
    found.session = await scan(page);
    await page.locator(".statusbar button.sharing").click();
    await page.locator(".share-panel").waitFor();
    found.sharing = await scan(page);
    await shot(page, `94-a11y-sharing-${theme}`);
    await page.context().close();
    const all = Object.entries(found).filter(([, v]) => v.length).map(([k, v]) => `${k}:\n  ${v.join("\n  ")}`);
    assert.deepEqual(all, [], all.join("\n"));
  });
}
