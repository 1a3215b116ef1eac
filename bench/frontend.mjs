// Time from opening the page to the first prompt, in headless Debian chromium driven by
// playwright-core (as the browser tests do). Prints one JSON object.
//
//   node bench/frontend.mjs BASE_URL COOKIE [RUNS]    (COOKIE: `name=value` of a sign-in)
//
// Each run, already signed in, does two things, each in a fresh browser context:
//
// * As a person would feel it (the headline, `page_to_prompt_ms`), measured inside the page:
//   open `/` (the target picker); the moment its Open button is on screen, a script inside the
//   page clicks it (a DOM click, dispatched after the frame that paints the button), and the
//   time is taken when the prompt (`...>`) is on screen. Times count from the navigation's
//   start (`performance.now()`), so no round trip between this script and the browser sits
//   in the middle. Then the session's page is reloaded and timed the same way.
// * As the harness sees it (`page_to_prompt_harness_ms`): `page.goto` (waits for the load
//   event), wait for Open, Playwright's click, poll for the prompt every 5 ms; then reload.
//   These include Playwright's round trips (about 140 ms on the bench machine); they are kept
//   to compare with earlier results.
//
// "On screen" is the frame that paints it: the DOM change, when made inside an animation frame
// (xterm.js renders in one), or the next animation frame after it.
// The DOM renderer (`?renderer=dom`) is used so the terminal's text can be read.
// `breakdown_ms` says where the time of the in-page runs went.
import { chromium } from "playwright-core";

const [base, cookie, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const promptShown = () =>
  Array.from(document.querySelectorAll(".xterm-rows > div"))
    .map((r) => r.textContent.replace(/\u00a0/g, " ").trimEnd())
    .some((l) => />\s*$/.test(l));

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// Runs in the page before its own scripts. Marks (ms since the navigation started) when
// things happen: the picker's Open button and the prompt, in the DOM and on screen
// (`..._painted`), the click, the WebSocket's creation, `open`, the relay's welcome and first
// output frame. With `autoClick`, clicks Open once it is on screen. Says on the console when
// the prompt is on screen (see `inPage`).
const watch = ({ autoClick }) => {
  const t = (globalThis.__bench = {});
  const done = () => console.log("winrelay-bench: prompt shown");
  const mark = (k) => { if (!(k in t)) t[k] = performance.now(); };
  const WS = WebSocket;
  globalThis.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      mark("ws_new");
      this.addEventListener("open", () => mark("ws_open"));
      this.addEventListener("message", (e) => mark(typeof e.data === "string" ? "welcome" : "first_output"));
    }
  };
  document.addEventListener("click", () => mark("click"), true);

  const openButton = () => document.querySelector(".targets li .open");
  const promptRow = () =>
    Array.from(document.querySelectorAll(".xterm-rows > div"))
      .some((r) => />\s*$/.test(r.textContent.replace(/\u00a0/g, " ").trimEnd()));
  const raf = globalThis.requestAnimationFrame.bind(globalThis);
  // `k` is in the DOM now; it is on screen after this frame (`inFrame`: the change was made by
  // an animation frame callback, the paint follows it) or the next one.
  const seen = (k, inFrame, then) => {
    if (k in t) return;
    mark(k);
    const painted = () => { mark(k + "_painted"); then?.(); };
    if (inFrame) painted(); else raf(painted);
  };
  const look = (inFrame) => {
    if (!("picker" in t) && openButton()) {
      // The click comes in a task of its own, after the frame that paints the button.
      seen("picker", inFrame, autoClick ? () => setTimeout(() => openButton()?.click(), 0) : undefined);
    }
    // The prompt counts on the session's page only (`/s/ID`, where the click leads).
    if (!("prompt" in t) && location.pathname.startsWith("/s/") && promptRow()) {
      seen("prompt", inFrame, () => done());
    }
  };
  // Animation frame callbacks (xterm.js renders in them) are followed by a look, inside the
  // same frame; other DOM changes are seen by the observer.
  globalThis.requestAnimationFrame = (cb) => raf((ts) => { try { cb(ts); } finally { look(true); } });
  new MutationObserver(() => look(false))
    .observe(document, { childList: true, subtree: true, characterData: true });
};

// The in-page timeline of one run (see `watch`), ms.
const steps = () => {
  const t = globalThis.__bench;
  const m = Object.fromEntries(performance.getEntriesByType("mark").map((e) => [e.name.replace("winrelay:", ""), e.startTime]));
  const post = performance.getEntriesByType("resource").find((r) => r.name.endsWith("/api/sessions") && r.startTime >= t.click);
  const at = (x) => (x === undefined ? null : Math.round(x));
  const d = (a, b) => (a === undefined || b === undefined ? null : Math.round(b - a));
  return {
    // Since the navigation started.
    boot_js_ran: at(m.boot), xterm_loaded: at(m.xterm), wasm_compiled: at(m["wasm-compiled"]),
    app_started: at(m.started), picker_shown: at(t.picker_painted), click: at(t.click),
    prompt_shown: at(t.prompt_painted),
    // From the click, step by step.
    click_to_post: d(t.click, post?.startTime), post_sessions: d(post?.startTime, post?.responseEnd),
    post_to_socket: d(post?.responseEnd, t.ws_new), socket_handshake: d(t.ws_new, t.ws_open),
    open_to_welcome: d(t.ws_open, t.welcome), welcome_to_output: d(t.welcome, t.first_output),
    output_to_prompt: d(t.first_output, t.prompt_painted), click_to_prompt: d(t.click, t.prompt_painted),
  };
};

// Runs `go` (a navigation), waits until the page says its prompt is on screen, then reads
// the timeline. The wait listens to the console: evaluating anything in the page before then
// (Playwright's first evaluation injects its utility script, about 25 ms of the page's main
// thread) would slow down the very run it measures.
const inPage = async (page, go) => {
  const shown = page.waitForEvent("console", { predicate: (m) => m.text() === "winrelay-bench: prompt shown", timeout: 20_000 });
  await go();
  await shown;
  return page.evaluate(steps);
};

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { browser: `chromium ${browser.version()}`, runs };
try {
  const felt = [], feltReload = [], breakdown = [];
  const picker = [], fresh = [], reload = [];
  const eq = cookie.indexOf("=");
  const context = async (autoClick) => {
    const c = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    await c.addInitScript(watch, { autoClick });
    await c.addCookies([{ name: cookie.slice(0, eq), value: cookie.slice(eq + 1), url: base }]);
    return c;
  };
  for (let i = 0; i < runs; i++) {
    // As a person feels it: the page clicks Open itself.
    let c = await context(true);
    let page = await c.newPage();
    const b = await inPage(page, () => page.goto(new URL("/?renderer=dom", base).href));
    breakdown.push(b);
    felt.push(b.prompt_shown);
    feltReload.push((await inPage(page, () => page.reload())).prompt_shown);
    await c.close();

    // As the harness sees it.
    c = await context(false);
    page = await c.newPage();
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
    await c.close();
  }
  const med = (k) => median(breakdown.map((b) => b[k]).filter((v) => v !== null)) ?? null;
  Object.assign(result, {
    // The headline: navigation start → prompt on screen, the click made inside the page.
    page_to_prompt_ms: Math.round(median(felt)),
    picker_usable_ms: med("picker_shown"),
    reload_to_prompt_ms: Math.round(median(feltReload)),
    // The same through Playwright's round trips (goto, waitFor, click, polling).
    page_to_prompt_harness_ms: Math.round(median(fresh)),
    picker_harness_ms: Math.round(median(picker)),
    reload_to_prompt_harness_ms: Math.round(median(reload)),
    // Medians of each step of the in-page runs (see `steps`).
    breakdown_ms: Object.fromEntries(Object.keys(breakdown[0] || {}).map((k) => [k, med(k)])),
    samples: { felt, felt_reload: feltReload, picker_harness: picker, fresh_harness: fresh, reload_harness: reload },
  });
} catch (e) {
  result.error = String(e).split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
