// The page's assets go out compressed at build time: brotli or gzip by the browser's
// Accept-Encoding, byte for byte the files the build wrote, and the page still starts.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { after, before, test } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { launchBrowser, newPage, startRelay } from "./lib.mjs";

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

// A raw GET (no transparent decompression).
function get(path, acceptEncoding) {
  return new Promise((resolve, reject) => {
    const headers = acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding };
    const request = relay.url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = request(relay.url + path, { rejectUnauthorized: false, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("assets are served precompressed by Accept-Encoding, and the page starts on them", async () => {
  const index = await get("/", "identity");
  assert.equal(index.status, 200);
  // index.html preloads the wasm.
  const path = index.body.toString().match(/\/assets\/[^"]+_bg\.wasm/)?.[0];
  assert.ok(path, "the page names its wasm");

  const plain = await get(path, "identity");
  assert.equal(plain.status, 200);
  assert.equal(plain.headers["content-encoding"], undefined);
  assert.equal(plain.headers["content-type"], "application/wasm");

  const br = await get(path, "gzip, deflate, br, zstd");
  assert.equal(br.headers["content-encoding"], "br");
  assert.equal(br.headers["content-type"], "application/wasm");
  assert.match(br.headers["vary"] ?? "", /accept-encoding/i);
  assert.ok(br.body.length < plain.body.length / 2, `brotli ${br.body.length} B of ${plain.body.length} B`);
  assert.ok(brotliDecompressSync(br.body).equals(plain.body), "brotli copy decodes to the asset");

  const gz = await get(path, "gzip;q=1, br;q=0");
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.ok(gunzipSync(gz.body).equals(plain.body), "gzip copy decodes to the asset");

  // The compressed copies are not addressable on their own.
  assert.equal((await get(path + ".br", "br")).status, 404);

  const page = await newPage(browser);
  const encodings = [];
  page.on("response", (r) => { if (r.url().includes("/assets/")) encodings.push(r.headers()["content-encoding"]); });
  await page.goto(relay.url + "/?renderer=dom");
  await page.locator('.app[data-wasm="started"]').waitFor({ timeout: 20_000 });
  assert.ok(encodings.length >= 3, `assets loaded: ${encodings}`);
  assert.ok(encodings.every((e) => e === "br"), `every asset came as brotli: ${encodings}`);
  await page.close();
});
