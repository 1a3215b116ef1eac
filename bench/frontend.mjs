// Time from opening the page to the first prompt, in headless Debian chromium driven by
// playwright-core (as the browser tests do). Prints one JSON object.
//
//   node bench/frontend.mjs BASE_URL COOKIE [RUNS]    (COOKIE: `name=value` of a sign-in)
//
// Each run, already signed in: open `/` (the target picker), open the demo target, wait until
// the terminal shows a prompt (`...>`); then reload the session's page and wait for the
// prompt again. The DOM renderer (`?renderer=dom`) is used so the terminal's text can be read.
// `breakdown_ms` says where the time of the new-session runs went, measured inside the page.
import { chromium } from "playwright-core";

const [base, cookie, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const promptShown = () =>
  Array.from(document.querySelectorAll(".xterm-rows > div"))
    .map((r) => r.textContent.replace(/\u00a0/g, " ").trimEnd())
    .some((l) => />\s*$/.test(l));

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// Where the time goes, from inside the page (ms since its navigation started): boot.js's
// marks (boot, xterm, glue, wasm-compiled, started), the picker's first row, and from the
// click on Open: the POST /api/sessions, the WebSocket's handshake, the relay's welcome, its
// first output frame, and the prompt on screen.
const watch = () => {
  const t = (globalThis.__bench = {});
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
  new MutationObserver(() => {
    if (document.querySelector(".targets li .open")) mark("picker");
    if ("click" in t && !("prompt" in t)) {
      const rows = document.querySelectorAll(".xterm-rows > div");
      if (Array.from(rows).some((r) => />\s*$/.test(r.textContent.replace(/\u00a0/g, " ").trimEnd()))) mark("prompt");
    }
  }).observe(document, { childList: true, subtree: true, characterData: true });
};
const steps = () => {
  const t = globalThis.__bench;
  const m = Object.fromEntries(performance.getEntriesByType("mark").map((e) => [e.name.replace("winrelay:", ""), e.startTime]));
  const post = performance.getEntriesByType("resource").find((r) => r.name.endsWith("/api/sessions") && r.startTime >= t.click);
  const at = (x) => (x === undefined ? null : Math.round(x));
  const d = (a, b) => (a === undefined || b === undefined ? null : Math.round(b - a));
  return {
    boot_js_ran: at(m.boot), xterm_loaded: at(m.xterm), wasm_compiled: at(m["wasm-compiled"]),
    app_started: at(m.started), picker_shown: at(t.picker),
    click_to_post: d(t.click, post?.startTime), post_sessions: d(post?.startTime, post?.responseEnd),
    post_to_socket: d(post?.responseEnd, t.ws_new), socket_handshake: d(t.ws_new, t.ws_open),
    open_to_welcome: d(t.ws_open, t.welcome), welcome_to_output: d(t.welcome, t.first_output),
    click_to_prompt: d(t.click, t.prompt),
  };
};

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { browser: `chromium ${browser.version()}`, runs };
try {
  const fresh = [], picker = [], reload = [], breakdown = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    await context.addInitScript(watch);
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
    await page.evaluate(() => { globalThis.__bench.prompt ??= performance.now(); });
    breakdown.push(await page.evaluate(steps));

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
    // Medians of each step of the new-session runs (see `steps`).
    breakdown_ms: Object.fromEntries(Object.keys(breakdown[0] || {}).map((k) => [k, median(breakdown.map((b) => b[k]).filter((v) => v !== null)) ?? null])),
    samples: { picker, fresh, reload },
  });
} catch (e) {
  result.error = String(e).split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
