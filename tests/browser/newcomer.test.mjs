// Issue 19: the page as a newcomer meets it, at phone and desktop widths and device pixel
// ratios 1 and 2, with the default renderer.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  drawnPixels, hasLine, launchBrowser, newPage, screenText, shot, startRelay, waitForScreen,
} from "./lib.mjs";

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

const DESKTOP = { width: 1280, height: 720 };
const PHONE = { width: 390, height: 780 };

/** Signs in with the one-time link (once per relay) and returns the cookie for new contexts. */
let cookies;
async function signedInPage(opts) {
  const page = await newPage(browser, opts);
  if (!cookies) {
    await page.goto(relay.login);
    await page.waitForURL((u) => u.pathname === "/");
    cookies = await page.context().cookies();
  } else {
    await page.context().addCookies(cookies);
  }
  return page;
}

/** Opens a new demo shell with the page's default renderer. */
async function openShell(page, query = "") {
  await page.goto(`${relay.url}/open/demo${query}`);
  await page.waitForURL(/\/s\/[^/?]+/);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
}

for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
  for (const dpr of [1, 2]) {
    test(`the default renderer draws text (${name}, device pixel ratio ${dpr})`, async () => {
      const page = await signedInPage({ viewport, deviceScaleFactor: dpr });
      await openShell(page);
      await page.keyboard.type(`echo drawn-${name}-${dpr}\r`);
      // Whatever the renderer, a person sees the text: pixels differ from the background.
      let drawn = 0;
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        ({ drawn } = await drawnPixels(page.locator(".term")));
        if (drawn > 200) break;
        await page.waitForTimeout(200);
      }
      const renderer = await page.getAttribute(".app", "data-renderer");
      await shot(page, `90-default-renderer-${name}-dpr${dpr}-${renderer}`);
      assert.ok(drawn > 200, `the terminal is blank (${renderer} renderer, ${drawn} pixels drawn)`);
      if (renderer === "dom") {
        await waitForScreen(page, hasLine(`drawn-${name}-${dpr}`), "the echo");
      }
      assert.deepEqual(page.errors, []);
      await page.context().close();
    });
  }
}

test("at device pixel ratio 1 the WebGL renderer is kept", async () => {
  const page = await signedInPage({ viewport: DESKTOP, deviceScaleFactor: 1 });
  await openShell(page);
  await page.locator('.app[data-renderer="webgl"]').waitFor({ timeout: 10_000 });
  await page.context().close();
});

test("Escape clears the line instead of swallowing the next key (keyboard and key bar)", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom&keybar=1");
  await page.keyboard.type("echo one");
  await page.keyboard.press("Escape");
  await page.keyboard.type("echo two\r");
  await waitForScreen(page, hasLine("two"), "the output of echo two");
  let text = await screenText(page);
  assert.ok(!text.includes("onecho"), `the Escape swallowed a key:\n${text}`);
  assert.ok(!hasLine("one")(text), `the first line ran:\n${text}`);

  await page.keyboard.type("echo three");
  await page.locator(".keybar button", { hasText: "Esc" }).click();
  await page.keyboard.type("echo four\r");
  await waitForScreen(page, hasLine("four"), "the output of echo four");
  text = await screenText(page);
  assert.ok(!text.includes("threecho") && !hasLine("three")(text), `key bar Esc:\n${text}`);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
