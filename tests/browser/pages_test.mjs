// Browser tests of the page's modes (issue 17) against the real stack (tests/browser/stack.mjs): redis-server,
// vpoint-central-sim and vpointd, Debian's chromium driven by playwright-core. No pack answer is faked: the
// page shows what vpointd answers over its mirror of the simulator, and each test checks the effect through
// the API or at the simulator too. Every state is kept as a screenshot on a desktop and a phone-sized screen
// (VPOINT_BROWSER_OUT).
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {readFileSync, statSync} from 'node:fs';
import path from 'node:path';

import {resultView, waitForVerdict} from './page_helpers.mjs';
import {GLN, OUT, shoot, signIn, startStack, until, wedgeScan} from './stack.mjs';

const KEYS = {
  pharmacy: {name: 'counter-1', key: 'browser-pharmacy-key-41c9', role: 'pharmacy'},
  wholesaler: {name: 'dock-1', key: 'browser-wholesaler-key-8e02', role: 'wholesaler'},
  returns: {name: 'returns-1', key: 'browser-returns-key-5a77', role: 'returns'},
  admin: {name: 'admin-1', key: 'browser-admin-key-0b3f', role: 'admin'},
};
const GS = '\x1d';

let stack, page, base;
let pool = [];      // usable packs of the simulator, handed out one test at a time
let recalled;       // a pack whose batch the simulator recalled (the mirror knows it)
const errors = [];  // script errors and CSP violations seen on any page
const started = Date.now();

const take = (n = 1) => {
  assert.ok(pool.length >= n, 'enough usable packs');
  return pool.splice(0, n);
};
// A GS1 pack (a wedge types its element string; zint draws it).
const takeGs1 = () => {
  const pack = pool.find((p) => p.gtin);
  pool = pool.filter((p) => p !== pack);
  return pack;
};
const codeOf = (p) => p.gtin || p.ppn;
const swapCase = (s) => s.replace(/[a-z]/gi, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()));

before(async () => {
  stack = await startStack({name: 'pages', keys: Object.values(KEYS), packs: 2000, products: 4});  // 2000: three cases (SSCC) per product
  ({page, base} = stack);
  // A 4xx answer is logged by chromium as "Failed to load resource": the tests provoke some (a wrong key, an
  // unknown case); anything else on the console as an error (a CSP violation, a script error) fails them.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  const listed = await stack.sim('GET', '/admin/packs?limit=200&scan=1');
  // One recalled batch, known to the mirror through the change feed; its packs leave the pool.
  recalled = listed.packs.find((p) => p.gtin);
  await stack.sim('POST', `/admin/batches/${recalled.gtin}/${encodeURIComponent(recalled.batch)}/recall`,
                  {reason: 'browser test recall'});
  await until('the mirror knows the recall', async () => {
    const r = await stack.api(KEYS.pharmacy.key, 'GET', `/v1/packs/${recalled.gtin}/${recalled.serial}`);
    return r.status === 200 && r.json.batch && r.json.batch.state === 'recalled';
  });
  pool = listed.packs.filter((p) => !(codeOf(p) === codeOf(recalled) && p.batch === recalled.batch));
});

after(async () => {
  if (stack) await stack.close();
});

// The simulator received a transaction for this pack and action (the outbox synced it).
async function centralGot(pack, action, undo = false) {
  await until(`the central system receives ${undo ? 'the undo of ' : ''}${action} of ${pack.serial}`, async () => {
    const t = await stack.sim('GET', '/admin/transactions?limit=1000');
    return t.transactions.some((x) => {
      const req = x.request || x;
      return req.serial === pack.serial && req.action === action && Boolean(req.undo) === undo;
    });
  }, 30000);
}

async function history(key, pack) {
  const r = await stack.api(key, 'GET', `/v1/packs/${codeOf(pack)}/${encodeURIComponent(pack.serial)}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test('GET / is one page under a strict CSP; each key is offered the modes of its role', async () => {
  const res = await fetch(base + '/');
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src( 'sha256-[A-Za-z0-9+/]+={0,2}'){5};/);
  assert.match(csp, /connect-src 'self'/);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));

  await page.goto(base + '/');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'scan');
  assert.equal(await page.textContent('#key-state'), 'No key yet');
  assert.equal(await page.isHidden('#modes'), true, 'no modes before a key');
  await shoot(page, 'start-no-key');

  const offered = {};
  for (const [role, k] of Object.entries(KEYS)) {
    await signIn(page, base, k);
    const me = await stack.api(k.key, 'GET', '/v1/me');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.name, k.name);
    assert.equal(me.json.role, role);
    assert.equal(me.json.location, GLN);
    assert.equal(await page.textContent('#who'), [k.name, role, GLN].join(' \u00b7 '));
    offered[role] = await page.$$eval('.mode:not([hidden])', (bs) => bs.map((b) => b.dataset.mode));
    assert.deepEqual([...offered[role]].sort(), [...me.json.modes].sort(), `${role}: the page offers what /v1/me says`);
  }
  assert.deepEqual(offered, {pharmacy: ['counter', 'alerts'], wholesaler: ['counter', 'receipt', 'alerts'],
                             returns: ['returns', 'alerts'], admin: ['alerts']});
  // The key lives in this tab only.
  assert.equal(await page.evaluate(() => localStorage.getItem('vpoint.key')), null);
  const other = await stack.context.newPage();
  await other.goto(base + '/');
  assert.equal(await other.inputValue('#key'), '', 'another tab does not see the key');
  await other.close();
  // A wrong key is named as such, and no mode is offered.
  await page.fill('#key', 'not-a-key');
  await page.press('#key', 'Enter');
  await page.waitForFunction(() => document.getElementById('key-state').textContent === 'Key not accepted');
  assert.equal(await page.isHidden('#modes'), true);
  page.removeAllListeners('request');
  for (const url of requests) assert.ok(url.startsWith(base + '/') || url.startsWith('data:'), url);
  assert.deepEqual(errors, [], 'no script error or CSP violation');
});

test('counter: verify, supply, the same supply again, undo; the central system gets supply and undo', async () => {
  const pack = takeGs1();
  await signIn(page, base, KEYS.pharmacy);
  assert.equal(await page.getAttribute('.mode[data-mode=counter]', 'aria-pressed'), 'true');
  await shoot(page, 'counter-ready');

  await wedgeScan(page, pack);
  await waitForVerdict(page, 'OK');
  let view = await resultView(page);
  assert.equal(view.cls, 'result v-ok');
  assert.equal(view.facts['Serial'], pack.serial);
  assert.equal(view.facts['Status'], 'Active');
  await shoot(page, 'counter-ok');

  await page.click('#supply');
  await waitForVerdict(page, 'Supplied');
  view = await resultView(page);
  assert.equal(view.sub, 'Done. Pack status: Supplied (dispensed)');
  assert.match(view.facts['Transaction'], /^[0-9a-f]{32}$/);
  await shoot(page, 'counter-supplied');

  // The same pack again: refused, said in plain words, no alert (a repeat of this counter's own supply).
  await page.click('#supply');
  await waitForVerdict(page, 'Already supplied');
  view = await resultView(page);
  assert.equal(view.cls, 'result v-refused');
  assert.equal(view.sub, 'Same pack, scanned here moments ago \u2014 no alert');
  await shoot(page, 'counter-repeat');

  await page.click('#undo');
  await waitForVerdict(page, 'Undone');
  view = await resultView(page);
  assert.equal(view.sub, 'Pack status: Active');
  assert.equal(view.history.length, 4);
  await shoot(page, 'counter-undone');

  // The effect, not only the page: active again in the mirror, and both changes reached the central system.
  const h = await history(KEYS.pharmacy.key, pack);
  assert.equal(h.status, 'active');
  assert.deepEqual(h.history.filter((e) => e.operation !== 'verify').map((e) => e.operation).slice(0, 2),
                   ['undo', 'decommission']);
  await centralGot(pack, 'supply');
  await centralGot(pack, 'supply', true);
});

test('counter: an unknown serial is a red ALERT, a recalled batch is REFUSED, a photo is read', async () => {
  await signIn(page, base, KEYS.pharmacy);
  const [known] = pool.filter((p) => p.gtin).slice(0, 1);
  const fake = {...known, serial: 'NOTISSUED' + Date.now().toString().slice(-5)};
  await wedgeScan(page, fake);
  await waitForVerdict(page, 'ALERT');
  let view = await resultView(page);
  assert.equal(view.cls, 'result v-alert');
  assert.equal(view.reason, 'The serial number is not known for this product.');
  assert.match(view.facts['Alert'], /^\d+-\d+$/);
  await shoot(page, 'counter-alert');

  await wedgeScan(page, recalled);
  await waitForVerdict(page, 'REFUSED');
  view = await resultView(page);
  assert.equal(view.cls, 'result v-refused');
  assert.equal(view.reason, 'The batch has been recalled.');
  await shoot(page, 'counter-refused');

  // A real DataMatrix (zint, GS1 mode) of a real pack, uploaded as a photo.
  const photo = takeGs1();
  const file = path.join(stack.work, 'pack.png');
  execFileSync('zint', ['-b', '71', '--gs1', '--square', '--scale', '4', '--quietzones', '-o', file,
                        '-d', `[01]${photo.gtin}[21]${photo.serial}[10]${photo.batch}[17]${photo.expiry}`]);
  await page.setInputFiles('#image', {name: 'pack.png', mimeType: 'image/png', buffer: readFileSync(file)});
  await waitForVerdict(page, 'OK');
  view = await resultView(page);
  assert.equal(view.facts['Serial'], photo.serial);
  await shoot(page, 'counter-photo');

  // Destroy takes a second click; then the pack is destroyed in the mirror.
  await page.click('#destroy');
  assert.equal(await page.textContent('#destroy'), 'Confirm destroy');
  await shoot(page, 'counter-destroy-confirm');
  await page.click('#destroy');
  await waitForVerdict(page, 'Destroyed');
  assert.equal((await resultView(page)).sub, 'Done. Pack status: Destroyed');
  await shoot(page, 'counter-destroyed');
  assert.equal((await history(KEYS.pharmacy.key, photo)).status, 'destroyed');
  assert.deepEqual(errors, []);
});

test('counter: a wedge scan with caps lock on is repaired and says so', async () => {
  await signIn(page, base, KEYS.pharmacy);
  const pack = pool.find((p) => p.gtin && /[a-z]/i.test(p.serial + p.batch));
  pool = pool.filter((p) => p !== pack);
  await wedgeScan(page, pack, swapCase);
  await waitForVerdict(page, 'OK');
  const view = await resultView(page);
  assert.equal(view.facts['Serial'], pack.serial, 'the corrected serial');
  assert.equal(view.warnings.length, 1);
  assert.match(view.warnings[0], /^Scan repaired: The scanner sent letters in the wrong case \(caps lock\); corrected\./);
  await shoot(page, 'counter-caps-lock-repaired');
});

test('goods receipt: 50 packs, an unknown serial and a recalled pack; problems on top, CSV, survives reload',
     async () => {
  await signIn(page, base, KEYS.wholesaler);
  await page.click('.mode[data-mode=receipt]');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'receipt-scan');
  const packs = take(50);
  const unknown = {...pool.find((p) => p.gtin)};
  unknown.serial = 'UNKNOWNSN' + Date.now().toString().slice(-5);
  unknown.scan = '01' + unknown.gtin + '21' + unknown.serial + GS + '10' + unknown.batch + GS + '17' + unknown.expiry;
  for (const p of [...packs, unknown, recalled]) {
    await page.fill('#receipt-scan', p.scan);
    await page.press('#receipt-scan', 'Enter');
  }
  // The same pack twice is listed once.
  await page.fill('#receipt-scan', packs[0].scan);
  await page.press('#receipt-scan', 'Enter');
  assert.equal(await page.textContent('#receipt-note'), 'This pack is already in the list.');
  assert.equal(await page.locator('#receipt-rows tr').count(), 52);
  assert.deepEqual(await page.$$eval('#receipt-counts li', (l) => l.map((x) => x.textContent)),
                   ['OK 0', 'Not verified yet 52']);
  await shoot(page, 'receipt-scanned');

  await page.click('#receipt-verify');
  await page.waitForFunction(() => document.getElementById('receipt-note').textContent === 'All scans verified.');
  assert.deepEqual(await page.$$eval('#receipt-counts li', (l) => l.map((x) => x.textContent)),
                   ['OK 50', 'Alert 1', 'Refused 1']);
  const verdicts = await page.$$eval('#receipt-rows tr', (rows) => rows.map((r) => r.dataset.verdict));
  assert.deepEqual(verdicts.slice(0, 2), ['alert', 'refused'], 'problems pinned at the top, alerts first');
  assert.ok(verdicts.slice(2).every((v) => v === 'ok'));
  assert.match(await page.textContent('#receipt-rows tr:nth-child(1)'), /serial number is not known/);
  assert.match(await page.textContent('#receipt-rows tr:nth-child(2)'), /recalled/);
  assert.equal(await page.getAttribute('#receipt-mute', 'data-sounds'), '1', 'one signal for the one alert');
  await shoot(page, 'receipt-verified');

  // A receipt is a verification: nothing changed status.
  assert.equal((await history(KEYS.wholesaler.key, packs[7])).status, 'active');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#receipt-export')]);
  assert.match(download.suggestedFilename(), /^goods-receipt-\d{8}-\d{4}\.csv$/);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\r\n');
  assert.equal(csv[0], 'time,verdict,reason,status,gtin,ppn,serial,batch,expiry,product,case,scan');
  assert.equal(csv.length, 53);
  const column = (name) => csv.slice(1).map((line) => line.split(',')[csv[0].split(',').indexOf(name)]);
  assert.equal(column('verdict').filter((v) => v === 'ok').length, 50);
  assert.deepEqual(column('verdict').slice(0, 2), ['alert', 'refused']);
  assert.ok(csv.some((line) => line.includes(unknown.serial)));

  // A reload keeps the list; the mute switch is remembered.
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('#receipt-rows tr').length === 52);
  assert.deepEqual(await page.$$eval('#receipt-counts li', (l) => l.map((x) => x.textContent)),
                   ['OK 50', 'Alert 1', 'Refused 1']);
  await page.click('#receipt-mute');
  assert.equal(await page.getAttribute('#receipt-mute', 'aria-pressed'), 'true');
  assert.equal(await page.textContent('#receipt-mute'), 'Sound off');
  await page.click('#receipt-mute');
  assert.deepEqual(errors, []);
});

// The SSCC of the simulator's case n (docs/central-sim.md "Seeded data"): 3, company prefix, 9 digits, check.
function sscc(n) {
  const body = '3' + '4012345' + String(n).padStart(9, '0');
  let sum = 0;
  for (let i = 0; i < body.length; ++i) sum += Number(body[body.length - 1 - i]) * (i % 2 === 0 ? 3 : 1);
  return body + String((10 - (sum % 10)) % 10);
}

test('goods receipt: a case label (SSCC) becomes its packs, each with its verdict; an unknown case is named',
     async () => {
  await signIn(page, base, KEYS.wholesaler);
  await page.click('.mode[data-mode=receipt]');
  await page.click('#receipt-clear');
  await page.click('#receipt-clear');  // confirm
  await page.waitForFunction(() => document.querySelectorAll('#receipt-rows tr').length === 0);
  const known = sscc(2), missing = sscc(1999999);
  for (const code of [known, missing]) {
    await page.fill('#receipt-scan', '00' + code);
    await page.press('#receipt-scan', 'Enter');
  }
  assert.equal(await page.locator('#receipt-rows tr').count(), 2);
  await page.click('#receipt-verify');
  await page.waitForFunction(() => /verified/.test(document.getElementById('receipt-note').textContent));
  // What vpointd says about the case, asked directly: the page shows exactly these packs and verdicts.
  const direct = await stack.api(KEYS.wholesaler.key, 'POST', '/v1/bulk', {operation: 'verify', sscc: known});
  assert.equal(direct.status, 200, direct.text);
  assert.equal(direct.json.results.length, 16);
  const rows = await page.$$eval('#receipt-rows tr', (trs) => trs.map((tr) => ({
    verdict: tr.dataset.verdict, text: tr.textContent})));
  assert.equal(rows.length, 17, '16 packs of the case and the unknown case');
  const caseRows = rows.filter((r) => r.text.includes('case ' + known));
  assert.equal(caseRows.length, 16);
  for (const result of direct.json.results) {
    const row = caseRows.find((r) => r.text.includes('SN ' + result.pack.serial));
    assert.ok(row, `pack ${result.pack.serial} of the case is listed`);
    assert.equal(row.verdict, result.verdict);
  }
  const unknownRow = rows.find((r) => r.text.includes(missing));
  assert.equal(unknownRow.verdict, 'error');
  assert.match(unknownRow.text, /not known/);
  await shoot(page, 'receipt-sscc');
});

test('returns desk: restock, quarantine and destroy, each recorded in the pack\'s history', async () => {
  await signIn(page, base, KEYS.returns);
  assert.equal(await page.getAttribute('.mode[data-mode=returns]', 'aria-pressed'), 'true');
  await shoot(page, 'returns-ready');
  const [good, doomed] = take(2);
  const key = KEYS.returns.key;
  const scan = async (p) => {
    await page.fill('#returns-scan', p.scan);
    await page.press('#returns-scan', 'Enter');
  };
  const decisions = async (p) => (await history(key, p)).history.filter((e) => e.operation === 'returns_decision');

  // An active pack may go back to stock.
  await scan(good);
  await page.waitForFunction(() => document.getElementById('returns-verdict').textContent === 'RESTOCK');
  assert.equal(await page.getAttribute('#returns-result', 'class'), 'result v-ok');
  assert.match(await page.textContent('#returns-sub'), /^May go back to saleable stock/);
  assert.equal(await page.isEnabled('#returns-restock'), true);
  await shoot(page, 'returns-may-restock');
  await page.fill('#returns-note', 'unopened, returned by ward 3');
  await page.click('#returns-restock');
  await page.waitForFunction(() => document.getElementById('returns-done').textContent.startsWith('Recorded'));
  assert.equal(await page.textContent('#returns-done'), 'Recorded: Back to saleable stock.');
  await shoot(page, 'returns-restocked');
  let recorded = await decisions(good);
  assert.equal(recorded.length, 1);
  assert.equal(recorded[0].action, 'restock');
  assert.equal(recorded[0].note, 'unopened, returned by ward 3');
  assert.equal(recorded[0].actor, KEYS.returns.name);

  // A recalled pack may not: restock is off, quarantine is recorded.
  await scan(recalled);
  await page.waitForFunction(() => document.getElementById('returns-verdict').textContent === 'DO NOT RESTOCK');
  assert.equal(await page.getAttribute('#returns-result', 'class'), 'result v-refused');
  assert.match(await page.textContent('#returns-sub'), /recall/);
  assert.equal(await page.isDisabled('#returns-restock'), true);
  await shoot(page, 'returns-do-not-restock');
  await page.click('#returns-quarantine');
  await page.waitForFunction(() => document.getElementById('returns-done').textContent.startsWith('Recorded'));
  assert.equal(await page.textContent('#returns-done'), 'Recorded: Quarantined.');
  recorded = await decisions(recalled);
  assert.deepEqual(recorded.map((e) => e.action), ['quarantine']);
  assert.equal((await history(key, recalled)).status, 'active', 'a quarantine changes no status');

  // Destroy: a second click confirms; the pack is destroyed and the central system told.
  await scan(doomed);
  await page.waitForFunction(() => document.getElementById('returns-verdict').textContent === 'RESTOCK');
  await page.click('#returns-destroy');
  assert.equal(await page.textContent('#returns-destroy'), 'Confirm destroy');
  await page.click('#returns-destroy');
  await page.waitForFunction(() => document.getElementById('returns-done').textContent.startsWith('Recorded'));
  assert.equal(await page.textContent('#returns-done'), 'Recorded: Destroyed.');
  await shoot(page, 'returns-destroyed');
  const after = await history(key, doomed);
  assert.equal(after.status, 'destroyed');
  assert.deepEqual(after.history.filter((e) => e.operation === 'returns_decision').map((e) => e.action), ['destroy']);
  await centralGot(doomed, 'destroy');
  assert.deepEqual(await page.$$eval('#returns-log li', (l) => l.map((x) => x.dataset.decision)),
                   ['destroy', 'quarantine', 'restock']);
  assert.deepEqual(errors, []);
});

test('alerts: this location\'s open alerts, newest first; one acknowledged', async () => {
  await signIn(page, base, KEYS.pharmacy);
  await page.click('.mode[data-mode=alerts]');
  await page.waitForFunction(() => document.querySelectorAll('#alerts-list .alert-item').length > 0);
  const open = await stack.api(KEYS.pharmacy.key, 'GET', '/v1/alerts?acked=false&order=desc&limit=50');
  assert.equal(open.status, 200, open.text);
  const ids = await page.$$eval('#alerts-list .alert-item', (l) => l.map((x) => x.dataset.id));
  assert.deepEqual(ids, open.json.alerts.map((a) => a.id), 'the page lists what the API says, newest first');
  assert.ok(open.json.alerts.some((a) => a.reason === 'unknown_serial'));
  assert.equal(await page.textContent('#alerts-badge'), String(ids.length));
  await shoot(page, 'alerts-open');

  const target = open.json.alerts.find((a) => a.reason === 'unknown_serial');
  await page.click(`#alerts-list .alert-item[data-id="${target.id}"] button`);
  await page.waitForFunction(() => document.getElementById('alerts-note').textContent === 'Alert acknowledged.');
  assert.match(await page.textContent(`#alerts-list .alert-item[data-id="${target.id}"]`),
               /Acknowledged by counter-1/);
  await page.waitForFunction((n) => document.getElementById('alerts-badge').textContent === String(n), ids.length - 1);
  await shoot(page, 'alerts-acknowledged');
  const acked = await stack.api(KEYS.pharmacy.key, 'GET', '/v1/alerts?acked=true&order=desc');
  const stored = acked.json.alerts.find((a) => a.id === target.id);
  assert.ok(stored, 'the acknowledgement is stored');
  assert.equal(stored.ack.by, KEYS.pharmacy.name);

  // After a reload only the open ones are listed; "show acknowledged too" brings it back.
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('#alerts-list .alert-item').length > 0);
  assert.equal(await page.locator(`#alerts-list .alert-item[data-id="${target.id}"]`).count(), 0);
  await page.check('#alerts-all');
  await page.waitForSelector(`#alerts-list .alert-item.acked[data-id="${target.id}"]`);
  assert.deepEqual(errors, []);
});

// Tabs forward until the focused element matches `selector` (at most 30 presses).
async function tabTo(selector) {
  for (let i = 0; i < 30; ++i) {
    if (await page.evaluate((sel) => document.activeElement && document.activeElement.matches(sel), selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached ${selector}`);
}

test('keyboard only: change mode, scan, verify all and acknowledge without a mouse; every control is named',
     async () => {
  await signIn(page, base, KEYS.wholesaler);
  // Every control has an accessible name (a label, its text or aria-label).
  const unnamed = await page.$$eval('input, button, select, textarea', (els) => els.filter((el) => {
    if (!el.checkVisibility()) return false;
    const labelled = el.labels && [...el.labels].some((l) => l.textContent.trim());
    return !labelled && !el.getAttribute('aria-label') && !el.textContent.trim();
  }).map((el) => el.outerHTML.slice(0, 80)));
  assert.deepEqual(unnamed, []);

  await tabTo('.mode[data-mode=counter]');
  await tabTo('.mode[data-mode=receipt]');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'receipt-scan', 'the scan field takes the focus');
  // The list of the case test is still there (it survives a reload): Clear list, and Enter again to confirm.
  assert.ok(await page.locator('#receipt-rows tr').count() > 0);
  await tabTo('#receipt-clear');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Confirm clear');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#receipt-rows tr').length === 0);
  // Focus left the (now disabled) button: a scan typed anyway lands in the scan field.
  await wedgeScan(page, takeGs1());
  const rowsAfterScan = await page.locator('#receipt-rows tr').allTextContents();
  assert.equal(rowsAfterScan.length, 1, `one scan, one row: ${JSON.stringify(rowsAfterScan)}; ` +
               `note: ${await page.textContent('#receipt-note')}`);
  await tabTo('#receipt-verify');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('receipt-note').textContent === 'All scans verified.');
  assert.equal(await page.getAttribute('#receipt-rows tr', 'data-verdict'), 'ok');

  await tabTo('.mode[data-mode=alerts]');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#alerts-list .alert-item button').length > 0);
  const before = await page.locator('#alerts-list .alert-item:not(.acked)').count();
  await tabTo('#alerts-list .alert-item button');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('alerts-note').textContent === 'Alert acknowledged.');
  assert.equal(await page.locator('#alerts-list .alert-item:not(.acked)').count(), before - 1);
  assert.deepEqual(errors, []);
});

test('screenshots were written for every state at both sizes', () => {
  for (const state of ['start-no-key', 'counter-ok', 'counter-supplied', 'counter-repeat', 'counter-undone',
                       'counter-alert', 'counter-refused', 'counter-photo', 'counter-destroy-confirm',
                       'counter-destroyed', 'counter-caps-lock-repaired', 'receipt-scanned',
                       'receipt-verified', 'receipt-sscc', 'returns-may-restock', 'returns-restocked',
                       'returns-do-not-restock', 'returns-destroyed', 'alerts-open', 'alerts-acknowledged']) {
    for (const size of ['desktop', 'phone']) {
      const file = path.join(OUT, `${state}-${size}.png`);
      assert.ok(statSync(file).mtimeMs >= started - 1000, `${file} written by this run`);
    }
  }
});
