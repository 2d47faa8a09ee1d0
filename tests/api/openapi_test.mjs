// GET /openapi.json against the real stack (tests/browser/stack.mjs without the browser): redis-server,
// vpoint-central-sim seeded with the demo data of scripts/run (seed 42, 40 products, 20 000 packs) and vpointd.
//
// 1. swagger-parser validates the served document as OpenAPI 3.1.
// 2. Every request example of the document (request bodies and parameters) is sent, in document order, with a
//    key of its `x-role`; the answer must have its `x-status`. The examples name real packs of that demo data,
//    so they hold on a fresh stack (and with scripts/run).
// 3. Every answer this file sees (examples and the scenario below: ok, refused, alert, unconfirmed with the
//    simulator stopped, 4xx problems) is validated with ajv (draft 2020-12, strict) against the schema the
//    document gives for its route, status and Content-Type; an undocumented status or Content-Type fails.
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';

import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

import {GLN, startStack, until} from '../browser/stack.mjs';

const KEYS = {
  pharmacy: {name: 'counter-1', key: 'api-pharmacy-key-7f3a', role: 'pharmacy'},
  wholesaler: {name: 'dock-1', key: 'api-wholesaler-key-2c91', role: 'wholesaler'},
  returns: {name: 'returns-1', key: 'api-returns-key-b4e0', role: 'returns'},
  admin: {name: 'admin-1', key: 'api-admin-key-90d5', role: 'admin'},
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const GS = '\x1d';

let stack, doc, ajv;
const seen = [];  // {route, method, status, type, verdict} of every answer validated

// The component schemas as one JSON Schema ($defs), so that "#/components/schemas/X" resolves in ajv.
const DEFS_ID = 'urn:vpoint:openapi';
function absoluteRefs(value) {
  if (Array.isArray(value)) return value.map(absoluteRefs);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')
        ? `${DEFS_ID}#/$defs/${v.slice('#/components/schemas/'.length)}` : absoluteRefs(v);
    }
    return out;
  }
  return value;
}
function makeAjv(document) {
  const a = new Ajv2020({strict: true, allowUnionTypes: true, allErrors: true});
  addFormats(a);
  a.addSchema({$id: DEFS_ID, $defs: absoluteRefs(document.components.schemas)});
  return a;
}

// "#/components/responses/X" (or any local ref) -> the object it names.
function deref(object) {
  let o = object;
  while (o && o.$ref && o.$ref.startsWith('#/') && !o.$ref.startsWith('#/components/schemas/')) {
    o = o.$ref.slice(2).split('/').reduce((x, k) => x[k], doc);
  }
  return o;
}

// The documented route of a concrete path: /v1/packs/X/Y -> /v1/packs/{code}/{serial}.
function routeOf(pathname) {
  const parts = pathname.split('/');
  for (const template of Object.keys(doc.paths)) {
    const t = template.split('/');
    if (t.length === parts.length && t.every((s, i) => (s.startsWith('{') && parts[i] !== '') || s === parts[i])) return template;
  }
  return null;
}

// Validates one answer against the document and records it. Returns the parsed body (JSON) or the text.
function check(method, pathname, res, text) {
  const route = routeOf(pathname);
  assert.ok(route, `${pathname} is not in the document`);
  const operation = doc.paths[route][method.toLowerCase()];
  assert.ok(operation, `${method} ${route} is not in the document`);
  const response = deref(operation.responses[String(res.status)]);
  assert.ok(response, `${method} ${route} answered ${res.status}, which the document does not list: ${text.slice(0, 300)}`);
  const type = (res.headers.get('content-type') || '').split(';')[0].trim();
  const content = response.content && response.content[type];
  assert.ok(content, `${method} ${route} ${res.status}: Content-Type ${type} is not documented`);
  const body = type.endsWith('json') ? JSON.parse(text) : text;
  const validate = ajv.compile(absoluteRefs(content.schema));
  assert.ok(validate(body), `${method} ${route} ${res.status} does not match its schema: ` +
                            `${JSON.stringify(validate.errors, null, 1).slice(0, 3000)}\nbody: ${text.slice(0, 1500)}`);
  if (body && typeof body === 'object') refusesWrongBodies(validate, body, `${method} ${route} ${res.status}`, type, route);
  seen.push({route, method: method.toUpperCase(), status: res.status, type: body && body.type,
             verdict: body && body.verdict});
  return body;
}

// The schema is not a blank cheque: the same answer with a required member missing, a verdict that does not
// exist or (where the document closes the object) a member it does not name is refused.
function refusesWrongBodies(validate, body, what, type, route) {
  const without = (o, k) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k));
  assert.ok(Object.keys(body).some((k) => !validate(without(body, k))), `${what}: the schema requires no member`);
  if ('verdict' in body) assert.ok(!validate({...body, verdict: 'maybe'}), `${what}: the schema takes any verdict`);
  const open = type === 'application/problem+json' || route === '/v1/alerts/{id}/ack' || route === '/openapi.json';
  if (!open) assert.ok(!validate({...body, not_documented: 1}), `${what}: the schema takes members it does not name`);
  const first = Array.isArray(body.results) ? body.results[0] : undefined;
  if (first && typeof first === 'object') {
    const results = [{...first, not_documented: 1}, ...body.results.slice(1)];
    assert.ok(!validate({...body, results}), `${what}: the schema takes result members it does not name`);
  }
}

// One request, validated. `role`: a key of KEYS or null (no Authorization).
async function call(role, method, pathname, {body, query = '', contentType, raw} = {}) {
  const headers = {};
  if (role) headers.Authorization = 'Bearer ' + KEYS[role].key;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['Content-Type'] = contentType;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = contentType || 'application/json';
  }
  const res = await fetch(stack.base + pathname + (query ? '?' + query : ''), {method, headers, body: payload});
  const text = await res.text();
  return {status: res.status, headers: res.headers, body: check(method, pathname, res, text)};
}

const scanOf = (p) => `01${p.gtin}21${p.serial}${GS}10${p.batch}${GS}17${p.expiry}`;

before(async () => {
  stack = await startStack({name: 'api', keys: Object.values(KEYS), seed: 42, products: 40, packs: 20000,
                            browser: false});
  const res = await fetch(stack.base + '/openapi.json');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  doc = JSON.parse(await res.text());
  ajv = makeAjv(doc);
});

after(async () => {
  if (stack) await stack.close();
});

test('the served document is valid OpenAPI 3.1 (swagger-parser)', async () => {
  assert.match(doc.openapi, /^3\.1\./);
  const api = await SwaggerParser.validate(structuredClone(doc));
  assert.equal(api.info.title, 'vpointd');
  // Every schema compiles in strict mode (no unknown keyword, no type left open by accident).
  for (const name of Object.keys(doc.components.schemas)) ajv.getSchema(`${DEFS_ID}#/$defs/${name}`);
});

test('every request example gets the status its x-status documents, with an answer of the documented shape', async () => {
  let sent = 0;
  for (const [route, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const content = op.requestBody && op.requestBody.content;
      for (const [type, media] of Object.entries(content || {})) {
        for (const [name, example] of Object.entries(media.examples || {})) {
          const what = `${method.toUpperCase()} ${route} example ${name}`;
          assert.ok(KEYS[example['x-role']] && Number.isInteger(example['x-status']), `${what}: x-role and x-status`);
          const r = await call(example['x-role'], method.toUpperCase(), route, {body: example.value, contentType: type});
          assert.equal(r.status, example['x-status'], `${what}: ${JSON.stringify(r.body).slice(0, 500)}`);
          ++sent;
        }
      }
      // Parameter examples: the examples of one name across the parameters make one request.
      const byName = new Map();
      for (const p of op.parameters || []) {
        for (const [name, example] of Object.entries(p.examples || {})) {
          if (!byName.has(name)) byName.set(name, []);
          byName.get(name).push({param: p, example});
        }
      }
      for (const [name, list] of byName) {
        const what = `${method.toUpperCase()} ${route} parameter example ${name}`;
        const {example: first} = list[0];
        assert.ok(list.every(({example}) => example['x-status'] === first['x-status'] && example['x-role'] === first['x-role']),
                  `${what}: one x-status and x-role`);
        assert.ok(KEYS[first['x-role']] && Number.isInteger(first['x-status']), `${what}: x-role and x-status`);
        let pathname = route;
        const query = new URLSearchParams();
        for (const {param, example} of list) {
          if (param.in === 'path') pathname = pathname.replace(`{${param.name}}`, encodeURIComponent(example.value));
          else if (param.in === 'query') query.set(param.name, String(example.value));
        }
        assert.ok(!pathname.includes('{'), `${what}: every path parameter has the example`);
        const r = await call(first['x-role'], method.toUpperCase(), pathname, {query: query.toString()});
        assert.equal(r.status, first['x-status'], `${what}: ${JSON.stringify(r.body).slice(0, 500)}`);
        ++sent;
      }
    }
  }
  assert.ok(sent >= 25, `${sent} examples sent`);
});

test('answers of every route validate against the document: ok, refused, alert, problems', async () => {
  const listed = (await stack.sim('GET', '/admin/packs?limit=60')).packs;
  const examples = JSON.stringify(doc.paths);
  // Packs no example touches (the examples above changed some).
  const pool = listed.filter((p) => p.gtin && !examples.includes(p.serial));
  assert.ok(pool.length >= 6, 'enough fresh GS1 packs');
  const [a, b, c, d, e] = pool;

  // Open routes.
  for (const route of ['/', '/healthz', '/readyz', '/metrics', '/openapi.json']) {
    assert.equal((await call(null, 'GET', route)).status, 200, route);
  }
  for (const role of Object.keys(KEYS)) {
    const me = await call(role, 'GET', '/v1/me');
    assert.equal(me.body.role, role);
    assert.equal(me.body.location, GLN);
  }

  // One pack through its life: verify ok, supply ok, supply again refused (repeat), verify refused, undo ok.
  assert.equal((await call('pharmacy', 'POST', '/v1/verify', {body: {scan: scanOf(a)}})).body.verdict, 'ok');
  assert.equal((await call('pharmacy', 'POST', '/v1/decommission', {body: {scan: scanOf(a), action: 'supply'}})).body.verdict, 'ok');
  const again = await call('pharmacy', 'POST', '/v1/decommission', {body: {scan: scanOf(a), action: 'supply'}});
  assert.equal(again.body.verdict, 'refused');
  assert.equal(again.body.repeat, true);
  assert.equal((await call('wholesaler', 'POST', '/v1/verify', {body: {scan: scanOf(a)}})).body.verdict, 'refused');
  assert.equal((await call('pharmacy', 'POST', '/v1/undo', {body: {scan: scanOf(a), action: 'supply'}})).body.verdict, 'ok');
  // A caps-locked scan, repaired against the mirror.
  const swapped = scanOf(b).replace(/[a-z]/gi, (ch) => (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase()));
  const repaired = await call('pharmacy', 'POST', '/v1/verify', {body: {scan: swapped}});
  if (repaired.body.verdict === 'ok') assert.equal(repaired.body.repair, 'caps_lock');
  // An alert: a serial nobody issued.
  const fake = {...c, serial: 'APITESTNOTISSUED1'};
  const alerted = await call('pharmacy', 'POST', '/v1/decommission', {body: {scan: scanOf(fake), action: 'supply'}});
  assert.equal(alerted.body.verdict, 'alert');
  assert.ok(alerted.body.alert_id);

  // Bulk: packs, an unreadable item, an unknown serial; then a decommission in bulk.
  const bulk = await call('wholesaler', 'POST', '/v1/bulk', {body: {items: [
    {scan: scanOf(c)}, {pack: {gtin: d.gtin, serial: d.serial, batch: d.batch, expiry: d.expiry}}, {scan: '0105'},
    {scan: scanOf({...d, serial: 'APITESTNOTISSUED2'})}]}});
  assert.deepEqual(bulk.body.results.map((r) => r.verdict), ['ok', 'ok', 'refused', 'alert']);
  const exported = await call('wholesaler', 'POST', '/v1/bulk', {body: {operation: 'decommission', action: 'export',
                                                                         items: [{scan: scanOf(c)}]}});
  assert.equal(exported.body.results[0].verdict, 'ok');
  assert.equal(exported.body.results[0].operation, 'decommission');

  // A real DataMatrix photo of a pack.
  const file = path.join(stack.work, 'pack.png');
  execFileSync('zint', ['-b', '71', '--gs1', '--square', '--scale', '4', '--quietzones', '-o', file,
                        '-d', `[01]${e.gtin}[21]${e.serial}[10]${e.batch}[17]${e.expiry}`]);
  const scanned = await call('pharmacy', 'POST', '/v1/scan', {raw: readFileSync(file), contentType: 'image/png'});
  assert.equal(scanned.body.results[0].verdict, 'ok');
  const supplied = await call('pharmacy', 'POST', '/v1/scan', {query: 'operation=decommission&action=supply',
                                                               raw: readFileSync(file), contentType: 'image/png'});
  assert.equal(supplied.body.results[0].action, 'supply');

  // History, alerts, acknowledgement.
  const history = await call('pharmacy', 'GET', `/v1/packs/${a.gtin}/${encodeURIComponent(a.serial)}`, {query: 'limit=2'});
  assert.equal(history.body.history.length, 2);
  assert.ok(history.body.next_cursor);
  await call('pharmacy', 'GET', `/v1/packs/${a.gtin}/${encodeURIComponent(a.serial)}`, {query: 'cursor=' + history.body.next_cursor});
  const alerts = await call('pharmacy', 'GET', '/v1/alerts', {query: 'order=desc&acked=false'});
  assert.ok(alerts.body.alerts.some((x) => x.id === alerted.body.alert_id));
  const acked = await call('pharmacy', 'POST', `/v1/alerts/${alerted.body.alert_id}/ack`);
  assert.equal(acked.body.ack.by, KEYS.pharmacy.name);
  await call('admin', 'GET', '/v1/alerts', {query: 'acked=true'});

  // Problems.
  const problem = async (status, typeName, ...args) => {
    const r = await call(...args);
    assert.equal(r.status, status, JSON.stringify(r.body).slice(0, 500));
    assert.equal(r.body.type, '/problems/' + typeName);
    return r.body;
  };
  await problem(401, 'unauthorized', null, 'POST', '/v1/verify', {body: {scan: scanOf(a)}});
  await problem(401, 'unauthorized', null, 'GET', '/v1/alerts');
  await problem(400, 'bad_request', 'pharmacy', 'POST', '/v1/verify', {raw: '{"scan":', contentType: 'application/json'});
  await problem(415, 'unsupported_media_type', 'pharmacy', 'POST', '/v1/verify', {raw: 'x', contentType: 'text/plain'});
  await problem(415, 'unsupported_media_type', 'pharmacy', 'POST', '/v1/scan', {raw: 'x', contentType: 'text/plain'});
  await problem(422, 'invalid_scan', 'pharmacy', 'POST', '/v1/scan', {raw: readFileSync(file).subarray(0, 40), contentType: 'image/png'});
  await problem(422, 'invalid_scan', 'wholesaler', 'POST', '/v1/bulk', {body: {sscc: '123'}});
  await problem(404, 'not_found', 'wholesaler', 'POST', '/v1/bulk', {body: {sscc: '340999990000000013'}});
  await problem(403, 'forbidden', 'pharmacy', 'POST', '/v1/undo', {body: {scan: scanOf(a), action: 'lock'}});
  await problem(403, 'forbidden', 'pharmacy', 'GET', '/v1/alerts', {query: 'location=4099999000012'});
  await problem(400, 'bad_request', 'pharmacy', 'GET', '/v1/alerts', {query: 'colour=red'});
  await problem(404, 'not_found', 'pharmacy', 'GET', `/v1/packs/${a.gtin}/NOSUCHSERIAL`);
  await problem(400, 'bad_request', 'pharmacy', 'GET', `/v1/packs/${a.gtin}/${a.serial}`, {query: 'cursor=x'});
  await problem(404, 'not_found', 'pharmacy', 'POST', '/v1/alerts/1-0/ack');
  await problem(400, 'bad_request', 'returns', 'POST', '/v1/returns/decision', {body: {scan: scanOf(b), decision: 'sell'}});
  const refused = await problem(409, 'restock_refused', 'returns', 'POST', '/v1/returns/decision',
                                {body: {scan: scanOf(a).replace(a.serial, 'APITESTNOTISSUED3'), decision: 'restock'}});
  assert.equal(refused.verification.verdict, 'alert');
});

test('with the central system gone: unconfirmed answers validate too', async () => {
  await stack.stopSimulator();
  const code = '05907553801427', batch = 'M24-QPHC0', expiry = '270930';
  const unknown = (serial) => `01${code}21${serial}${GS}10${batch}${GS}17${expiry}`;
  await until('vpointd notices the simulator is gone', async () => {
    const r = await call('pharmacy', 'POST', '/v1/verify', {body: {scan: unknown('APITESTOFFLINE0')}});
    return r.body.verdict === 'unconfirmed';
  });
  const first = await call('pharmacy', 'POST', '/v1/decommission', {body: {scan: unknown('APITESTOFFLINE1'), action: 'supply'}});
  assert.equal(first.body.verdict, 'unconfirmed');
  assert.equal(first.body.source, 'offline');
  assert.ok(first.body.transaction_id);
  const second = await call('pharmacy', 'POST', '/v1/decommission', {body: {scan: unknown('APITESTOFFLINE1'), action: 'supply'}});
  assert.equal(second.body.repeat, true);
  assert.equal(second.body.pending.transaction_id, first.body.transaction_id);
  const bulk = await call('wholesaler', 'POST', '/v1/bulk', {body: {items: [{scan: unknown('APITESTOFFLINE2')}]}});
  assert.equal(bulk.body.results[0].verdict, 'unconfirmed');
  const quarantined = await call('returns', 'POST', '/v1/returns/decision',
                                 {body: {scan: unknown('APITESTOFFLINE3'), decision: 'quarantine', note: 'found in a return'}});
  assert.equal(quarantined.body.verification.verdict, 'unconfirmed');
  const destroyed = await call('returns', 'POST', '/v1/returns/decision', {body: {scan: unknown('APITESTOFFLINE4'), decision: 'destroy'}});
  assert.equal(destroyed.body.decommission.verdict, 'unconfirmed');
  const ready = await call(null, 'GET', '/readyz');
  assert.ok(ready.status === 200 || ready.status === 503);
});

test('every kind of answer was seen and validated', () => {
  const has = (route, method, pred) => seen.some((s) => s.route === route && s.method === method && pred(s));
  for (const route of ['/v1/verify', '/v1/decommission']) {
    for (const verdict of ['ok', 'refused', 'alert', 'unconfirmed']) {
      assert.ok(has(route, 'POST', (s) => s.verdict === verdict), `POST ${route} ${verdict}`);
    }
  }
  for (const status of [400, 401, 403, 404, 409, 415, 422]) {
    assert.ok(seen.some((s) => s.status === status && String(s.type).startsWith('/problems/')), `a ${status} problem`);
  }
  // Every documented route and method answered at least once.
  for (const [route, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      if (item[method]) assert.ok(has(route, method.toUpperCase(), () => true), `${method.toUpperCase()} ${route}`);
    }
  }
});
