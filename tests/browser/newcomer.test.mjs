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

/** Every button and link in `selector` lies inside the window and is the element at its centre. */
async function allReachable(page, selector) {
  return page.evaluate((sel) => {
    const bad = [];
    const els = [...document.querySelectorAll(`${sel} button, ${sel} a`)];
    for (const el of els) {
      const r = el.getBoundingClientRect();
      if (r.width === 0) continue;
      const inside = r.left >= 0 && r.top >= 0 && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5;
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      if (!inside || !(hit === el || el.contains(hit))) bad.push(`${el.textContent.trim()} ${JSON.stringify([r.left, r.top, r.right, r.bottom])}`);
    }
    return { count: els.length, bad };
  }, selector);
}

for (const width of [390, 800]) {
  test(`at ${width} px every control of the top bar, the status bar and the key bar can be reached`, async () => {
    const page = await signedInPage({ viewport: { width, height: 780 }, deviceScaleFactor: 2 });
    await openShell(page, "?renderer=dom&keybar=1");
    await shot(page, `91-bars-${width}`);
    for (const bar of [".topbar", ".statusbar", ".keybar"]) {
      const { count, bad } = await allReachable(page, bar);
      assert.ok(count > 0, `${bar} has controls`);
      assert.deepEqual(bad, [], `${bar}: controls cut off or covered`);
    }
    for (const name of ["Search", "A−", "A+", "Sign out"]) {
      await page.locator(".topbar button", { hasText: name }).waitFor();
    }
    for (const cls of ["share-viewer", "share-writer", "sharing"]) {
      await page.locator(`.statusbar button.${cls}`).waitFor();
    }
    // The key bar has the keys a phone keyboard lacks, all in view without swiping.
    const keys = await page.locator(".keybar button").allTextContents();
    for (const k of ["Esc", "Tab", "Ctrl", "←", "→", "↑", "↓", "Home", "End", "PgUp", "PgDn", "\\", "|", "-"]) {
      assert.ok(keys.includes(k), `key bar lacks ${k}: ${keys}`);
    }
    // Home, End, \ and | work.
    await page.keyboard.type("cho x");
    await page.locator(".keybar button", { hasText: "Home" }).click();
    await page.keyboard.type("e");
    await page.locator(".keybar button", { hasText: "End" }).click();
    await page.locator(".keybar button", { hasText: "|" }).click();
    await page.keyboard.type("tr x y\r");
    await waitForScreen(page, hasLine("y"), "echo x | tr x y");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
}

test("the home page works from the keyboard: the filter has focus, Enter opens, Tab reaches Open", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await page.goto(`${relay.url}/?renderer=dom`);
  const filter = page.locator('.picker input[type="search"]');
  await filter.waitFor();
  await page.waitForFunction(() => document.activeElement?.matches('.picker input[type="search"]'), null, { timeout: 5_000 });
  assert.equal(await page.getAttribute(".term", "inert"), "", "the terminal under the picker is inert");
  // Live sessions say when they started.
  const since = page.locator(".sessions li .since").first();
  if (await since.count()) assert.match(await since.innerText(), /^since (\d+ \w+, )?\d\d:\d\d$/);
  await page.keyboard.type("dem");
  assert.equal(await filter.inputValue(), "dem", "typing reaches the filter box");
  // Tab moves on to the targets' Open buttons, not into the terminal.
  let reached = false;
  for (let i = 0; i < 6 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.matches(".targets .open"));
  }
  assert.ok(reached, "Tab reaches an Open button");
  assert.ok(await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle !== "none"), "focus is visible");
  await page.keyboard.press("Shift+Tab");
  await page.waitForFunction(() => !document.activeElement?.closest(".term"));
  // Enter in the filter opens the first target it leaves.
  await filter.focus();
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/s\/[^/?]+/);
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.getAttribute(".term", "inert"), null, "the session's terminal is not inert");
  await page.keyboard.type("echo keyboard-only\r");
  await waitForScreen(page, hasLine("keyboard-only"), "the echo");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("after a burst a late joiner gets the scrollback it keeps, lines without padding; search says n of m", async () => {
  const owner = await signedInPage({ viewport: DESKTOP });
  await openShell(owner, "?renderer=dom");
  await owner.keyboard.type("seq 1 30000\r");
  await waitForScreen(owner, hasLine("30000"), "the end of the burst", 30_000);
  const id = new URL(owner.url()).pathname.split("/")[2];
  const late = await owner.context().newPage();
  late.errors = [];
  await late.goto(`${relay.url}/s/${id}?renderer=dom`);
  await late.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  await waitForScreen(late, hasLine("30000"), "the snapshot");
  // No row of output ends in spaces (a copy would carry them), and none is glued to another.
  const rows = await late.evaluate(() =>
    Array.from(document.querySelectorAll(".xterm-rows > div")).map((r) => r.textContent.replace(/\u00a0/g, " ")));
  const numbers = rows.filter((r) => /^\d+\s*$/.test(r));
  assert.ok(numbers.length > 10, `rows: ${JSON.stringify(rows)}`);
  assert.deepEqual(numbers.filter((r) => r !== r.trimEnd()), [], "rows padded with spaces");
  const values = numbers.map(Number);
  assert.ok(values.every((v, i) => i === 0 || v === values[i - 1] + 1), `rows not contiguous: ${values}`);
  // The scrollback holds the page's 10,000 lines: search finds a line 9,500 lines up, and
  // says how many matches there are.
  await late.keyboard.press("Control+Shift+F");
  const search = late.locator(".search input");
  await search.fill("20500");
  await search.press("Enter");
  await late.locator(".search .results", { hasText: "1 of 1" }).waitFor({ timeout: 5_000 });
  await waitForScreen(late, hasLine("20500"), "the line found 9,500 lines up");
  await search.fill("2050");
  await search.press("Enter");
  await late.locator(".search .results", { hasText: /^\d+ of 11$/ }).waitFor({ timeout: 5_000 });
  await search.fill("no-such-text");
  await search.press("Enter");
  await late.locator(".search .results", { hasText: "not found" }).waitFor({ timeout: 5_000 });
  await shot(late, "93-late-joiner-search");
  assert.deepEqual(late.errors, []);
  await owner.context().close();
});

test("the status bar shows the terminal's size and the session's age; the owner can end the session", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom");
  const size = page.locator(".statusbar .size");
  await page.waitForFunction(() => /^\d+×\d+$/.test(document.querySelector(".statusbar .size")?.textContent || ""));
  const before = await size.innerText();
  await page.locator(".statusbar .age").filter({ hasText: /^up \d+ s$/ }).waitFor({ timeout: 10_000 });
  await page.setViewportSize({ width: 900, height: 600 });
  await page.waitForFunction((b) => document.querySelector(".statusbar .size").textContent !== b, before);
  page.once("dialog", (d) => d.accept());
  await page.locator(".statusbar button.end-session").click();
  await page.locator(".statusbar .exit").waitFor({ timeout: 15_000 });
  await page.locator(".statusbar button.new-shell").first().waitFor();
  assert.equal(await page.locator(".statusbar button.end-session").count(), 0);
  // Not "connected" beside "exited": the shell is gone.
  assert.equal(await page.locator(".statusbar [data-link]").innerText(), "shell ended");
  await shot(page, "92-ended-by-owner");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a file dropped on the terminal gets a clear message", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom");
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["hello"], "notes.txt", { type: "text/plain" }));
    const target = document.querySelector(".term");
    for (const type of ["dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  });
  await page.locator(".statusbar .notice", { hasText: "Files cannot be sent" }).waitFor({ timeout: 5_000 });
  await page.context().close();
});

test("screen-reader mode: a button turns xterm's accessible rows on, and it is remembered", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom");
  const button = page.locator(".topbar button.screen-reader");
  assert.equal(await button.getAttribute("aria-pressed"), "false");
  await button.click();
  assert.equal(await button.getAttribute("aria-pressed"), "true");
  await page.locator(".xterm-accessibility-tree").waitFor({ state: "attached", timeout: 5_000 });
  await page.locator(".term .xterm").click();
  await page.keyboard.type("echo read-aloud\r");
  await page.waitForFunction(() => document.querySelector(".xterm-accessibility-tree")?.textContent.includes("read-aloud"));
  // The connection state is a live region.
  assert.equal(await page.getAttribute(".statusbar [data-link]", "role"), "status");
  await page.reload();
  await page.locator(".xterm-accessibility-tree").waitFor({ state: "attached", timeout: 15_000 });
  await button.click();
  await page.waitForFunction(() => !document.querySelector(".xterm-accessibility-tree"));
  await page.context().close();
});

test("a visitor who never signed in is asked to sign in, with the form there, not told they were signed out", async () => {
  const page = await newPage(browser, { viewport: DESKTOP });
  await page.goto(`${relay.url}/open/demo?renderer=dom`);
  await page.locator(".open-error").waitFor({ timeout: 15_000 });
  assert.match(await page.locator(".open-error").innerText(), /Sign in below/);
  await page.locator(".overlay .card form input[type=password]").waitFor({ timeout: 5_000 });
  await page.goto(`${relay.url}/s/doesnotexist?renderer=dom`);
  await page.locator(".overlay.lost h2").waitFor({ timeout: 15_000 });
  assert.equal(await page.locator(".overlay.lost h2").innerText(), "Not signed in");
  await page.locator(".overlay.lost form input[type=password]").waitFor();
  assert.equal(await page.getByText("no longer accepts your sign-in").count(), 0);
  await shot(page, "95-never-signed-in");
  await page.context().close();
});

test("Ctrl+R finds an earlier command and F8 completes from history, in the real terminal", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom");
  await page.keyboard.type("echo alpha-1\r");
  await waitForScreen(page, hasLine("alpha-1"), "the first echo");
  await page.keyboard.type("echo beta-2\r");
  await waitForScreen(page, hasLine("beta-2"), "the second echo");
  await page.keyboard.press("Control+r");
  await page.keyboard.type("alp");
  await waitForScreen(page, (t) => t.includes("(reverse-i-search)'alp': echo alpha-1"), "the search prompt");
  await page.keyboard.type("\r");
  await waitForScreen(page, (t) => t.split("\n").filter((l) => l.trim() === "alpha-1").length === 2, "alpha-1 again");
  await page.keyboard.type("echo b");
  await page.keyboard.press("F8");
  await waitForScreen(page, (t) => /demo>echo beta-2\s*$/.test(t), "F8's match on the line");
  await page.keyboard.type("\r");
  await waitForScreen(page, (t) => t.split("\n").filter((l) => l.trim() === "beta-2").length === 2, "beta-2 again");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the settings panel changes font size, scrollback, cursor, copying and pasting, and remembers them", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom");
  await page.locator(".topbar button.settings-button").click();
  const panel = page.locator(".settings");
  await panel.waitFor();
  await panel.locator("input.font-size").fill("17");
  await panel.locator("input.font-size").press("Tab");
  await panel.locator("input.scrollback").fill("500");
  await panel.locator("input.scrollback").press("Tab");
  await panel.locator("select.cursor-style").selectOption("bar");
  await panel.locator("input.copy-on-select").uncheck();
  await panel.locator("input.right-click-paste").check();
  await shot(page, "96-settings");
  await panel.locator("button.close-settings").click();
  await page.locator(".settings").waitFor({ state: "detached" });
  await page.reload();
  await page.locator('.statusbar [data-link="connected"]').waitFor({ timeout: 15_000 });
  const stored = await page.evaluate(() => ({ ...localStorage }));
  assert.equal(stored["winrelay.fontSize"], "17");
  assert.equal(stored["winrelay.scrollback"], "500");
  assert.equal(stored["winrelay.cursorStyle"], "bar");
  assert.equal(stored["winrelay.copyOnSelect"], "0");
  assert.equal(stored["winrelay.rightClickPaste"], "1");
  await page.locator(".topbar button.settings-button").click();
  assert.equal(await page.locator(".settings input.scrollback").inputValue(), "500");
  assert.equal(await page.locator(".settings input.font-size").inputValue(), "17");
  assert.equal(await page.locator(".settings input.right-click-paste").isChecked(), true);
  await page.keyboard.press("Escape");
  await page.locator(".settings").waitFor({ state: "detached" });
  await page.locator(".term .xterm").click();
  await page.locator(".xterm-rows .xterm-cursor-bar").waitFor({ timeout: 5_000 });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a pasted block of three lines shows each command line once (bug 6)", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom");
  await page.locator(".term .xterm").click();
  await waitForScreen(page, (t) => /demo>$/.test(t.trimEnd()), "the prompt");
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.setData("text/plain", "echo a\necho b\necho c\n");
    document.querySelector(".xterm-helper-textarea")
      .dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  // Three lines go in without asking (more ask first); the shell runs them in order: c's output, then a prompt with nothing after it.
  const text = await waitForScreen(page, (t) => {
    const lines = t.trimEnd().split("\n").map((l) => l.trim());
    const c = lines.findIndex((l) => l === "c" || l.endsWith(">c"));
    return c >= 0 && /^[A-Z]:\\.*>$/.test(lines[lines.length - 1]) && c < lines.length - 1;
  }, "the output of the pasted `echo c` and the prompt after it");
  await shot(page, "97-paste-three-lines");
  for (const line of ["echo a", "echo b", "echo c"]) {
    const seen = text.split("\n").filter((l) => l.includes(line)).length;
    assert.equal(seen, 1, `\`${line}\` appears ${seen} times:\n${text}`);
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the demo's cmd answers as cmd: cd with a prompt that follows, dir, ver, set and %VAR%", async () => {
  const page = await signedInPage({ viewport: DESKTOP });
  await openShell(page, "?renderer=dom");
  await page.locator(".term .xterm").click();
  await waitForScreen(page, (t) => t.trimEnd().endsWith("C:\\Users\\demo>"), "the prompt");
  await page.keyboard.type("cd ..\r");
  await waitForScreen(page, (t) => t.trimEnd().endsWith("C:\\Users>"), "the prompt after cd ..");
  await page.keyboard.type("cd /d C:\\Windows\r");
  await waitForScreen(page, (t) => t.trimEnd().endsWith("C:\\Windows>"), "the prompt after cd /d C:\\Windows");
  await page.keyboard.type("ver\r");
  await waitForScreen(page, (t) => /^Microsoft Windows \[Version 10\.0\.\d+\.\d+\]$/m.test(t), "ver's answer");
  await page.keyboard.type("dir \\Users\r");
  const listing = await waitForScreen(page, (t) => /Dir\(s\)\s+[\d,]+ bytes free/.test(t), "dir's footer");
  assert.match(listing, / Directory of C:\\Users$/m);
  assert.match(listing, /^\d\d\/\d\d\/\d{4} {2}\d\d:\d\d [AP]M {4}<DIR> {10}demo$/m);
  await page.keyboard.type("set WHO=newcomer\r");
  await page.keyboard.type("echo hello %who%\r");
  await waitForScreen(page, hasLine("hello newcomer"), "echo with %VAR%");
  await shot(page, "98-demo-cmd");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a used login link says so in the app's look, a signed-in person goes to the app, and a new link gets the demo back", async () => {
  // Signed in (the link was used by the first test): a bookmarked used link leads to the app.
  const inside = await signedInPage({ viewport: DESKTOP });
  await inside.goto(relay.login);
  await inside.waitForURL((u) => u.pathname === "/" && u.search === "");
  await inside.locator(".picker .targets li[data-target='demo']").waitFor({ timeout: 15_000 });
  await inside.context().close();

  // Signed out (a fresh browser): the used link explains itself on the app's own page.
  const page = await newPage(browser, { viewport: DESKTOP });
  await page.goto(relay.login);
  await page.locator(".login-link-invalid").waitFor({ timeout: 15_000 });
  assert.equal(new URL(page.url()).search, "", "the address no longer says login=invalid");
  assert.match(await page.locator(".login-link-invalid").innerText(), /invalid, expired or already used/);
  const look = await page.evaluate(() => {
    const s = getComputedStyle(document.body);
    return { bg: s.backgroundColor, font: s.fontFamily };
  });
  assert.notEqual(look.bg, "rgb(255, 255, 255)", "not a bare white page");
  assert.doesNotMatch(look.font, /^"?Times|^serif/, "not the browser's serif default");
  // Asking for a new link prints one where the relay runs (this test reads the relay's
  // output, as the person who started it would); it signs in.
  let printed = "";
  const listen = (d) => { printed += d; };
  relay.proc.stdout.on("data", listen);
  await page.locator("button.print-login-link").click();
  await page.locator(".login-again-said").waitFor();
  assert.match(await page.locator(".login-again-said").innerText(), /printed where the relay runs/);
  const end = Date.now() + 10_000;
  while (!/open: (\S+)/.test(printed) && Date.now() < end) await page.waitForTimeout(50);
  relay.proc.stdout.off("data", listen);
  const link = printed.match(/open: (\S+)/)?.[1];
  assert.ok(link, `no new link printed: ${printed}`);
  await shot(page, "99-login-link-used");
  await page.goto(link);
  await page.waitForURL((u) => u.pathname === "/");
  await page.locator(".picker .targets li[data-target='demo']").waitFor({ timeout: 15_000 });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
