#include "vpoint/service/scan_page.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace vpoint::service {
namespace {

// The page is three literal blocks so that the CSP can name the exact bytes of the inline style and script
// by hash (CSP Level 2 §4.2.4): an injected <script> or style attribute would not match and is not run.

constexpr std::string_view kHead = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>vpoint scan station</title>
<link rel="icon" href="data:,">
)page";

constexpr std::string_view kStyle = R"page(
:root{--ok:#13773a;--refused:#f2a900;--unconfirmed:#ffbf00;--alert:#c11f1f;--error:#46515c;--ink:#15202b;
  --muted:#56616b;
  --line:#d3d9df;--bg:#f3f5f7;--focus:#1f6fd1;
  font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;
  color:var(--ink);background:var(--bg);line-height:1.4}
*{box-sizing:border-box}
body{margin:0}
.bar{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;justify-content:space-between;
  padding:.6rem 1rem;background:#1e2b38;color:#fff}
h1{font-size:1.15rem;margin:0;font-weight:700}
h1 span{font-weight:400;opacity:.8}
h2{font-size:1rem;margin:0 0 .5rem}
.key{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
.key label{font-size:.9rem}
.key-state{font-size:.85rem;opacity:.85}
input{font:inherit;padding:.45rem .6rem;border:1px solid #9aa5b0;border-radius:6px;background:#fff;color:var(--ink)}
.key input{width:13rem;max-width:55vw}
main{max-width:64rem;margin:0 auto;padding:1rem;display:grid;gap:1rem}
@media (min-width:56rem){
  main{grid-template-columns:minmax(0,3fr) minmax(0,2fr);align-items:start}
  .scan,.result{grid-column:1}
  .history{grid-column:2;grid-row:1 / span 2}
}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1rem}
.scan-label{display:block;font-size:1.1rem;font-weight:700;margin-bottom:.35rem}
.scan-input{width:100%;font:600 1.35rem/1.3 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;
  padding:.75rem .8rem;border:3px solid var(--focus);border-radius:8px}
.scan-input:focus{outline:4px solid #9cc4f5;outline-offset:1px}
.hint{color:var(--muted);font-size:.9rem;margin:.4rem 0 0}
kbd{font:600 .85em ui-monospace,monospace;border:1px solid #b9c2ca;border-bottom-width:2px;border-radius:4px;
  padding:0 .3em;background:#f7f9fa}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.9rem}
button,.file{font:inherit;font-weight:700;padding:.65rem 1.15rem;min-height:2.9rem;border-radius:8px;
  border:2px solid transparent;cursor:pointer}
button:disabled{opacity:.4;cursor:not-allowed}
button:focus-visible,.file:focus-within{outline:3px solid var(--focus);outline-offset:2px}
.supply{background:var(--ok);color:#fff}
.destroy{background:#7d1b1b;color:#fff}
.destroy.confirm{background:var(--alert);box-shadow:0 0 0 3px #ffd0d0}
.undo{background:#fff;color:#174a85;border-color:#2c6cb5}
.file{position:relative;display:inline-flex;align-items:center;background:#fff;color:var(--ink);
  border-color:#9aa5b0}
.file input{position:absolute;inset:0;width:100%;height:100%;opacity:0;cursor:pointer}
details{margin-top:.9rem}
summary{cursor:pointer;color:var(--muted);font-size:.9rem}
.setting{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin-top:.5rem}
.setting input{width:8rem;font-family:ui-monospace,monospace}
.result{background:#fff;border:1px solid var(--line);border-radius:10px;overflow:hidden}
.banner{padding:1rem 1.25rem;background:#e4e9ee}
.verdict{font-size:2.7rem;font-weight:800;letter-spacing:.02em;line-height:1.1;margin:0}
.sub{font-size:1.2rem;font-weight:700;margin:.3rem 0 0}
.v-ok .banner{background:var(--ok);color:#fff}
.v-refused .banner{background:var(--refused);color:#1c1400}
.v-unconfirmed .banner{background:repeating-linear-gradient(135deg,var(--unconfirmed) 0 22px,#f5b000 22px 44px);
  color:#1c1400}
.v-alert .banner{background:var(--alert);color:#fff}
.v-error .banner{background:var(--error);color:#fff}
.v-busy .banner{background:#dbe4ee}
.v-idle .verdict{font-size:1.6rem;color:var(--muted)}
.details{padding:1rem 1.25rem}
.reason{font-size:1.15rem;font-weight:600;margin:0 0 .8rem}
.reason:empty{display:none}
.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.3rem 1rem;margin:0}
.facts dt{color:var(--muted)}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.facts dd.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-weight:500}
.facts dd.product{font-size:1.15rem}
.warnings{list-style:none;padding:0;margin:.8rem 0 0}
.warnings li{background:#fff5d9;border-left:5px solid var(--refused);padding:.45rem .7rem;margin-top:.4rem}
.history ol{list-style:none;margin:0;padding:0}
.history li{margin-bottom:.4rem}
.entry{width:100%;display:grid;grid-template-columns:auto minmax(0,1fr) auto;gap:.6rem;align-items:center;
  text-align:left;background:#fff;border:1px solid var(--line);font-weight:400;padding:.45rem .6rem;
  min-height:auto;color:var(--ink)}
.entry .what{overflow-wrap:anywhere}
.entry time{color:var(--muted);font-size:.85rem}
.badge{font-size:.78rem;font-weight:800;padding:.15rem .45rem;border-radius:4px;text-transform:uppercase}
.b-ok{background:var(--ok);color:#fff}
.b-refused{background:var(--refused);color:#1c1400}
.b-unconfirmed{background:var(--unconfirmed);color:#1c1400}
.b-alert{background:var(--alert);color:#fff}
.b-error{background:var(--error);color:#fff}
.empty{color:var(--muted);font-size:.9rem}
@media (max-width:30rem){
  main{padding:.6rem}
  .verdict{font-size:2.2rem}
  .actions button,.actions .file{flex:1 1 40%}
  .wide{display:none}
}
)page";

constexpr std::string_view kBody = R"page(
</head>
<body>
<header class="bar">
  <h1>vpoint <span>scan station</span></h1>
  <form id="key-form" class="key" autocomplete="off">
    <label for="key">API key</label>
    <input id="key" type="password" autocomplete="off" spellcheck="false" aria-describedby="key-state">
    <button id="key-save" type="submit" class="undo">Save</button>
    <span id="key-state" class="key-state" aria-live="polite"></span>
  </form>
</header>
<main>
  <section class="scan card" aria-label="Scan">
    <form id="scan-form" autocomplete="off">
      <label class="scan-label" for="scan">Scan a pack</label>
      <input id="scan" class="scan-input" type="text" autocomplete="off" autocapitalize="off" autocorrect="off"
             spellcheck="false" enterkeyhint="send" aria-describedby="scan-hint">
      <p id="scan-hint" class="hint">Scan with the scanner (it ends with <kbd>Enter</kbd>) or type the code and
        press <kbd>Enter</kbd> to verify. <b>&#xA6;</b> marks a group separator (<kbd>Ctrl</kbd>+<kbd>]</kbd>).</p>
    </form>
    <div class="actions" role="group" aria-label="Act on the last scanned pack">
      <button id="supply" type="button" class="supply" disabled>Supply</button>
      <button id="destroy" type="button" class="destroy" disabled>Destroy</button>
      <button id="undo" type="button" class="undo" disabled>Undo</button>
      <label class="file" for="image">Photo<span class="wide">&nbsp;/ image</span>&hellip;
        <input id="image" type="file" accept="image/png,image/jpeg,image/*" capture="environment">
      </label>
    </div>
    <details>
      <summary>Scanner settings</summary>
      <div class="setting">
        <label for="standin">Group separator stand-in sent by this scanner</label>
        <input id="standin" type="text" autocomplete="off" spellcheck="false" aria-describedby="standin-hint">
      </div>
      <p id="standin-hint" class="hint">Only if the scanner is set to send text such as <code>~</code> in place of
        GS. Leave empty otherwise: <code>&lt;GS&gt;</code>, <code>{GS}</code>, <code>^]</code> and missing
        separators are handled by the server.</p>
    </details>
  </section>
  <section id="result" class="result v-idle" aria-label="Result">
    <div class="banner" id="announce" aria-live="assertive" aria-atomic="true">
      <p id="verdict" class="verdict">Ready to scan</p>
      <p id="verdict-sub" class="sub" hidden></p>
    </div>
    <div class="details">
      <p id="reason" class="reason"></p>
      <dl id="facts" class="facts"></dl>
      <ul id="warnings" class="warnings" aria-label="Warnings"></ul>
    </div>
  </section>
  <section class="history card" aria-labelledby="history-title">
    <h2 id="history-title">Last scans</h2>
    <p id="history-empty" class="empty">No scans yet.</p>
    <ol id="history"></ol>
  </section>
</main>
)page";

constexpr std::string_view kScript = R"page(
'use strict';
(() => {
  const GS = '\x1d';
  // Shown in the field where a group separator was keyed: a Latin-1 sign every font has, outside GS1's
  // character set 82, so it can never be part of a code. U+241D (the control picture) is accepted too.
  const GS_MARK = '\u00a6';
  const GS_PICTURE = '\u241d';
  const KEY_STORE = 'vpoint.key';
  const STANDIN_STORE = 'vpoint.gs_standin';
  const HISTORY_MAX = 20;
  const TIMEOUT_MS = 15000;
  const $ = (id) => document.getElementById(id);

  const keyForm = $('key-form'), keyInput = $('key'), keyState = $('key-state');
  const scanForm = $('scan-form'), scanInput = $('scan'), standinInput = $('standin'), imageInput = $('image');
  const resultEl = $('result'), verdictEl = $('verdict'), subEl = $('verdict-sub'), reasonEl = $('reason');
  const factsEl = $('facts'), warningsEl = $('warnings'), historyEl = $('history'), historyEmpty = $('history-empty');
  const buttons = {supply: $('supply'), destroy: $('destroy'), undo: $('undo')};

  const REASONS = {
    unknown_product: 'This product is not known here. It may belong to another market.',
    unknown_serial: 'The serial number is not known for this product.',
    unknown_batch: 'The batch is not known for this product.',
    batch_mismatch: 'The batch does not match the batch recorded for this serial number.',
    expiry_mismatch: 'The expiry date does not match the batch.',
    already_inactive: 'The pack is no longer active.',
    status_conflict: 'The pack\'s status does not allow this change.',
    expired: 'The pack is past its expiry date.',
    recalled: 'The batch has been recalled.',
    withdrawn: 'The product has been withdrawn.',
    locked: 'The pack is locked.',
    undo_window_passed: 'Too late to undo: an undo is only allowed within 10 days.',
    undo_other_location: 'Only the place that decommissioned the pack can undo it.',
    undo_not_allowed: 'Destroyed or stolen packs can never be undone.',
    undo_status_mismatch: 'The pack\'s status does not match the action to undo.',
    parse_error: 'The scan could not be read as a pack code.',
    mirror_unavailable: 'The pack database is unavailable, so the pack could not be checked.',
    central_unavailable: 'The national system cannot be reached.',
    idempotency_conflict: 'This request was already sent with different content.',
    offline_pending: 'Earlier scans of this pack, made while the national system could not be reached, are still ' +
                     'being checked.',
    read_through_limit: 'Not checked with the national system: too many unknown packs in one request. Scan it on ' +
                        'its own.'
  };
  // Issue 12: what the counter does with a pack nobody could confirm (EU 2016/161 Art 29).
  const UNCONFIRMED = 'Could not be checked with the national system. Follow your national procedure for ' +
                      'outages (keep the pack apart or record it); vpoint will check it as soon as the connection ' +
                      'is back.';
  const STATUS = {
    active: 'Active', supplied: 'Supplied (dispensed)', destroyed: 'Destroyed', exported: 'Exported',
    sample: 'Sample', free_sample: 'Free sample', stolen: 'Stolen', locked: 'Locked', expired: 'Expired',
    recalled: 'Recalled', withdrawn: 'Withdrawn', unknown: 'Unknown'
  };
  const DONE = {
    supply: 'Supplied', destroy: 'Destroyed', export: 'Exported', sample: 'Sample', free_sample: 'Free sample',
    stolen: 'Reported stolen', lock: 'Locked'
  };
  const WARNINGS = {
    gs_recovered: 'A missing group separator was restored from the code\'s structure.',
    caps_lock: 'The scanner sent letters in the wrong case (caps lock); corrected.',
    lost_gs: 'The scanner lost a group separator; corrected.',
    unconfirmed: 'Not confirmed by the national system yet.'
  };

  let last = null;     // the last scanned pack: {pack, scan, action}; target of Supply / Destroy / Undo
  let busy = false;
  let altCode = '';    // Alt + numpad digits (some wedges type GS as Alt+029)
  let destroyArmed = null;
  const entries = [];

  // ---- storage -----------------------------------------------------------------------------------------
  function read(store, name) { try { return store.getItem(name) || ''; } catch (e) { return ''; } }
  function write(store, name, value) {
    try { if (value) store.setItem(name, value); else store.removeItem(name); } catch (e) { /* private mode */ }
  }
  const storedKey = () => read(sessionStorage, KEY_STORE);

  function showKeyState() {
    keyState.textContent = storedKey() ? 'Key saved for this tab' : 'No key yet';
  }

  // ---- the scan field: a keyboard wedge types here --------------------------------------------------------
  function insertAtCursor(text) {
    const start = scanInput.selectionStart ?? scanInput.value.length;
    const end = scanInput.selectionEnd ?? start;
    scanInput.setRangeText(text, start, end, 'end');
  }

  // A browser text field never receives GS (0x1D): the wedge's GS keystroke is Ctrl+], which we catch here.
  function isGsKey(e) {
    if (e.key === GS) return true;
    return e.ctrlKey && !e.altKey && !e.metaKey && (e.key === ']' || e.code === 'BracketRight');
  }

  // What is sent: the marks (and the stand-in this scanner is configured with) become the real 0x1D. Other
  // stand-ins and lost separators are left to the server's normaliser and lost-GS repair.
  function scanText(raw) {
    let text = raw.split(GS_MARK).join(GS).split(GS_PICTURE).join(GS);
    const standin = standinInput.value;
    if (standin) text = text.split(standin).join(GS);
    return text;
  }
  const visible = (text) => text.split(GS).join(GS_MARK);

  scanInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); submitScan(); return; }
    if (isGsKey(e)) { e.preventDefault(); insertAtCursor(GS_MARK); return; }
    if (e.altKey && /^Numpad[0-9]$/.test(e.code)) { e.preventDefault(); altCode += e.code.slice(6); }
  });
  scanInput.addEventListener('keyup', (e) => {
    if (e.key !== 'Alt') return;
    if (altCode !== '' && Number(altCode) === 29) insertAtCursor(GS_MARK);
    altCode = '';
  });
  scanInput.addEventListener('input', () => {
    if (scanInput.value.includes(GS) || scanInput.value.includes(GS_PICTURE)) {  // pasted: show the marks
      const pos = scanInput.selectionStart;
      scanInput.value = visible(scanInput.value).split(GS_PICTURE).join(GS_MARK);
      scanInput.setSelectionRange(pos, pos);
    }
  });
  scanForm.addEventListener('submit', (e) => { e.preventDefault(); submitScan(); });

  // A scan that starts while focus is elsewhere (a button, the page) still lands in the scan field.
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t === scanInput || e.metaKey || e.altKey) return;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
    if (t && t.isContentEditable) return;
    const gs = isGsKey(e);
    if (!gs && (e.ctrlKey || e.key.length !== 1)) return;
    if (e.key === ' ' && t instanceof HTMLElement && t.closest('button,summary,a,label')) return;
    e.preventDefault();
    scanInput.focus();
    insertAtCursor(gs ? GS_MARK : e.key);
  }, true);

  // ---- HTTP -----------------------------------------------------------------------------------------------
  // One call to vpointd: the parsed JSON body on 2xx, else null after showing the problem (RFC 9457).
  async function call(path, body, contentType, scanned) {
    const key = storedKey();
    if (!key) {
      showProblem({title: 'No API key', detail: 'Enter your API key at the top of the page, then scan again.'},
                  scanned);
      keyInput.focus();
      return null;
    }
    const headers = {'Authorization': 'Bearer ' + key, 'Content-Type': contentType,
                     'Accept': 'application/json, application/problem+json'};
    if (path !== '/v1/verify' && !path.startsWith('/v1/scan?operation=verify')) headers['Idempotency-Key'] = newId();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    let res, text;
    try {
      res = await fetch(path, {method: 'POST', headers, body, cache: 'no-store', credentials: 'omit',
                               signal: abort.signal});
      text = await res.text();
    } catch (err) {
      showProblem({title: 'No answer from vpointd',
                   detail: abort.signal.aborted ? 'The request timed out. Nothing is known about the pack.'
                                                : 'vpointd could not be reached (' + err.message + ').'}, scanned);
      return null;
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = null; }
    if (!res.ok || data === null || typeof data !== 'object') {
      const problem = data && typeof data === 'object' ? data : {title: res.status + ' ' + res.statusText};
      if (res.status === 401) problem.hint = 'Check the API key at the top of the page.';
      if (res.status === 403) problem.hint = 'This key\'s role may not do this.';
      showProblem(problem, scanned);
      return null;
    }
    return data;
  }

  function newId() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function packRef(pack) {
    const ref = pack.gtin ? {gtin: pack.gtin} : {ppn: pack.ppn};
    ref.serial = pack.serial;
    ref.batch = pack.batch;
    ref.expiry = pack.expiry;
    return ref;
  }

  // ---- operations -------------------------------------------------------------------------------------------
  async function submitScan() {
    const raw = scanInput.value;
    if (!raw.trim() || busy) return;
    const scan = scanText(raw);
    scanInput.value = '';
    last = null;  // the buttons must never act on the previous pack while this one is unanswered
    setBusy(true);
    const data = await call('/v1/verify', JSON.stringify({scan}), 'application/json', scan);
    setBusy(false);
    if (data) record({op: 'verify', data, scan});
  }

  async function act(op, action) {
    if (!last || busy) return;
    setBusy(true);
    const body = {pack: packRef(last.pack), action};
    const data = await call('/v1/' + op, JSON.stringify(body), 'application/json', last.scan);
    setBusy(false);
    if (data) {
      // An unconfirmed (offline) decommission is recorded too: its undo is checked against it.
      if (op === 'decommission' && (data.verdict === 'ok' || data.verdict === 'unconfirmed')) last.action = action;
      record({op, action, data, scan: last.scan});
    }
    scanInput.focus();
  }

  buttons.supply.addEventListener('click', () => act('decommission', 'supply'));
  buttons.undo.addEventListener('click', () => act('undo', last && last.action ? last.action : 'supply'));
  // Destroy cannot be undone (EU 2016/161 Art 13): it takes a second click to confirm.
  buttons.destroy.addEventListener('click', () => {
    if (!destroyArmed) {
      buttons.destroy.textContent = 'Confirm destroy';
      buttons.destroy.classList.add('confirm');
      destroyArmed = setTimeout(disarmDestroy, 5000);
      return;
    }
    disarmDestroy();
    act('decommission', 'destroy');
  });
  function disarmDestroy() {
    clearTimeout(destroyArmed);
    destroyArmed = null;
    buttons.destroy.textContent = 'Destroy';
    buttons.destroy.classList.remove('confirm');
  }

  imageInput.addEventListener('change', async () => {
    const file = imageInput.files && imageInput.files[0];
    imageInput.value = '';
    if (!file || busy) return;
    last = null;
    setBusy(true);
    let blob = file, type = file.type;
    if (type !== 'image/png' && type !== 'image/jpeg') {
      try { blob = await toPng(file); type = 'image/png'; } catch (e) {
        setBusy(false);
        showProblem({title: 'Unreadable image', detail: 'Use a PNG or JPEG photo of the code.'}, null);
        return;
      }
    }
    const data = await call('/v1/scan?operation=verify', blob, type, null);
    setBusy(false);
    if (data && Array.isArray(data.results)) {
      // Several codes in one picture: the first is shown, every one goes to the history.
      for (let i = data.results.length - 1; i >= 0; --i) record({op: 'verify', data: data.results[i], scan: null});
    }
    scanInput.focus();
  });

  async function toPng(file) {
    const bitmap = await createImageBitmap(file);
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('png'))),
                                                          'image/png'));
  }

  // ---- showing results --------------------------------------------------------------------------------------
  function setBusy(on) {
    busy = on;
    if (on) {
      resultEl.className = 'result v-busy';
      verdictEl.textContent = 'Checking\u2026';
      subEl.hidden = true;
    }
    updateButtons();
  }

  function updateButtons() {
    const none = busy || !last;
    for (const b of Object.values(buttons)) b.disabled = none;
    if (none) disarmDestroy();
  }

  function record(entry) {
    entry.time = new Date();
    const pack = entry.data && entry.data.pack;
    if (pack && pack.serial && (pack.gtin || pack.ppn)) {
      const same = last && last.pack.serial === pack.serial && (last.pack.gtin || last.pack.ppn) ===
                   (pack.gtin || pack.ppn);
      last = {pack, scan: entry.scan || (same ? last.scan : null), action: same ? last.action : null};
    } else if (entry.op === 'verify') {
      last = null;
    }
    entries.unshift(entry);
    entries.length = Math.min(entries.length, HISTORY_MAX);
    show(entry);
    renderHistory();
    updateButtons();
  }

  function headline(entry) {
    const d = entry.data, verb = DONE[entry.action] || entry.action;
    if (d.verdict === 'ok') {
      if (entry.op === 'decommission') return [verb, 'Done. Pack status: ' + statusName(d.status)];
      if (entry.op === 'undo') return ['Undone', 'Pack status: ' + statusName(d.status)];
      return ['OK', 'Active pack \u2014 may be supplied'];
    }
    if (d.verdict === 'alert') return ['ALERT', 'Possible falsification \u2014 do not supply. Keep the pack aside.'];
    if (d.verdict === 'unconfirmed') return [d.repeat ? 'UNCONFIRMED \u2014 already recorded' : 'UNCONFIRMED', UNCONFIRMED];
    if (d.repeat) return ['Already ' + String(verb).toLowerCase(), 'Same pack, scanned here moments ago \u2014 no alert'];
    if (entry.op === 'verify') return ['REFUSED', 'Do not supply this pack'];
    return ['REFUSED', (entry.op === 'undo' ? 'Undo' : verb) + ' not done'];
  }

  function statusName(s) { return STATUS[s] || s || '\u2014'; }

  function reasonText(d) {
    if (!d.reason) return '';
    let text = REASONS[d.reason] || d.reason.replace(/_/g, ' ');
    if (d.reason === 'already_inactive' && d.status) text = 'The pack is already ' + statusName(d.status).toLowerCase() + '.';
    if (d.reason === 'parse_error' && d.error && d.error.message) text += ' ' + d.error.message;
    return text;
  }

  function show(entry) {
    if (entry.problem) return renderProblem(entry.problem, entry.scan);
    const d = entry.data;
    const verdict = ['ok', 'refused', 'alert', 'unconfirmed'].includes(d.verdict) ? d.verdict : 'error';
    resultEl.className = 'result v-' + verdict;
    const [title, sub] = headline(entry);
    verdictEl.textContent = title;
    subEl.textContent = sub;
    subEl.hidden = !sub;
    reasonEl.textContent = reasonText(d);

    const pack = d.pack || {}, product = d.product || {};
    const rows = [];
    rows.push(['Product', product.name || (d.reason === 'unknown_product' ? 'Unknown product' : ''), 'product']);
    const gtin = pack.gtin || product.gtin, ppn = pack.ppn || product.ppn;
    if (gtin) rows.push(['GTIN', gtin, 'mono']);
    if (ppn) rows.push(['PPN', ppn, 'mono']);
    rows.push(['Serial', pack.serial, 'mono']);
    rows.push(['Batch', pack.batch, 'mono']);
    let expiry = pack.expiry_date || pack.expiry || '';
    if (expiry && d.expired === true) expiry += ' (expired)';
    rows.push(['Expiry', expiry]);
    if (pack.nhrn && pack.nhrn.value) rows.push(['National no.', pack.nhrn.value, 'mono']);
    if (d.status) rows.push(['Status', statusName(d.status)]);
    if (d.previous_status && entry.op !== 'verify') rows.push(['Before', statusName(d.previous_status)]);
    if (d.batch_state && d.batch_state !== 'active') rows.push(['Batch state', statusName(d.batch_state)]);
    if (d.alert_id) rows.push(['Alert', d.alert_id, 'mono']);
    if (d.nmvs_code) rows.push(['NMVS code', d.nmvs_code, 'mono']);
    if (d.transaction_id) rows.push(['Transaction', d.transaction_id, 'mono']);
    if (d.reason === 'parse_error' && entry.scan) rows.push(['Scanned', visible(entry.scan), 'mono']);
    renderFacts(rows);

    const warnings = [];
    for (const w of d.warnings || []) {
      if (w === 'scan_repaired') {
        warnings.push('Scan repaired: ' + (WARNINGS[d.repair] || 'a scanner fault was corrected') +
                      ' The result is for the corrected code.');
      } else {
        warnings.push(WARNINGS[w] || w.replace(/_/g, ' '));
      }
    }
    renderWarnings(warnings);
  }

  function showProblem(problem, scanned) {
    const entry = {op: 'error', problem, scan: scanned, time: new Date()};
    entries.unshift(entry);
    entries.length = Math.min(entries.length, HISTORY_MAX);
    renderProblem(problem, scanned);
    renderHistory();
  }

  function renderProblem(problem, scanned) {
    resultEl.className = 'result v-error';
    verdictEl.textContent = 'Not checked';
    subEl.textContent = problem.title || 'Error';
    subEl.hidden = false;
    const reason = problem.error && problem.error.message ? problem.error.message : problem.detail;
    reasonEl.textContent = [reason, problem.hint].filter(Boolean).join(' ');
    const rows = [];
    if (problem.status) rows.push(['HTTP status', String(problem.status)]);
    if (problem.type) rows.push(['Problem', problem.type, 'mono']);
    if (problem.field) rows.push(['Field', problem.field, 'mono']);
    if (scanned) rows.push(['Scanned', visible(scanned), 'mono']);
    renderFacts(rows);
    renderWarnings([]);
  }

  function renderFacts(rows) {
    factsEl.replaceChildren();
    for (const [label, value, cls] of rows) {
      if (value === undefined || value === null || value === '') continue;
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      if (cls) dd.className = cls;
      factsEl.append(dt, dd);
    }
  }

  function renderWarnings(list) {
    warningsEl.replaceChildren();
    for (const text of list) {
      const li = document.createElement('li');
      li.textContent = text;
      warningsEl.append(li);
    }
  }

  function renderHistory() {
    historyEl.replaceChildren();
    historyEmpty.hidden = entries.length > 0;
    for (const entry of entries) {
      const d = entry.data || {};
      const verdict = entry.problem ? 'error' : d.verdict || 'error';
      const pack = d.pack || {}, product = d.product || {};
      const what = entry.problem ? (entry.problem.title || 'Error')
                 : [entry.op === 'verify' ? 'Verify' : entry.op === 'undo' ? 'Undo ' + entry.action
                                                   : DONE[entry.action] || entry.action,
                    pack.serial, product.name || pack.gtin || pack.ppn].filter(Boolean).join(' \u00b7 ');
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'entry';
      const badge = document.createElement('span');
      badge.className = 'badge b-' + verdict;
      badge.textContent = verdict === 'error' ? 'error' : verdict;
      const text = document.createElement('span');
      text.className = 'what';
      text.textContent = what;
      const time = document.createElement('time');
      time.dateTime = entry.time.toISOString();
      time.textContent = entry.time.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
      button.append(badge, text, time);
      button.setAttribute('aria-label', verdict + ': ' + what + ', ' + time.textContent);
      button.addEventListener('click', () => { show(entry); scanInput.focus(); });
      li.append(button);
      historyEl.append(li);
    }
  }

  // ---- key and settings -------------------------------------------------------------------------------------
  keyForm.addEventListener('submit', (e) => {
    e.preventDefault();
    write(sessionStorage, KEY_STORE, keyInput.value.trim());
    showKeyState();
    scanInput.focus();
  });
  standinInput.addEventListener('change', () => write(localStorage, STANDIN_STORE, standinInput.value));

  keyInput.value = storedKey();
  standinInput.value = read(localStorage, STANDIN_STORE);
  showKeyState();
  renderHistory();
  updateButtons();
  scanInput.focus();
})();
)page";

constexpr std::string_view kTail = "</body>\n</html>\n";

std::string sha256_base64(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("scan page: SHA-256 failed");
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(n));
}

ScanPage build_scan_page() {
  ScanPage page;
  page.html.reserve(kHead.size() + kStyle.size() + kBody.size() + kScript.size() + kTail.size() + 64);
  page.html.append(kHead).append("<style>").append(kStyle).append("</style>");
  page.html.append(kBody).append("<script>").append(kScript).append("</script>\n").append(kTail);
  // Everything the page needs is inline or same-origin; `connect-src 'self'` keeps the key from leaving.
  page.content_security_policy = "default-src 'none'; script-src 'sha256-" + sha256_base64(kScript) +
                                 "'; style-src 'sha256-" + sha256_base64(kStyle) +
                                 "'; connect-src 'self'; img-src 'self' data: blob:; form-action 'none'; "
                                 "base-uri 'none'; frame-ancestors 'none'";
  return page;
}

}  // namespace

const ScanPage& scan_page() {
  static const ScanPage page = build_scan_page();
  return page;
}

void add_scan_page(Api& api) {
  api.add(http::verb::get, "/", Access::open(), [](ApiContext&) -> asio::awaitable<Reply> {
    const ScanPage& page = scan_page();
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.set("Content-Security-Policy", page.content_security_policy);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    res.set(http::field::cache_control, "no-cache");
    res.body() = page.html;
    co_return res;
  });
}

}  // namespace vpoint::service
