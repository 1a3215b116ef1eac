// The browser part of tests/docker/e2e.sh: Debian's chromium (playwright-core, as the browser
// tests) opens the relay's page, picks TARGET in the picker, types LINE and waits for EXPECT
// on the terminal. Signed in with an API token sent as a header on every request (the page's
// own requests and its WebSocket). Prints "BROWSER-OK" or "FAIL reason".
//   node browser.mjs BASE TOKEN TARGET LINE EXPECT
import { chromium } from "playwright-core";

const [, , base, token, target, line, expect] = process.argv;
const fail = (m) => { console.log(`FAIL ${m}`); process.exit(1); };
setTimeout(() => fail("timed out"), Number(process.env.BROWSER_TIMEOUT_MS || 90000)).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({
    viewport: { width: 1000, height: 640 },
    extraHTTPHeaders: { Authorization: `Bearer ${token}` },
  });
  const page = await context.newPage();
  await page.goto(`${base}/?renderer=dom`);
  const open = page.locator(`.targets li[data-target="${target}"] .open`);
  await open.waitFor({ timeout: 30_000 }).catch(() => fail(`the picker does not offer ${target}`));
  await open.click();
  await page.waitForURL(/\/s\/[^/?]+/, { timeout: 30_000 }).catch(() => fail("no session page"));
  const screen = () => page.evaluate(() => Array.from(document.querySelectorAll(".xterm-rows > div"))
    .map((r) => r.textContent.replace(/\u00a0/g, " ").trimEnd()).join("\n"));
  await page.waitForFunction(() => Array.from(document.querySelectorAll(".xterm-rows > div"))
    .some((r) => />\s*$/.test(r.textContent.replace(/\u00a0/g, " "))), null, { timeout: 30_000 })
    .catch(async () => fail(`no prompt; the terminal shows: ${JSON.stringify(await screen())}`));
  await page.locator(".term .xterm").click();
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
  await page.waitForFunction((want) => Array.from(document.querySelectorAll(".xterm-rows > div"))
    .some((r) => r.textContent.replace(/\u00a0/g, " ").includes(want)), expect, { timeout: 30_000 })
    .catch(async () => fail(`${JSON.stringify(expect)} never shown; the terminal shows: ${JSON.stringify(await screen())}`));
  console.log(`session ${new URL(page.url()).pathname.split("/")[2]}`);
  console.log("BROWSER-OK");
} finally {
  await browser.close();
}
