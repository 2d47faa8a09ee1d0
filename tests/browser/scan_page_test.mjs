// Browser test of vpointd's scan station page (GET /): a real vpointd on a free loopback port, Debian's
// chromium driven by playwright-core (which downloads no browser). Independent of Redis: the pack routes'
// answers are either intercepted in the browser (page.route) to check what the page sends and how it shows
// each verdict, or taken from the real daemon (its problem+json when no mirror is there).
//
// Environment (set by tests/browser/CMakeLists.txt): VPOINTD = path of the vpointd binary, VPOINT_BROWSER_OUT =
// folder for screenshots, CHROMIUM = browser binary (default /usr/bin/chromium).
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {launchChromium, resultView, waitForVerdict} from './page_helpers.mjs';

// Installed by scripts/setup (npm ci --prefix tests/browser); say so instead of a bare module-not-found.
const {chromium} = await import('playwright-core').catch((e) => {
  throw new Error('playwright-core is not installed: run scripts/setup (npm ci --prefix tests/browser)\n' + e);
});

const VPOINTD = process.env.VPOINTD;
const OUT = process.env.VPOINT_BROWSER_OUT || path.join(process.cwd(), 'browser-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const KEY = 'browser-test-key-5f1c2a9e';
const GS = '\x1d';
const GTIN = '09506000134352';

let daemon, base, context, page, work;
const daemonOutput = [];

// ---- fixtures ---------------------------------------------------------------------------------------------
function startDaemon() {
  const config = path.join(work, 'vpointd.toml');
  writeFileSync(config, `[http]
listen = "127.0.0.1:0"
threads = 1
shutdown_timeout_s = 2

[location]
gln = "4012345000009"
name = "Browser test pharmacy"

[[auth.keys]]
name = "browser-test"
key = "${KEY}"
role = "pharmacy"
`);
  daemon = spawn(VPOINTD, ['--config', config], {stdio: ['ignore', 'pipe', 'pipe'], cwd: work});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('vpointd did not report its URL within 10 s:\n' +
                                                    daemonOutput.join(''))), 10000);
    const onData = (chunk) => {
      daemonOutput.push(chunk.toString());
      const m = daemonOutput.join('').match(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    daemon.stdout.on('data', onData);
    daemon.stderr.on('data', onData);
    daemon.on('exit', (code) => { clearTimeout(timer); reject(new Error('vpointd exited with ' + code + ':\n' +
                                                                       daemonOutput.join(''))); });
  });
}

before(async () => {
  assert.ok(VPOINTD && existsSync(VPOINTD), `VPOINTD must name the built vpointd binary (got ${VPOINTD})`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup (Debian package chromium)`);
  mkdirSync(OUT, {recursive: true});
  work = mkdtempSync(path.join(tmpdir(), 'vpoint-browser-'));
  base = await startDaemon();
  ({context, page} = await launchChromium(chromium, CHROMIUM, path.join(work, 'profile')));
  context.setDefaultTimeout(10000);
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (daemon && daemon.exitCode === null) {
    daemon.removeAllListeners('exit');
    const exited = new Promise((r) => daemon.once('exit', r));
    daemon.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
  }
  if (work) rmSync(work, {recursive: true, force: true});
});

// ---- helpers ----------------------------------------------------------------------------------------------
function packJson(serial, batch = 'LOT-A1') {
  return {scheme: 'gs1', gtin: GTIN, ppn: null, serial, batch, expiry: '261231', expiry_date: '2026-12-31',
          nhrn: null};
}
const product = {code: GTIN, gtin: GTIN, ppn: null, name: 'Amoxicillin 500 mg, 20 capsules', market: 'DE'};

function verdict(fields) {
  return {pack: packJson('7XK2Q9P4M1'), verdict: 'ok', status: 'active', reason: null, nmvs_code: null,
          alert_id: null, product, source: 'mirror', warnings: [], batch_state: 'active', expired: false,
          repeat: false, ...fields};
}

// Intercepts POSTs to `route` and answers each with the next of `answers`; returns the captured requests.
async function intercept(route, answers) {
  const seen = [];
  await page.route(base + route + '*', async (r) => {
    const req = r.request();
    seen.push({url: req.url(), method: req.method(), headers: await req.allHeaders(), body: req.postDataBuffer()});
    const answer = answers[Math.min(seen.length - 1, answers.length - 1)];
    await r.fulfill({status: 200, contentType: 'application/json', body: JSON.stringify(answer)});
  });
  return seen;
}

async function openPage() {
  const response = await page.goto(base + '/');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'scan');
  return response;
}

// ---- tests ------------------------------------------------------------------------------------------------
test('GET / serves one self-contained page under a strict Content-Security-Policy', async () => {
  const res = await fetch(base + '/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html; charset=utf-8/);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/]+={0,2}'(;|$)/);
  assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/]+={0,2}'(;|$)/);
  assert.match(csp, /connect-src 'self'/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const html = await res.text();
  assert.doesNotMatch(html, /<script[^>]+src=/i, 'no external script');
  assert.doesNotMatch(html, /<link[^>]+stylesheet/i, 'no external style sheet');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'no resource from another host');

  // In the browser: the CSP lets the page's own script run (the scan field gets focus from it) and blocks
  // nothing the page needs; every request stays on vpointd's origin.
  const problems = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await openPage();
  assert.equal(await page.textContent('#verdict'), 'Ready to scan');
  assert.equal(await page.getAttribute('#announce', 'aria-live'), 'assertive');
  assert.equal(await page.textContent('label[for=scan]'), 'Scan a pack');
  assert.equal(await page.textContent('label[for=key]'), 'API key');
  assert.equal(await page.isDisabled('#supply'), true, 'no pack scanned yet');
  assert.deepEqual(problems, [], 'no CSP violation or script error');
  for (const url of requests) assert.ok(url.startsWith(base + '/') || url.startsWith('data:'), url);
});

test('the API key is kept in sessionStorage: it survives a reload, not a new tab', async () => {
  await openPage();
  assert.equal(await page.textContent('#key-state'), 'No key yet');
  await page.fill('#key', KEY);
  await page.press('#key', 'Enter');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('vpoint.key')), KEY);
  assert.equal(await page.evaluate(() => localStorage.getItem('vpoint.key')), null);
  assert.equal(await page.textContent('#key-state'), 'Key saved for this tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'scan', 'back to the scan field');

  await page.reload();
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'scan');
  assert.equal(await page.inputValue('#key'), KEY);

  const other = await context.newPage();
  await other.goto(base + '/');
  assert.equal(await other.inputValue('#key'), '', 'another tab does not see the key');
  await other.close();
});

test('a wedge scan with Ctrl+] separators goes to /v1/verify with real GS and shows a green OK', async () => {
  await openPage();
  const seen = await intercept('/v1/verify', [verdict({})]);
  // What a keyboard-wedge scanner types: the data, Ctrl+] for each GS, then Enter.
  await page.keyboard.type('01' + GTIN + '217XK2Q9P4M1');
  await page.keyboard.press('Control+BracketRight');
  await page.keyboard.type('10LOT-A1');
  await page.keyboard.press('Control+BracketRight');
  assert.equal(await page.inputValue('#scan'), '01' + GTIN + '217XK2Q9P4M1\u00a610LOT-A1\u00a6');
  await page.keyboard.type('17261231');
  await page.locator('.scan').screenshot({path: path.join(OUT, 'scan-field-wedge-input.png')});
  await page.keyboard.press('Enter');
  await waitForVerdict(page, 'OK');

  assert.equal(seen.length, 1);
  assert.equal(seen[0].method, 'POST');
  assert.equal(seen[0].headers['authorization'], 'Bearer ' + KEY);
  assert.equal(seen[0].headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(seen[0].body.toString()),
                   {scan: '01' + GTIN + '217XK2Q9P4M1' + GS + '10LOT-A1' + GS + '17261231'});

  const view = await resultView(page);
  assert.equal(view.cls, 'result v-ok');
  assert.equal(view.sub, 'Active pack \u2014 may be supplied');
  assert.equal(view.facts['Product'], 'Amoxicillin 500 mg, 20 capsules');
  assert.equal(view.facts['GTIN'], GTIN);
  assert.equal(view.facts['Serial'], '7XK2Q9P4M1');
  assert.equal(view.facts['Batch'], 'LOT-A1');
  assert.equal(view.facts['Expiry'], '2026-12-31');
  assert.equal(view.facts['Status'], 'Active');
  assert.equal(view.history.length, 1);
  assert.match(view.history[0], /^okVerify · 7XK2Q9P4M1 · Amoxicillin 500 mg, 20 capsules/);
  assert.equal(await page.inputValue('#scan'), '', 'the field is ready for the next scan');
  assert.equal(await page.isDisabled('#supply'), false);
  await page.screenshot({path: path.join(OUT, 'scan-page-desktop-ok.png'), fullPage: true});
  await page.unroute(base + '/v1/verify*');
});

test('a configured stand-in, Alt+029 and a scan typed while focus is elsewhere all arrive as GS', async () => {
  await openPage();
  const seen = await intercept('/v1/verify', [verdict({})]);
  await page.click('summary');
  await page.fill('#standin', '~');
  await page.dispatchEvent('#standin', 'change');
  assert.equal(await page.evaluate(() => localStorage.getItem('vpoint.gs_standin')), '~');
  await page.click('#history-title');  // focus leaves every field: the scanner still types into the scan field
  await page.keyboard.type('01' + GTIN + '21SER-1~10LOT-A1');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'scan');
  // Some wedges type GS as Alt + 0 2 9 on the numeric keypad.
  await page.keyboard.down('Alt');
  for (const k of ['Numpad0', 'Numpad2', 'Numpad9']) await page.keyboard.press(k);
  await page.keyboard.up('Alt');
  await page.keyboard.type('17261231');
  await page.keyboard.press('Enter');
  await waitForVerdict(page, 'OK');
  assert.deepEqual(JSON.parse(seen[0].body.toString()),
                   {scan: '01' + GTIN + '21SER-1' + GS + '10LOT-A1' + GS + '17261231'});
  // Without a configured stand-in, the server's own stand-ins (e.g. <GS>) are sent as typed.
  await page.fill('#standin', '');
  await page.dispatchEvent('#standin', 'change');
  await page.fill('#scan', '01' + GTIN + '21SER-1<GS>10LOT-A1');
  await page.press('#scan', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('#history .entry').length === 2);
  assert.deepEqual(JSON.parse(seen[1].body.toString()), {scan: '01' + GTIN + '21SER-1<GS>10LOT-A1'});
  await page.unroute(base + '/v1/verify*');
});

test('Supply, Destroy and Undo act on the last scanned pack; refused is amber, alert is red', async () => {
  await openPage();
  const repaired = verdict({warnings: ['scan_repaired'], repair: 'caps_lock'});
  const verifies = await intercept('/v1/verify', [repaired]);
  // Pasted or typed U+241D (the GS control picture) is a separator too.
  await page.fill('#scan', '01' + GTIN + '217xk2q9p4m1' + '\u241d' + '10lot-a1');
  assert.equal(await page.inputValue('#scan'), '01' + GTIN + '217xk2q9p4m1\u00a610lot-a1');
  await page.press('#scan', 'Enter');
  await waitForVerdict(page, 'OK');
  assert.deepEqual(JSON.parse(verifies[0].body.toString()), {scan: '01' + GTIN + '217xk2q9p4m1' + GS + '10lot-a1'});
  assert.deepEqual((await resultView(page)).warnings,
                   ['Scan repaired: The scanner sent letters in the wrong case (caps lock); corrected. ' +
                    'The result is for the corrected code.']);

  const decommissions = await intercept('/v1/decommission', [
    verdict({verdict: 'alert', status: 'supplied', reason: 'already_inactive', nmvs_code: 'NMVS_NC_PCK_22',
             alert_id: 'A-1700000000000-1', operation: 'decommission', action: 'supply',
             previous_status: 'supplied', transaction_id: 'tx-1'}),
    verdict({status: 'destroyed', operation: 'decommission', action: 'destroy', previous_status: 'active',
             transaction_id: 'tx-2'}),
  ]);
  await page.click('#supply');
  await waitForVerdict(page, 'ALERT');
  const supply = decommissions[0];
  // The pack as the server identified it (the repaired one), not the raw scan.
  assert.deepEqual(JSON.parse(supply.body.toString()),
                   {pack: {gtin: GTIN, serial: '7XK2Q9P4M1', batch: 'LOT-A1', expiry: '261231'}, action: 'supply'});
  assert.match(supply.headers['idempotency-key'], /^[0-9a-f]{32}$/);
  let view = await resultView(page);
  assert.equal(view.cls, 'result v-alert');
  assert.equal(view.sub, 'Possible falsification \u2014 do not supply. Keep the pack aside.');
  assert.equal(view.reason, 'The pack is already supplied (dispensed).');
  assert.equal(view.facts['Alert'], 'A-1700000000000-1');
  assert.equal(view.facts['NMVS code'], 'NMVS_NC_PCK_22');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'scan', 'ready for the next scan');
  await page.screenshot({path: path.join(OUT, 'scan-page-desktop-alert.png'), fullPage: true});

  // Destroy cannot be undone: the first click only asks for confirmation.
  await page.click('#destroy');
  assert.equal(await page.textContent('#destroy'), 'Confirm destroy');
  assert.equal(decommissions.length, 1);
  await page.click('#destroy');
  await waitForVerdict(page, 'Destroyed');
  assert.equal(JSON.parse(decommissions[1].body.toString()).action, 'destroy');
  assert.notEqual(decommissions[1].headers['idempotency-key'], supply.headers['idempotency-key']);

  const undos = await intercept('/v1/undo', [
    verdict({verdict: 'refused', status: 'destroyed', reason: 'undo_not_allowed', operation: 'undo',
             action: 'destroy', previous_status: 'destroyed', transaction_id: null}),
  ]);
  await page.click('#undo');
  await waitForVerdict(page, 'REFUSED');
  assert.deepEqual(JSON.parse(undos[0].body.toString()),
                   {pack: {gtin: GTIN, serial: '7XK2Q9P4M1', batch: 'LOT-A1', expiry: '261231'}, action: 'destroy'});
  view = await resultView(page);
  assert.equal(view.cls, 'result v-refused');
  assert.equal(view.sub, 'Undo not done');
  assert.equal(view.reason, 'Destroyed or stolen packs can never be undone.');
  assert.equal(view.history.length, 4);
  await page.screenshot({path: path.join(OUT, 'scan-page-desktop-refused.png'), fullPage: true});
  for (const r of ['/v1/verify*', '/v1/decommission*', '/v1/undo*']) await page.unroute(base + r);
});

test('a picture from the camera or a file is posted to /v1/scan and every code in it is listed', async () => {
  await openPage();
  const png = await page.screenshot();  // any real PNG: the page sends the bytes as they are
  const seen = await intercept('/v1/scan', [{operation: 'verify', action: null, summary: {total: 2},
    results: [verdict({symbol: {format: 'DataMatrix', aim: ']d2'}}),
              verdict({pack: packJson('SECOND-9', 'LOT-B'), verdict: 'refused', reason: 'expired',
                       nmvs_code: 'NMVS_NC_PCK_02', expired: true, symbol: {format: 'DataMatrix', aim: ']d2'}})]}]);
  await page.setInputFiles('#image', {name: 'pack.png', mimeType: 'image/png', buffer: png});
  await waitForVerdict(page, 'OK');
  assert.equal(seen.length, 1);
  assert.equal(new URL(seen[0].url).search, '?operation=verify');
  assert.equal(seen[0].headers['content-type'], 'image/png');
  assert.equal(seen[0].headers['authorization'], 'Bearer ' + KEY);
  assert.ok(seen[0].body.equals(png), 'the image bytes are sent unchanged');
  const view = await resultView(page);
  assert.equal(view.history.length, 2);
  assert.match(view.history[1], /^refused/);
  // The history lets the user look at the second code again.
  await page.click('#history li:nth-child(2) .entry');
  assert.equal(await page.textContent('#reason'), 'The pack is past its expiry date.');
  assert.equal((await resultView(page)).facts['Expiry'], '2026-12-31 (expired)');
  await page.unroute(base + '/v1/scan*');
});

test('the real daemon\'s problem+json is shown in plain words and the buttons stay off', async () => {
  await openPage();
  const scan = '01' + GTIN + '21REAL-1' + GS + '10LOT-A1';
  // What vpointd itself answers without a mirror (a 503 mirror_unavailable, or 404 while no pack routes).
  const res = await fetch(base + '/v1/verify', {method: 'POST', body: JSON.stringify({scan}),
    headers: {'Authorization': 'Bearer ' + KEY, 'Content-Type': 'application/json'}});
  assert.ok(res.status >= 400, 'no mirror: the real daemon cannot answer ok');
  const problem = await res.json();
  assert.ok(problem.title && problem.type, 'problem+json');

  await page.fill('#scan', scan.replace(GS, '\u241d'));
  await page.press('#scan', 'Enter');
  await waitForVerdict(page, 'Not checked');
  const view = await resultView(page);
  assert.equal(view.cls, 'result v-error');
  assert.equal(view.sub, problem.title);
  assert.ok(view.reason.startsWith(problem.detail), view.reason);
  assert.equal(view.facts['HTTP status'], String(res.status));
  assert.equal(view.facts['Problem'], problem.type);
  assert.equal(view.facts['Scanned'], scan.replace(GS, '\u00a6'));
  assert.equal(await page.isDisabled('#supply'), true, 'nothing to act on');
});

test('on a phone-width screen the page fits without sideways scrolling', async () => {
  const phone = await context.newPage();
  await phone.setViewportSize({width: 390, height: 844});
  await phone.goto(base + '/');
  await phone.fill('#key', KEY);
  await phone.press('#key', 'Enter');
  await phone.route(base + '/v1/verify*', (r) => r.fulfill({status: 200, contentType: 'application/json',
    body: JSON.stringify(verdict({verdict: 'alert', status: 'unknown', reason: 'unknown_serial',
                                  nmvs_code: 'NMVS_NC_PC_02', alert_id: 'A-1700000000000-7',
                                  pack: packJson('ZZ99FAKE'), warnings: ['gs_recovered']}))}));
  await phone.fill('#scan', '01' + GTIN + '21ZZ99FAKE10LOT-A1');
  await phone.press('#scan', 'Enter');
  await phone.waitForFunction(() => document.getElementById('verdict').textContent === 'ALERT');
  assert.equal(await phone.textContent('#reason'), 'The serial number is not known for this product.');
  const widths = await phone.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(widths[0] <= widths[1], `page ${widths[0]}px wide in a ${widths[1]}px window`);
  await phone.screenshot({path: path.join(OUT, 'scan-page-phone-alert.png'), fullPage: true});
  await phone.close();
});
