// Browser test of the scan station page against the real stack (issue 12 "Truth at the counter"): redis-server,
// vpoint-central-sim and vpointd on free loopback ports (tests/browser/stack.mjs), Debian's chromium driven by
// playwright-core. A pack the mirror knows is green; with the central system gone, a pack nobody can confirm is
// amber "UNCONFIRMED" with the plain words of the outage procedure, and its supply is recorded, never shown as
// done. Its own stack: the test stops the simulator.
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';

import {resultView, waitForVerdict} from './page_helpers.mjs';
import {shoot, signIn, startStack, wedgeScan as wedge} from './stack.mjs';

const KEY = 'browser-offline-key-7d2e';
const UNCONFIRMED = 'Could not be checked with the national system. Follow your national procedure for outages ' +
                    '(keep the pack apart or record it); vpoint will check it as soon as the connection is back.';

let stack, page, simUrl;
before(async () => {
  stack = await startStack({name: 'offline', keys: [{name: 'counter-1', key: KEY, role: 'pharmacy'}]});
  ({page, simUrl} = stack);
});

after(async () => {
  if (stack) await stack.close();
});

const wedgeScan = (pack) => wedge(page, pack);

test('with the central system gone, a pack nobody can confirm is amber UNCONFIRMED, never green', async () => {
  const listed = await (await fetch(simUrl + '/admin/packs?limit=50')).json();
  const known = listed.packs.find((p) => p.gtin);
  assert.ok(known, 'the simulator lists a GS1 pack');
  await signIn(page, stack.base, {key: KEY, name: 'counter-1'});
  assert.equal(await page.evaluate(() => document.activeElement.id), 'scan', 'the counter is ready to scan');

  // Both directions: the mirror knows this pack, so it is green with the central system up...
  await wedgeScan(known);
  await waitForVerdict(page, 'OK');
  assert.equal((await resultView(page)).cls, 'result v-ok');

  // ...and with it gone a made-up serial of the same product cannot be confirmed.
  await stack.stopSimulator();
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
  await shoot(page, 'counter-unconfirmed');

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
  await shoot(page, 'counter-unconfirmed-supply-repeat');
});
