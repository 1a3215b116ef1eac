// Helpers of the browser tests: the real relay, Debian's chromium through playwright-core,
// a cuttable TCP proxy, reading the terminal from xterm.js's DOM renderer, screenshots.
import { execFileSync, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { inflateSync } from "node:zlib";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const OUT = join(ROOT, "test-output/browser");
mkdirSync(OUT, { recursive: true });

const BIN = resolve(ROOT, process.env.WINRELAY_BIN || "target/debug/winrelay");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/**
 * Starts `winrelay serve` (the built-in demo, or `opts.config`: TOML text written to a fresh
 * directory, where `@DIR@` stands for that directory); resolves once it printed its URLs.
 */
export async function startRelay(listen = "127.0.0.1:0", opts = {}) {
  // The relay keeps sign-ins under HOME (~/.local/state/winrelay): a restart that passes the
  // same stateDir keeps people signed in.
  const stateDir = opts.stateDir || mkdtempSync(join(tmpdir(), "winrelay-test-"));
  const args = ["serve", "--listen", listen];
  if (opts.config) {
    const path = join(stateDir, "relay.toml");
    writeFileSync(path, opts.config.replaceAll("@DIR@", stateDir));
    args.push("--config", path);
  }
  const proc = spawn(BIN, args, {
    cwd: ROOT,
    env: { ...process.env, ...(opts.env || {}), HOME: stateDir, RUST_LOG: process.env.RUST_LOG || "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; if (stderr.length > 100_000) stderr = stderr.slice(-50_000); });
  const lines = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`relay did not start in 30 s: ${out}\n${stderr}`)), 30_000);
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`relay exited with ${code}: ${out}\n${stderr}`)); });
    proc.stdout.on("data", (d) => {
      out += d;
      const listening = out.match(/listening: (http:\/\/\S+)/);
      const open = out.match(/open: (http:\/\/\S+)/);
      if (listening && open) { clearTimeout(timer); resolve({ url: listening[1], login: open[1] }); }
    });
  });
  proc.removeAllListeners("exit");
  return {
    proc,
    dir: stateDir,
    url: lines.url,
    port: Number(new URL(lines.url).port),
    login: lines.login,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Starts `winrelay sim` on loopback; resolves with its endpoint and certificate fingerprint. */
export async function startSim(user, password) {
  const proc = spawn(BIN, ["sim", "--listen", "127.0.0.1:0", "--user", user, "--password-env", "SIM_PW"], {
    cwd: ROOT,
    env: { ...process.env, SIM_PW: password },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stderr.resume();
  const found = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`simulator did not start: ${out}`)), 30_000);
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`simulator exited with ${code}: ${out}`)); });
    proc.stdout.on("data", (d) => {
      out += d;
      const ep = out.match(/endpoint: (\S+)/);
      const fp = out.match(/fingerprint: (\S+)/);
      if (ep && fp) { clearTimeout(timer); resolve({ endpoint: ep[1], fingerprint: fp[1] }); }
    });
  });
  proc.removeAllListeners("exit");
  return {
    ...found,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

/** An argon2 hash of `password` for a `[[user]]` entry (`winrelay hash-password`). */
export function hashPassword(password) {
  return execFileSync(BIN, ["hash-password"], { input: password }).toString().trim();
}

/** An HS256 JWT, as a portal's backend signs an embed token. */
export function signJwt(claims, secret) {
  const b64 = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

/** A TCP proxy in front of the relay that a test can cut (a network drop) and restore. */
export async function startProxy(targetPort) {
  const sockets = new Set();
  let server;
  let port = 0;
  const listen = () => new Promise((res, rej) => {
    server = net.createServer((client) => {
      const upstream = net.connect(targetPort, "127.0.0.1");
      for (const s of [client, upstream]) { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => {}); }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    server.once("error", rej);
    server.listen(port, "127.0.0.1", () => { port = server.address().port; res(); });
  });
  await listen();
  return {
    get port() { return port; },
    async cut() {
      await new Promise((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); });
    },
    restore: listen,
    async close() { await this.cut(); },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright gives every launch a fresh temporary profile (user-data-dir).
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A new context+page; logs page errors so a failure says why. */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 }, ...opts });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  // HTTP errors the app handles (401 before sign-in) also log "Failed to load resource".
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.errors.push(m.text()); });
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: join(OUT, `${name}.png`) });
}

/** The terminal's visible rows as text (DOM renderer: `?renderer=dom`). */
export async function screenText(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll(".xterm-rows > div"))
      .map((r) => r.textContent.replace(/\u00a0/g, " ").trimEnd())
      .join("\n"));
}

/** Waits until `pred(text)` holds for the terminal's text; fails with what it showed. */
export async function waitForScreen(page, pred, what, timeout = 15_000) {
  const end = Date.now() + timeout;
  let text = "";
  while (Date.now() < end) {
    text = await screenText(page);
    if (pred(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`terminal never showed ${what}; it shows:\n${text}\npage errors: ${page.errors.join("\n")}`);
}

export const hasLine = (line) => (text) => text.split("\n").some((l) => l.trim() === line);

/** Types a command into the focused terminal and presses Enter. */
export async function run(page, command) {
  await page.locator(".term .xterm").click();
  await page.keyboard.type(command, { delay: 5 });
  await page.keyboard.press("Enter");
}

/** Signs in with the relay's one-time link, then opens the demo target from the picker. */
export async function signInAndOpenDemo(page, relay, base = relay.url) {
  const login = new URL(relay.login);
  await page.goto(new URL(login.pathname + login.search, base).href);
  await page.waitForURL((u) => u.pathname === "/");
  return openDemo(page, base);
}

/** Opens the demo target from the picker (already signed in). */
export async function openDemo(page, base) {
  // Keep the DOM renderer so the tests can read the terminal.
  await page.goto(new URL("/?renderer=dom", base).href);
  const open = page.locator(".targets li .open").first();
  await open.waitFor({ timeout: 15_000 });
  await shot(page, "05-target-picker");
  await open.click();
  await page.waitForURL(/\/s\/[^/?]+/);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(page, (t) => />\s*$/m.test(t), "a prompt");
  return new URL(page.url()).pathname.split("/")[2];
}

/**
 * How many pixels of an element's screenshot differ clearly from its most common colour (its
 * background): what a person sees drawn there, whatever the renderer (a blank terminal: 0).
 */
export async function drawnPixels(locator) {
  const { width, height, rgba } = decodePng(await locator.screenshot());
  const counts = new Map();
  for (let i = 0; i < rgba.length; i += 4) {
    const k = (rgba[i] << 16) | (rgba[i + 1] << 8) | rgba[i + 2];
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  const bg = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const [br, bgc, bb] = [bg >> 16, (bg >> 8) & 255, bg & 255];
  let drawn = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    if (Math.abs(rgba[i] - br) + Math.abs(rgba[i + 1] - bgc) + Math.abs(rgba[i + 2] - bb) > 96) drawn++;
  }
  return { drawn, width, height };
}

/** A PNG (8-bit RGB or RGBA, not interlaced, as chromium writes them) to RGBA bytes. */
export function decodePng(buf) {
  let pos = 8;
  let width = 0, height = 0, channels = 4;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString("latin1", pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error("only 8-bit non-interlaced PNGs");
      channels = { 2: 3, 6: 4 }[data[9]];
      if (!channels) throw new Error(`PNG colour type ${data[9]}`);
    } else if (type === "IDAT") {
      idat.push(data);
    }
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = v & 255;
    }
  }
  if (channels === 4) return { width, height, rgba: px };
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0, j = 0; i < px.length; i += 3, j += 4) {
    rgba[j] = px[i]; rgba[j + 1] = px[i + 1]; rgba[j + 2] = px[i + 2]; rgba[j + 3] = 255;
  }
  return { width, height, rgba };
}
