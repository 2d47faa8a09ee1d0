// Browser test of the scan station page against the real stack (issue 12 "Truth at the counter"): redis-server,
// vpoint-central-sim and vpointd on free loopback ports, Debian's chromium driven by playwright-core. A pack the
// mirror knows is green; with the central system gone, a pack nobody can confirm is amber "UNCONFIRMED" with the
// plain words of the outage procedure, and its supply is recorded, never shown as done.
//
// Environment (tests/browser/CMakeLists.txt): VPOINTD, CENTRAL_SIM, REDIS_SERVER, VPOINT_BROWSER_OUT, CHROMIUM.
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {launchChromium, resultView, waitForVerdict} from './page_helpers.mjs';

const {chromium} = await import('playwright-core').catch((e) => {
  throw new Error('playwright-core is not installed: run scripts/setup (npm ci --prefix tests/browser)\n' + e);
});

const VPOINTD = process.env.VPOINTD;
const CENTRAL_SIM = process.env.CENTRAL_SIM;
const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const OUT = process.env.VPOINT_BROWSER_OUT || path.join(process.cwd(), 'browser-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const KEY = 'browser-offline-key-7d2e';
const UNCONFIRMED = 'Could not be checked with the national system. Follow your national procedure for outages ' +
                    '(keep the pack apart or record it); vpoint will check it as soon as the connection is back.';

let work, context, page, base, simUrl;
const children = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Starts a child process whose output is kept for error messages.
function run(name, bin, args) {
  assert.ok(existsSync(bin), `${name}: ${bin} is missing (scripts/setup and the build provide it)`);
  const child = spawn(bin, args, {stdio: ['ignore', 'pipe', 'pipe'], cwd: work});
  child.output = [];
  child.stdout.on('data', (c) => child.output.push(c.toString()));
  child.stderr.on('data', (c) => child.output.push(c.toString()));
  children.push(child);
  return child;
}

async function until(what, check, ms = 30000) {
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
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
}

let sim;
before(async () => {
  assert.ok(VPOINTD && CENTRAL_SIM, 'VPOINTD and CENTRAL_SIM must name the built binaries');
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup (Debian package chromium)`);
  mkdirSync(OUT, {recursive: true});
  work = mkdtempSync(path.join(tmpdir(), 'vpoint-browser-offline-'));
  const redisPort = await freePort(), simPort = await freePort();
  run('redis-server', REDIS_SERVER, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
                                     '--appendonly', 'no', '--dir', work]);
  sim = run('vpoint-central-sim', CENTRAL_SIM, ['--listen', `127.0.0.1:${simPort}`, '--data', path.join(work, 'sim'),
                                                '--seed', '11', '--products', '4', '--packs', '400', '--threads', '1']);
  simUrl = `http://127.0.0.1:${simPort}`;
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

[location]
gln = "4012345000009"
name = "Browser test pharmacy"

[audit]
dir = "${path.join(work, 'audit')}"

[[auth.keys]]
name = "counter-1"
key = "${KEY}"
role = "pharmacy"
`);
  const daemon = run('vpointd', VPOINTD, ['--config', config]);
  base = await until('vpointd reports its URL', () => {
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
  ({context, page} = await launchChromium(chromium, CHROMIUM, path.join(work, 'profile')));
  context.setDefaultTimeout(15000);
});

after(async () => {
  if (context) await context.close().catch(() => {});
  for (const child of children.reverse()) await stop(child);
  if (work) rmSync(work, {recursive: true, force: true});
});

// What a keyboard-wedge scanner types for a GS1 pack: Ctrl+] for each GS, then Enter.
async function wedgeScan(pack) {
  await page.keyboard.type('01' + pack.gtin + '21' + pack.serial);
  await page.keyboard.press('Control+BracketRight');
  await page.keyboard.type('10' + pack.batch);
  await page.keyboard.press('Control+BracketRight');
  await page.keyboard.type('17' + pack.expiry);
  await page.keyboard.press('Enter');
}

test('with the central system gone, a pack nobody can confirm is amber UNCONFIRMED, never green', async () => {
  const listed = await (await fetch(simUrl + '/admin/packs?limit=50')).json();
  const known = listed.packs.find((p) => p.gtin);
  assert.ok(known, 'the simulator lists a GS1 pack');
  await page.goto(base + '/');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'scan');
  await page.fill('#key', KEY);
  await page.press('#key', 'Enter');

  // Both directions: the mirror knows this pack, so it is green with the central system up...
  await wedgeScan(known);
  await waitForVerdict(page, 'OK');
  assert.equal((await resultView(page)).cls, 'result v-ok');

  // ...and with it gone a made-up serial of the same product cannot be confirmed.
  await stop(sim);
  const fake = {...known, serial: 'NOTISSUED' + Date.now().toString().slice(-6)};
  await wedgeScan(fake);
  await waitForVerdict(page, 'UNCONFIRMED');
  let view = await resultView(page);
  assert.equal(view.cls, 'result v-unconfirmed');
  assert.equal(view.sub, UNCONFIRMED);
  assert.equal(view.reason, 'The national system cannot be reached.');
  assert.match(view.banner, /gradient/, 'the amber banner is striped, unlike the solid amber of refused');
  assert.equal(view.facts['Serial'], fake.serial);
  assert.equal(view.facts['Status'], 'Unknown');
  await page.screenshot({path: path.join(OUT, 'scan-page-desktop-unconfirmed.png'), fullPage: true});

  // Supplying it is recorded, not done: still amber, with the transaction to be checked later...
  await page.click('#supply');
  await page.waitForFunction(() => document.querySelectorAll('#history .entry').length === 3);
  view = await resultView(page);
  assert.equal(view.verdict, 'UNCONFIRMED');
  assert.equal(view.cls, 'result v-unconfirmed');
  assert.match(view.facts['Transaction'], /^[0-9a-f]{32}$/);
  // ...and supplying it again is the same pending supply, not a second one.
  await page.click('#supply');
  await waitForVerdict(page, 'UNCONFIRMED \u2014 already recorded');
  assert.equal((await resultView(page)).cls, 'result v-unconfirmed');
});
