// The README's tour, run as written against the stack `scripts/run --no-build` starts (issue 18): every
// command between <!-- tour --> and <!-- /tour --> in README.md runs in bash with var/demo.env sourced, and its
// output is compared with the output the README shows. JSON: every field shown must be there with that value
// (`"…"` = any value; `, …` = fields left out; arrays element by element, same length). Text: line by line, `…`
// inside a line = any text, a line `…` = any number of lines.
//
// Environment (tests/docs/CMakeLists.txt): VPOINTD (its directory holds the binaries scripts/run starts).
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFile, spawn} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.dirname(process.env.VPOINTD || path.join(ROOT, 'build/bin/vpointd'));
const ELLIPSIS = '\u2026';

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

// The tour's steps: [{command, expected: [lines]}] from the console blocks between the markers.
export function tourSteps(readme) {
  const start = readme.indexOf('<!-- tour -->'), end = readme.indexOf('<!-- /tour -->');
  assert.ok(start >= 0 && end > start, 'README.md marks its tour with <!-- tour --> and <!-- /tour -->');
  const steps = [];
  for (const block of readme.slice(start, end).matchAll(/```console\n([\s\S]*?)```/g)) {
    for (const line of block[1].split('\n')) {
      if (line.startsWith('$ ')) steps.push({command: line.slice(2), expected: []});
      else if (line !== '' && steps.length) steps[steps.length - 1].expected.push(line);
    }
  }
  return steps;
}

// Where `actual` differs from what the README shows (`expected`, parsed JSON), as a list of paths.
export function jsonDiffs(expected, actual, at = '$') {
  if (expected === ELLIPSIS) return [];
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${at}: an array expected, got ${JSON.stringify(actual)}`];
    if (expected.length !== actual.length) return [`${at}: ${expected.length} elements expected, got ${actual.length}`];
    return expected.flatMap((e, i) => jsonDiffs(e, actual[i], `${at}[${i}]`));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      return [`${at}: an object expected, got ${JSON.stringify(actual)}`];
    }
    return Object.entries(expected).flatMap(([k, v]) => (k in actual ? jsonDiffs(v, actual[k], `${at}.${k}`)
                                                                       : [`${at}.${k}: missing`]));
  }
  return expected === actual ? [] : [`${at}: ${JSON.stringify(expected)} expected, got ${JSON.stringify(actual)}`];
}

// The README's shortened JSON made parseable: ", …" (fields left out) is dropped.
export function parseShown(text) {
  return JSON.parse(text.replace(new RegExp(`,\\s*${ELLIPSIS}`, 'g'), ''));
}

// Text lines: `…` inside a line is any text; a line that is only `…` any number of lines (also none).
export function textMatches(expected, actualLines) {
  const rx = (line) => new RegExp('^' + line.split(ELLIPSIS).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*') + '$');
  const match = (e, a) => {
    if (e === expected.length) return a === actualLines.length;
    if (expected[e] === ELLIPSIS) return match(e + 1, a) || (a < actualLines.length && match(e, a + 1));
    return a < actualLines.length && rx(expected[e]).test(actualLines[a].trimEnd()) && match(e + 1, a + 1);
  };
  return match(0, 0);
}

let run, work, envFile;
before(async () => {
  assert.ok(existsSync(path.join(BIN, 'vpointd')), `${BIN}/vpointd is missing (the build makes it)`);
  work = mkdtempSync(path.join(tmpdir(), 'vpoint-tour-'));
  const env = {...process.env, VPOINT_VAR: path.join(work, 'var'), VPOINT_BIN_DIR: BIN,
               VPOINT_PORT: String(await freePort()), VPOINT_REDIS_PORT: String(await freePort()),
               VPOINT_CENTRAL_PORT: String(await freePort())};
  run = spawn(path.join(ROOT, 'scripts/run'), ['--no-build'], {cwd: ROOT, env, detached: true,
                                                                stdio: ['ignore', 'pipe', 'pipe']});
  run.output = [];
  run.stdout.on('data', (c) => run.output.push(c.toString()));
  run.stderr.on('data', (c) => run.output.push(c.toString()));
  envFile = path.join(work, 'var', 'demo.env');
  const deadline = Date.now() + 240000;
  while (!(existsSync(envFile) && readFileSync(envFile, 'utf8').includes('PATH='))) {
    if (run.exitCode !== null) throw new Error('scripts/run stopped:\n' + run.output.join(''));
    if (Date.now() > deadline) throw new Error('scripts/run did not get ready in 240 s:\n' + run.output.join(''));
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (run && run.exitCode === null) {
    const exited = new Promise((r) => run.once('exit', r));
    try { process.kill(-run.pid, 'SIGTERM'); } catch { /* gone */ }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
    try { process.kill(-run.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  if (work) rmSync(work, {recursive: true, force: true});
});

function shell(command) {
  return new Promise((resolve) => {
    execFile('bash', ['-c', `set -eo pipefail; . "${envFile}"; ${command}`],
             {cwd: work, timeout: 60000, maxBuffer: 16 << 20}, (error, stdout, stderr) =>
               resolve({code: error ? error.code ?? 1 : 0, stdout, stderr}));
  });
}

test('the README tour runs as written and shows what vpointd answers', async () => {
  const steps = tourSteps(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  assert.ok(steps.length >= 10, `the tour has its steps (${steps.length})`);
  for (const {command, expected} of steps) {
    const r = await shell(command);
    assert.equal(r.code, 0, `$ ${command}\nexit ${r.code}\n${r.stderr}${r.stdout}`);
    if (!expected.length) continue;
    if (expected[0].startsWith('{')) {
      assert.equal(expected.length, 1, `$ ${command}: one JSON line shown`);
      let actual;
      try { actual = JSON.parse(r.stdout); } catch (e) { assert.fail(`$ ${command}: not JSON: ${r.stdout}`); }
      assert.deepEqual(jsonDiffs(parseShown(expected[0]), actual), [], `$ ${command}\n${r.stdout}`);
    } else {
      assert.ok(textMatches(expected, r.stdout.trimEnd().split('\n')),
                `$ ${command}\nshown:\n${expected.join('\n')}\ngot:\n${r.stdout}`);
    }
  }
});

test('the comparison fails where the output differs', () => {
  // The checks above could not fail if these did not.
  assert.deepEqual(jsonDiffs(parseShown('{"verdict":"ok","status":"…", …}'), {verdict: 'ok', status: 'x', a: 1}), []);
  assert.equal(jsonDiffs(parseShown('{"verdict":"ok", …}'), {verdict: 'alert'}).length, 1);
  assert.equal(jsonDiffs(parseShown('{"r":[{"v":1}]}'), {r: [{v: 1}, {v: 2}]}).length, 1);
  assert.equal(jsonDiffs(parseShown('{"missing":null}'), {}).length, 1);
  assert.ok(textMatches(['a …', '…', 'c'], ['a 1', 'b', 'b', 'c']));
  assert.ok(!textMatches(['a …', 'c'], ['a 1', 'b', 'c']));
  assert.ok(!textMatches(['outbox     0 entries …'], ['outbox     3 entries in 1 partitions']));
});
