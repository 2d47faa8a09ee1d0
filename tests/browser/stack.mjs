// The real stack the browser tests drive: redis-server, vpoint-central-sim and vpointd on free loopback
// ports, in a temporary directory, and Debian's chromium through playwright-core. Nothing is faked: every
// answer the page shows comes from vpointd over its mirror of the simulator. tests/api uses it without the
// browser (startStack({browser: false}): playwright-core is then not even loaded).
//
// Environment (tests/browser/CMakeLists.txt): VPOINTD, CENTRAL_SIM, REDIS_SERVER, VPOINT_BROWSER_OUT, CHROMIUM.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {launchChromium} from './page_helpers.mjs';

async function loadChromium() {
  const {chromium} = await import('playwright-core').catch((e) => {
    throw new Error('playwright-core is not installed: run scripts/setup (npm ci --prefix tests/browser)\n' + e);
  });
  return chromium;
}

export const VPOINTD = process.env.VPOINTD;
export const CENTRAL_SIM = process.env.CENTRAL_SIM;
export const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
export const OUT = process.env.VPOINT_BROWSER_OUT || path.join(process.cwd(), 'browser-screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const GLN = '4012345000009';
export const DESKTOP = {width: 1200, height: 900};
export const PHONE = {width: 390, height: 844};

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function until(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
}

// Starts the stack. `keys`: [{name, key, role}] (all at GLN); `seed`, `products`, `packs`: the simulator's
// generated data; `browser`: false for no chromium (stack.page and stack.context are then null).
export async function startStack({name, keys, seed = 11, packs = 400, products = 4, central = '', browser = true}) {
  assert.ok(VPOINTD && CENTRAL_SIM, 'VPOINTD and CENTRAL_SIM must name the built binaries');
  if (browser) {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup (Debian package chromium)`);
    mkdirSync(OUT, {recursive: true});
  }
  const work = mkdtempSync(path.join(tmpdir(), `vpoint-browser-${name}-`));
  const children = [];
  const run = (label, bin, args) => {
    assert.ok(existsSync(bin), `${label}: ${bin} is missing (scripts/setup and the build provide it)`);
    const child = spawn(bin, args, {stdio: ['ignore', 'pipe', 'pipe'], cwd: work});
    child.output = [];
    child.stdout.on('data', (c) => child.output.push(c.toString()));
    child.stderr.on('data', (c) => child.output.push(c.toString()));
    children.push(child);
    return child;
  };
  const redisPort = await freePort(), simPort = await freePort();
  run('redis-server', REDIS_SERVER, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
                                     '--appendonly', 'no', '--dir', work]);
  const sim = run('vpoint-central-sim', CENTRAL_SIM, ['--listen', `127.0.0.1:${simPort}`, '--data',
                                                      path.join(work, 'sim'), '--seed', String(seed), '--products',
                                                      String(products), '--packs', String(packs), '--threads', '1']);
  const simUrl = `http://127.0.0.1:${simPort}`;
  await until('the simulator answers', async () => (await fetch(simUrl + '/admin/packs?limit=1')).ok);
  const config = path.join(work, 'vpointd.toml');
  writeFileSync(config, `[http]
listen = "127.0.0.1:0"
threads = 1
shutdown_timeout_s = 2

[redis]
url = "redis://127.0.0.1:${redisPort}"

[central]
url = "${simUrl}"
offline = "record"
${central}
[location]
gln = "${GLN}"
name = "Browser test site"

[audit]
dir = "${path.join(work, 'audit')}"
` + keys.map((k) => `
[[auth.keys]]
name = "${k.name}"
key = "${k.key}"
role = "${k.role}"
`).join(''));
  const daemon = run('vpointd', VPOINTD, ['--config', config]);
  const base = await until('vpointd reports its URL', () => {
    // The "listening" event, not any url: the snapshot import logs the simulator's url, sometimes first.
    const m = daemon.output.join('').match(/"event":"listening","url":"(http:\/\/127\.0\.0\.1:\d+)"/);
    return m && m[1];
  });
  let readyz = '';
  await until('vpointd is ready (snapshot loaded)', async () => {
    const res = await fetch(base + '/readyz');
    readyz = await res.text();
    return res.status === 200;
  }, 60000).catch((e) => {
    throw new Error(`${e.message}\n/readyz: ${readyz}\nvpointd: ${daemon.output.join('').slice(-3000)}`);
  });
  let context = null, page = null;
  if (browser) {
    ({context, page} = await launchChromium(await loadChromium(), CHROMIUM, path.join(work, 'profile')));
    context.setDefaultTimeout(15000);
  }

  const stack = {
    work, base, simUrl, context, page, daemon,
    stopSimulator: () => stop(sim),
    // vpointd's API with one of the keys (for setting up and for checking what the page did).
    async api(key, method, route, body) {
      const res = await fetch(base + route, {method, headers: {'Authorization': 'Bearer ' + key,
                                                               'Content-Type': 'application/json'},
                                             body: body === undefined ? undefined : JSON.stringify(body)});
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return {status: res.status, json, text};
    },
    async sim(method, route, body) {
      const res = await fetch(simUrl + route, {method, headers: {'Content-Type': 'application/json'},
                                               body: body === undefined ? undefined : JSON.stringify(body)});
      const text = await res.text();
      assert.ok(res.ok, `simulator ${method} ${route}: ${res.status} ${text}`);
      return JSON.parse(text);
    },
    async close() {
      if (context) await context.close().catch(() => {});
      for (const child of children.reverse()) await stop(child);
      rmSync(work, {recursive: true, force: true});
    },
  };
  return stack;
}

// Opens the page and saves the key `k` ({key, name}) in it; waits until GET /v1/me named its owner.
export async function signIn(page, base, k) {
  await page.goto(base + '/');
  await page.fill('#key', k.key);
  await page.press('#key', 'Enter');
  await page.waitForFunction((name) => document.getElementById('key-state').textContent === 'Key saved for this tab' &&
                                       document.getElementById('who').textContent.startsWith(name + ' '), k.name);
}

// WCAG 2.1 1.4.3 over what is on screen: every visible text (not of a disabled control) against the background
// it is drawn on (the nearest ancestor's colour; each colour of a gradient) has a contrast of at least 4.5:1,
// 3:1 for large text (24 px, or 18.66 px bold). Returns the texts that fall short.
export async function contrastProblems(page) {
  return page.evaluate(() => {
    const rgb = (text) => {
      const m = text.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(',').map(Number);
      return {r, g, b, a};
    };
    const luminance = ({r, g, b}) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (x, y) => {
      const [hi, lo] = [luminance(x), luminance(y)].sort((p, q) => q - p);
      return (hi + 0.05) / (lo + 0.05);
    };
    const backgrounds = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const style = getComputedStyle(e);
        if (style.backgroundImage.includes('gradient')) return style.backgroundImage.match(/rgba?\([^)]+\)/g).map(rgb);
        const c = rgb(style.backgroundColor);
        if (c && c.a > 0.5) return [c];
      }
      return [{r: 255, g: 255, b: 255, a: 1}];
    };
    const out = [];
    for (const el of document.body.querySelectorAll('*')) {
      const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      if (!own || !el.checkVisibility() || el.closest('button:disabled, option, script, style')) continue;
      const style = getComputedStyle(el);
      const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
      const needed = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
      const color = rgb(style.color);
      for (const bg of backgrounds(el)) {
        const r = ratio(color, bg);
        if (r < needed) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} "${el.textContent.trim().slice(0, 40)}" ${r.toFixed(2)}:1`);
      }
    }
    return out;
  });
}

// A screenshot of the state on a desktop and on a phone-sized screen (back to desktop afterwards), as test
// artefacts: OUT/<name>-desktop.png and OUT/<name>-phone.png. On the phone the page must not scroll sideways;
// on both, every text must be readable (contrastProblems).
export async function shoot(page, name) {
  await page.setViewportSize(DESKTOP);
  assert.deepEqual(await contrastProblems(page), [], `${name}: text contrast`);
  await page.screenshot({path: path.join(OUT, `${name}-desktop.png`), fullPage: true});
  await page.setViewportSize(PHONE);
  const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scrollWidth <= innerWidth, `${name}: page ${scrollWidth}px wide in a ${innerWidth}px phone window`);
  assert.deepEqual(await contrastProblems(page), [], `${name}: text contrast on the phone`);
  await page.screenshot({path: path.join(OUT, `${name}-phone.png`), fullPage: true});
  await page.setViewportSize(DESKTOP);
}

// What a keyboard-wedge scanner types for a GS1 pack: Ctrl+] for each GS, then Enter. `caseOf` maps the
// letters typed (a scanner with caps lock on inverts them).
export async function wedgeScan(page, pack, caseOf = (s) => s) {
  await page.keyboard.type(caseOf('01' + pack.gtin + '21' + pack.serial));
  await page.keyboard.press('Control+BracketRight');
  await page.keyboard.type(caseOf('10' + pack.batch));
  await page.keyboard.press('Control+BracketRight');
  await page.keyboard.type('17' + pack.expiry);
  await page.keyboard.press('Enter');
}
