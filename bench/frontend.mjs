// Time from opening the page to the first prompt, in headless Debian chromium driven by
// playwright-core (as the browser tests do). Prints one JSON object.
//
//   node bench/frontend.mjs BASE_URL COOKIE [RUNS]    (COOKIE: `name=value` of a sign-in)
//
// Each run, already signed in: open `/` (the target picker), open the demo target, wait until
// the terminal shows a prompt (`...>`); then reload the session's page and wait for the
// prompt again. The DOM renderer (`?renderer=dom`) is used so the terminal's text can be read.
import { chromium } from "playwright-core";

const [base, cookie, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const promptShown = () =>
  Array.from(document.querySelectorAll(".xterm-rows > div"))
    .map((r) => r.textContent.replace(/\u00a0/g, " ").trimEnd())
    .some((l) => />\s*$/.test(l));

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { browser: `chromium ${browser.version()}`, runs };
try {
  const fresh = [], picker = [], reload = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    const page = await context.newPage();
    const eq = cookie.indexOf("=");
    await context.addCookies([{ name: cookie.slice(0, eq), value: cookie.slice(eq + 1), url: base }]);

    let t0 = performance.now();
    await page.goto(new URL("/?renderer=dom", base).href);
    const open = page.locator(".targets li .open").first();
    await open.waitFor({ timeout: 15_000 });
    picker.push(performance.now() - t0);
    await open.click();
    await page.waitForFunction(promptShown, null, { polling: 5, timeout: 20_000 });
    fresh.push(performance.now() - t0);

    t0 = performance.now();
    await page.reload();
    await page.waitForFunction(promptShown, null, { polling: 5, timeout: 20_000 });
    reload.push(performance.now() - t0);
    await context.close();
  }
  Object.assign(result, {
    open_to_picker_ms: Math.round(median(picker)),
    open_to_prompt_new_session_ms: Math.round(median(fresh)),
    reload_to_prompt_ms: Math.round(median(reload)),
    samples: { picker, fresh, reload },
  });
} catch (e) {
  result.error = String(e).split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
