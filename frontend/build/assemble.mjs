// Assembles dist/ from the wasm-bindgen output, xterm.js and static/: every asset gets a
// content-hashed name under dist/assets/ (served with immutable caching), and dist/index.html
// (never cached) is the only file that names them.
//
// usage: node frontend/build/assemble.mjs BINDGEN_DIR OUT_DIR
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";

const [bindgenDir, outDir] = process.argv.slice(2);
if (!bindgenDir || !outDir) {
  console.error("usage: assemble.mjs BINDGEN_DIR OUT_DIR");
  process.exit(2);
}
const assetsDir = join(outDir, "assets");
mkdirSync(assetsDir, { recursive: true });

const names = new Map(); // logical name -> hashed file name
const sizes = [];

function hashed(logical, bytes) {
  const h = createHash("sha256").update(bytes).digest("hex").slice(0, 8);
  const ext = logical.endsWith("_bg.wasm") ? "_bg.wasm" : extname(logical);
  const stem = logical.slice(0, logical.length - ext.length);
  return `${stem}-${h}${ext}`;
}

// Every asset also goes out compressed at build time, at the strongest settings (the relay
// serves NAME.br or NAME.gz by the request's Accept-Encoding instead of compressing each
// request); a compressed copy that saves nothing is not written.
function add(logical, bytes, name = hashed(logical, bytes)) {
  writeFileSync(join(assetsDir, name), bytes);
  names.set(logical, name);
  const gz = gzipSync(bytes, { level: 9 });
  const br = brotliCompressSync(bytes, {
    params: {
      [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
      [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  if (gz.length < bytes.length) writeFileSync(join(assetsDir, name + ".gz"), gz);
  if (br.length < bytes.length) writeFileSync(join(assetsDir, name + ".br"), br);
  sizes.push({ logical, name, raw: bytes.length, gz: gz.length, br: br.length });
  return name;
}

const xt = "node_modules/@xterm";
const bundle = async (options) =>
  (await build({ bundle: true, format: "esm", target: "es2020", minify: true, write: false, logLevel: "error", ...options }))
    .outputFiles[0].contents;

// The wasm chunks of the rarely used parts (wasm-split; frontend/src/lazy.rs), loaded when
// first shown.
const chunks = readdirSync(bindgenDir).filter((f) => f.endsWith(".wasm") && f !== "winrelay_bg.wasm").sort();
for (const c of chunks) add(c, readFileSync(join(bindgenDir, c)));

// wasm-bindgen's glue and the chunks' loader module (they import each other) as one minified
// module; the loader fetches the chunks by their hashed names.
const linkPath = resolve(bindgenDir, "__wasm_split.js");
const chunkNames = {
  name: "chunk-names",
  setup(b) {
    b.onLoad({ filter: /__wasm_split\.js$/ }, (args) => {
      if (args.path !== linkPath) return undefined;
      const contents = readFileSync(linkPath, "utf8").replace(/new URL\("\.\/([^"]+\.wasm)", import\.meta\.url\)/g, (_, c) => {
        if (!names.has(c)) throw new Error(`__wasm_split.js names unknown chunk ${c}`);
        return `new URL(${JSON.stringify("./" + names.get(c))}, import.meta.url)`;
      });
      return { contents, loader: "js" };
    });
  },
};
add("winrelay.js", await bundle({ entryPoints: [join(bindgenDir, "winrelay.js")], plugins: [chunkNames] }));
add("winrelay_bg.wasm", readFileSync(join(bindgenDir, "winrelay_bg.wasm")));
// xterm.js and the addons of the first load in one module (one request instead of four);
// the search and WebGL addons stay apart, loaded when needed.
add("xterm.mjs", await bundle({
  stdin: {
    contents: `export { Terminal } from "@xterm/xterm";
export { FitAddon } from "@xterm/addon-fit";
export { WebLinksAddon } from "@xterm/addon-web-links";
export { Unicode11Addon } from "@xterm/addon-unicode11";`,
    resolveDir: process.cwd(),
  },
}));
for (const a of ["search", "webgl"]) {
  add(`addon-${a}.mjs`, readFileSync(`${xt}/addon-${a}/lib/addon-${a}.mjs`));
}
add("style.css", Buffer.concat([readFileSync(`${xt}/xterm/css/xterm.css`), Buffer.from("\n"), readFileSync("static/style.css")]));
for (const f of readdirSync("static/icons")) add(basename(f), readFileSync(join("static/icons", f)));

const rel = (n) => "./" + names.get(n);
// The bootstrap module (first in index.html, tiny, no imports of its own): asks the relay the page's first questions (who is signed in, and on
// `/` the targets and sessions; the app takes these answers in api.rs) and compiles the wasm
// while xterm.js and its addons load, exposes them to the wasm bindings as
// `globalThis.WinrelayXterm` (the bindings use js_namespace, so they do not depend on the
// hashed file names), then starts the wasm. Nothing waits on anything it does not need.
// WebGL is loaded only when it will be used, the search addon on the first search.
const boot = `const embed = location.pathname.startsWith("/embed");
const pre = (globalThis.WinrelayPrefetch = {});
if (!embed) {
  // A success's body is read here too: { text } for api.rs, null for anything else.
  const get = (p) => {
    pre[p] = fetch(p, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.text().then((text) => ({ text })) : null))
      .catch(() => null);
  };
  get("/api/me");
  if (location.pathname === "/") { get("/api/targets"); get("/api/sessions"); }
}
// Marks for the page's timeline (bench/frontend.mjs reports them).
const mark = (name) => (x) => { performance.mark("winrelay:" + name); return x; };
mark("boot")();
const wasm = WebAssembly.compileStreaming(fetch(new URL(${JSON.stringify(rel("winrelay_bg.wasm"))}, import.meta.url))).then(mark("wasm-compiled"));
Promise.all([
  import(${JSON.stringify(rel("xterm.mjs"))}).then(mark("xterm")),
  import(${JSON.stringify(rel("winrelay.js"))}).then(mark("glue")),
  wasm,
]).then(([{ Terminal, FitAddon, WebLinksAddon, Unicode11Addon }, { default: init }, module]) => {
  globalThis.WinrelayXterm = {
    Terminal, FitAddon, WebLinksAddon, Unicode11Addon,
    loadSearch: () => import(${JSON.stringify(rel("addon-search.mjs"))}).then((m) => m.SearchAddon),
    loadWebgl: () => import(${JSON.stringify(rel("addon-webgl.mjs"))}).then((m) => m.WebglAddon),
  };
  return init({ module_or_path: module }).then(mark("started"));
}).catch((e) => {
  const el = document.getElementById("boot");
  if (el) { el.className = "boot error"; el.textContent = "winrelay could not start: " + e + "\\nReload the page; if this persists, the relay may be serving a broken build."; }
  console.error(e);
});
`;
add("boot.js", Buffer.from(boot));

let html = readFileSync("static/index.html", "utf8");
html = html.replace(/\{\{asset:([^}]+)\}\}/g, (_, n) => {
  if (!names.has(n)) throw new Error(`static/index.html names unknown asset ${n}`);
  return "/assets/" + names.get(n);
});
writeFileSync(join(outDir, "index.html"), html);

// Loaded on demand, not part of the first load.
const lazy = ["addon-webgl.mjs", "addon-search.mjs", ...chunks];
const core = sizes.filter((s) => ["winrelay.js", "winrelay_bg.wasm", "style.css", "boot.js"].includes(s.logical));
const sum = (xs, k) => xs.reduce((a, s) => a + s[k], 0);
const chunkSizes = sizes.filter((s) => chunks.includes(s.logical));
const report = {
  app: { raw: sum(core, "raw"), gzip: sum(core, "gz"), brotli: sum(core, "br") },
  // The chunks of the rarely used parts, all together (each loads when its part is shown).
  lazy_chunks: { count: chunkSizes.length, raw: sum(chunkSizes, "raw"), gzip: sum(chunkSizes, "gz"), brotli: sum(chunkSizes, "br") },
  initial_load: {
    gzip: sum(sizes.filter((s) => !lazy.includes(s.logical)), "gz"),
    brotli: sum(sizes.filter((s) => !lazy.includes(s.logical)), "br"),
  },
  files: sizes,
};
writeFileSync(join(outDir, "sizes.json"), JSON.stringify(report, null, 2) + "\n");
for (const s of sizes) console.log(`  ${s.name.padEnd(36)} ${String(s.raw).padStart(8)} B  ${String(s.gz).padStart(7)} B gz  ${String(s.br).padStart(7)} B br`);
console.log(`  app (wasm+js+css): ${report.app.raw} B, ${report.app.gzip} B gzipped, ${report.app.brotli} B brotli; first load with xterm: ${report.initial_load.gzip} B gzipped, ${report.initial_load.brotli} B brotli`);
