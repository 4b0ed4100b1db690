// tests/browser/web_view.mjs — drives Debian's chromium (playwright-core, /usr/bin/chromium) for
// tests/functional/web_view.py and web_replay.py: one JSON command per stdin line, one JSON answer per stdout line.
// The scenario and its assertions live in the Python test; this file only operates the browser.
//
// Commands: {"cmd":"goto","url"} {"cmd":"wait","selector","timeout_ms"} {"cmd":"wait_fn","expr","timeout_ms"}
//           {"cmd":"eval","expr"} {"cmd":"search","q"} {"cmd":"screenshot","path"} {"cmd":"errors"} {"cmd":"close"}
//           {"cmd":"upload","selector","path"} (a file input) {"cmd":"click","selector"} {"cmd":"press","key"}
// Answers:  {"ok":true,"value":...} or {"ok":false,"error":"..."}.
// Usage: node web_view.mjs [--executable /usr/bin/chromium]
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const argv = process.argv.slice(2);
const exe = argv.includes('--executable') ? argv[argv.indexOf('--executable') + 1] : '/usr/bin/chromium';
const args = ['--disable-gpu', '--disable-dev-shm-usage'];
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');  // chromium refuses root without it

const browser = await chromium.launch({ executablePath: exe, args, headless: true });
const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
const page = await context.newPage();
const errors = [];  // page errors and console errors (CSP violations show up here)
page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
page.on('console', (m) => {
  if (m.type() === 'error') errors.push(`console: ${m.text()}`);
});

const reply = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function run(c) {
  switch (c.cmd) {
    case 'goto':
      await page.goto(c.url, { waitUntil: 'load' });
      return null;
    case 'wait':
      await page.locator(c.selector).first().waitFor({ state: 'attached', timeout: c.timeout_ms ?? 30000 });
      return null;
    case 'wait_fn': {
      // Polled with evaluate (waitForFunction evaluates a string in the page, which the page's
      // CSP rightly forbids).
      const deadline = Date.now() + (c.timeout_ms ?? 30000);
      for (;;) {
        if (await page.evaluate(c.expr)) return null;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${c.expr}`);
        await page.waitForTimeout(250);
      }
    }
    case 'eval':
      return await page.evaluate(c.expr);
    case 'search':
      await page.fill('#search-input', c.q);
      await page.press('#search-input', 'Enter');
      return null;
    case 'screenshot':
      await page.screenshot({ path: c.path, fullPage: true });
      return c.path;
    case 'upload':
      await page.setInputFiles(c.selector, c.path);
      return null;
    case 'click':
      await page.click(c.selector);
      return null;
    case 'press':
      await page.keyboard.press(c.key);
      return null;
    case 'errors':
      return errors;
    case 'close':
      return null;
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

reply({ ok: true, value: 'ready', version: browser.version() });
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    reply({ ok: false, error: `bad command line: ${e.message}` });
    continue;
  }
  try {
    reply({ ok: true, value: await run(c) });
  } catch (e) {
    reply({ ok: false, error: String(e.message || e).split('\n')[0] });
  }
  if (c.cmd === 'close') break;
}
await browser.close();
