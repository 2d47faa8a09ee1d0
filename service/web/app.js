'use strict';
// The page's shell (service/web/): the API key, who the key belongs to (GET /v1/me) and which modes it may
// use, the scan fields a keyboard wedge types into, one HTTP helper for every call, and the plain words for
// verdicts, reasons and statuses that every mode shows. The modes (counter.js, receipt.js, returns.js,
// alerts.js) register themselves in window.vpoint and are started once the document is parsed.
window.vpoint = (() => {
  const GS = '\x1d';
  // Shown in a scan field where a group separator was keyed: a Latin-1 sign every font has, outside GS1's
  // character set 82, so it can never be part of a code. U+241D (the control picture) is accepted too.
  const GS_MARK = '\u00a6';
  const GS_PICTURE = '\u241d';
  const KEY_STORE = 'vpoint.key';
  const MODE_STORE = 'vpoint.mode';
  const STANDIN_STORE = 'vpoint.gs_standin';
  const TIMEOUT_MS = 15000;
  const $ = (id) => document.getElementById(id);

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
    batch_recalled: 'The batch has been recalled.',
    batch_withdrawn: 'The batch has been withdrawn.',
    locked: 'The pack is locked.',
    undo_window_passed: 'Too late to undo: an undo is only allowed within 10 days.',
    undo_other_location: 'Only the place that decommissioned the pack can undo it.',
    undo_not_allowed: 'Destroyed or stolen packs can never be undone.',
    undo_status_mismatch: 'The pack\'s status does not match the action to undo.',
    parse_error: 'The scan could not be read as a pack code.',
    mirror_unavailable: 'The pack database is unavailable, so the pack could not be checked.',
    central_unavailable: 'The national system cannot be reached.',
    central_rejected: 'The national system rejected a change recorded here.',
    idempotency_conflict: 'This request was already sent with different content.',
    offline_pending: 'Earlier scans of this pack, made while the national system could not be reached, are still ' +
                     'being checked.',
    read_through_limit: 'Not checked with the national system: too many unknown packs in one request. Scan it on ' +
                        'its own.',
    deadline: 'Not checked in time: the request ran out of time before this pack was reached.'
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
    unconfirmed: 'Not confirmed by the national system yet.',
    audit_unavailable: 'The check could not be written to the audit trail (the pack database is full).',
    replication_unconfirmed: 'Recorded, but not yet copied to the standby database.'
  };
  const VERDICTS = ['ok', 'refused', 'alert', 'unconfirmed'];
  const MODE_TITLES = {counter: 'counter', receipt: 'goods receipt', returns: 'returns desk', alerts: 'alerts'};

  const modes = {};      // name -> {start(), show(), field}
  let me = null;         // GET /v1/me of the saved key
  let meAsked = 0;       // the latest GET /v1/me asked: an older answer (a key replaced meanwhile) is dropped
  let current = 'counter';

  // ---- storage (private browsing may refuse it) -------------------------------------------------------------
  function read(store, name) { try { return store.getItem(name) || ''; } catch (e) { return ''; } }
  function write(store, name, value) {
    try { if (value) store.setItem(name, value); else store.removeItem(name); } catch (e) { /* private mode */ }
  }
  const storedKey = () => read(sessionStorage, KEY_STORE);

  // ---- scan fields: a keyboard wedge types into them ---------------------------------------------------------
  function insertAtCursor(input, text) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.setRangeText(text, start, end, 'end');
  }

  // A browser text field never receives GS (0x1D): the wedge's GS keystroke is Ctrl+], which is caught here.
  function isGsKey(e) {
    if (e.key === GS) return true;
    return e.ctrlKey && !e.altKey && !e.metaKey && (e.key === ']' || e.code === 'BracketRight');
  }

  // What is sent: the marks (and the stand-in this scanner is configured with) become the real 0x1D. Other
  // stand-ins and lost separators are left to the server's normaliser and lost-GS repair.
  function scanText(raw) {
    let text = raw.split(GS_MARK).join(GS).split(GS_PICTURE).join(GS);
    const standin = read(localStorage, STANDIN_STORE);
    if (standin) text = text.split(standin).join(GS);
    return text;
  }
  const visible = (text) => String(text).split(GS).join(GS_MARK);

  // `onScan(text)` gets the scan as it is sent (real GS characters) when the wedge presses Enter.
  function scanField(input, onScan) {
    let altCode = '';  // Alt + numpad digits (some wedges type GS as Alt+029)
    const submit = () => {
      const raw = input.value;
      if (!raw.trim()) return;
      input.value = '';
      onScan(scanText(raw));
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); submit(); return; }
      if (isGsKey(e)) { e.preventDefault(); insertAtCursor(input, GS_MARK); return; }
      if (e.altKey && /^Numpad[0-9]$/.test(e.code)) { e.preventDefault(); altCode += e.code.slice(6); }
    });
    input.addEventListener('keyup', (e) => {
      if (e.key !== 'Alt') return;
      if (altCode !== '' && Number(altCode) === 29) insertAtCursor(input, GS_MARK);
      altCode = '';
    });
    input.addEventListener('input', () => {
      if (input.value.includes(GS) || input.value.includes(GS_PICTURE)) {  // pasted: show the marks
        const pos = input.selectionStart;
        input.value = visible(input.value).split(GS_PICTURE).join(GS_MARK);
        input.setSelectionRange(pos, pos);
      }
    });
    input.form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  }

  function activeField() {
    const view = document.querySelector('.view:not([hidden])');
    return view ? view.querySelector('[data-scan]') : null;
  }
  function focusScan() {
    const field = activeField();
    if (field) field.focus();
  }

  // A scan that starts while focus is elsewhere (a button, the page) still lands in the mode's scan field.
  document.addEventListener('keydown', (e) => {
    const t = e.target, field = activeField();
    if (!field || t === field || e.metaKey || e.altKey) return;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
    if (t && t.isContentEditable) return;
    const gs = isGsKey(e);
    if (!gs && (e.ctrlKey || e.key.length !== 1)) return;
    if (e.key === ' ' && t instanceof HTMLElement && t.closest('button,summary,a,label')) return;
    e.preventDefault();
    field.focus();
    insertAtCursor(field, gs ? GS_MARK : e.key);
  }, true);

  // ---- HTTP ---------------------------------------------------------------------------------------------------
  // One call to vpointd with the saved key: {data} on 2xx with a JSON body, else {problem} (RFC 9457, or one
  // made here for a missing key, a timeout or no answer). Changes carry an Idempotency-Key.
  async function api(method, path, {body, contentType = 'application/json', change = false} = {}) {
    const key = storedKey();
    if (!key) {
      $('key').focus();
      return {problem: {title: 'No API key', detail: 'Enter your API key at the top of the page, then scan again.'}};
    }
    const headers = {'Authorization': 'Bearer ' + key, 'Accept': 'application/json, application/problem+json'};
    if (body !== undefined) headers['Content-Type'] = contentType;
    if (change) headers['Idempotency-Key'] = newId();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    let res, text;
    try {
      res = await fetch(path, {method, headers, body, cache: 'no-store', credentials: 'omit', signal: abort.signal});
      text = await res.text();
    } catch (err) {
      return {problem: {title: 'No answer from vpointd',
                        detail: abort.signal.aborted ? 'The request timed out. Nothing is known about the pack.'
                                                     : 'vpointd could not be reached (' + err.message + ').'}};
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = null; }
    if (!res.ok || data === null || typeof data !== 'object') {
      const problem = data && typeof data === 'object' ? data : {title: res.status + ' ' + res.statusText};
      if (!problem.status) problem.status = res.status;
      if (res.status === 401) problem.hint = 'Check the API key at the top of the page.';
      if (res.status === 403) problem.hint = 'This key\'s role may not do this.';
      return {problem};
    }
    return {data};
  }

  function newId() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // The pack as the API names it in a change request: the code, serial, batch and expiry as scanned.
  function packRef(pack) {
    const ref = pack.gtin ? {gtin: pack.gtin} : {ppn: pack.ppn};
    ref.serial = pack.serial;
    ref.batch = pack.batch;
    ref.expiry = pack.expiry;
    return ref;
  }

  // ---- plain words ----------------------------------------------------------------------------------------------
  function statusName(s) { return STATUS[s] || s || '\u2014'; }
  function verdictClass(v) { return VERDICTS.includes(v) ? v : 'error'; }

  function reasonText(d) {
    if (!d || !d.reason) return '';
    let text = REASONS[d.reason] || d.reason.replace(/_/g, ' ');
    if (d.reason === 'already_inactive' && d.status) text = 'The pack is already ' + statusName(d.status).toLowerCase() + '.';
    if (d.reason === 'parse_error' && d.error && d.error.message) text += ' ' + d.error.message;
    return text;
  }

  function warningTexts(d) {
    const out = [];
    for (const w of (d && d.warnings) || []) {
      if (w === 'scan_repaired') {
        out.push('Scan repaired: ' + (WARNINGS[d.repair] || 'a scanner fault was corrected') +
                 ' The result is for the corrected code.');
      } else {
        out.push(WARNINGS[w] || w.replace(/_/g, ' '));
      }
    }
    return out;
  }

  // Label/value rows describing the pack of a per-pack answer.
  function packFacts(d, scanned) {
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
    if (d.batch_state && d.batch_state !== 'active') rows.push(['Batch state', statusName(d.batch_state)]);
    if (d.alert_id) rows.push(['Alert', d.alert_id, 'mono']);
    if (d.nmvs_code) rows.push(['NMVS code', d.nmvs_code, 'mono']);
    if (d.transaction_id) rows.push(['Transaction', d.transaction_id, 'mono']);
    if (d.reason === 'parse_error' && scanned) rows.push(['Scanned', visible(scanned), 'mono']);
    return rows;
  }

  // The short name of a pack for lists: "serial · product".
  function packLabel(d) {
    const pack = (d && d.pack) || {}, product = (d && d.product) || {};
    return [pack.serial, product.name || pack.gtin || pack.ppn].filter(Boolean).join(' \u00b7 ');
  }

  function problemView(problem, scanned) {
    const reason = problem.error && problem.error.message ? problem.error.message : problem.detail;
    const rows = [];
    if (problem.status) rows.push(['HTTP status', String(problem.status)]);
    if (problem.type) rows.push(['Problem', problem.type, 'mono']);
    if (problem.field) rows.push(['Field', problem.field, 'mono']);
    if (scanned) rows.push(['Scanned', visible(scanned), 'mono']);
    return {verdict: 'error', title: 'Not checked', sub: problem.title || 'Error',
            reason: [reason, problem.hint].filter(Boolean).join(' '), facts: rows, warnings: []};
  }

  // ---- rendering --------------------------------------------------------------------------------------------------
  function renderFacts(dl, rows) {
    dl.replaceChildren();
    for (const [label, value, cls] of rows) {
      if (value === undefined || value === null || value === '') continue;
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      if (cls) dd.className = cls;
      dl.append(dt, dd);
    }
  }

  function renderList(list, texts) {
    list.replaceChildren();
    for (const text of texts) {
      const li = document.createElement('li');
      li.textContent = text;
      list.append(li);
    }
  }

  // A result panel (.result with [data-part] children): {verdict, title, sub, reason, facts, warnings}.
  function renderPanel(section, view) {
    const part = (name) => section.querySelector('[data-part="' + name + '"]');
    section.className = 'result v-' + view.verdict;
    part('verdict').textContent = view.title;
    part('sub').textContent = view.sub || '';
    part('sub').hidden = !view.sub;
    part('reason').textContent = view.reason || '';
    renderFacts(part('facts'), view.facts || []);
    renderList(part('warnings'), view.warnings || []);
  }

  function busyPanel(section) {
    section.className = 'result v-busy';
    section.querySelector('[data-part="verdict"]').textContent = 'Checking\u2026';
    section.querySelector('[data-part="sub"]').hidden = true;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = value;
      else if (name === 'class') node.className = value;
      else node.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function clock(date) {
    return date.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
  }

  // ---- sound: a short two-tone signal per alert (Web Audio; nothing to download) -----------------------------
  let audio = null;
  function alertSound(times) {
    try {
      audio = audio || new AudioContext();
      const start = audio.currentTime + 0.02;
      for (let i = 0; i < Math.min(times, 5); ++i) {
        for (const [offset, freq] of [[0, 880], [0.16, 660]]) {
          const osc = audio.createOscillator(), gain = audio.createGain();
          osc.frequency.value = freq;
          gain.gain.value = 0.2;
          osc.connect(gain).connect(audio.destination);
          osc.start(start + i * 0.4 + offset);
          osc.stop(start + i * 0.4 + offset + 0.14);
        }
      }
      return true;
    } catch (e) {
      return false;  // no audio device: the list still shows the alert
    }
  }

  // ---- the key, who it belongs to, and its modes --------------------------------------------------------------
  function showMode(name) {
    if (!modes[name]) return;
    current = name;
    for (const view of document.querySelectorAll('.view')) view.hidden = view.dataset.view !== name;
    for (const b of document.querySelectorAll('.mode')) b.setAttribute('aria-pressed', String(b.dataset.mode === name));
    $('mode-title').textContent = MODE_TITLES[name] || name;
    document.title = 'vpoint ' + (MODE_TITLES[name] || name);
    write(sessionStorage, MODE_STORE, name);
    if (modes[name].show) modes[name].show();
    focusScan();
  }

  async function loadMe() {
    const key = storedKey(), asked = ++meAsked;
    me = null;
    $('modes').hidden = true;
    $('who').textContent = '';
    if (!key) { $('key-state').textContent = 'No key yet'; return; }
    $('key-state').textContent = 'Checking key\u2026';
    const {data, problem} = await api('GET', '/v1/me');
    if (asked !== meAsked) return;
    if (problem) {
      $('key-state').textContent = problem.status === 401 ? 'Key not accepted' : 'Key saved; ' + (problem.title || 'error');
      return;
    }
    me = data;
    $('key-state').textContent = 'Key saved for this tab';
    $('who').textContent = [data.name, data.role, data.location].filter(Boolean).join(' \u00b7 ');
    const allowed = (data.modes || []).filter((m) => modes[m]);
    for (const b of document.querySelectorAll('.mode')) b.hidden = !allowed.includes(b.dataset.mode);
    $('modes').hidden = allowed.length < 2;
    for (const m of allowed) if (modes[m].start) modes[m].start(data);
    const remembered = read(sessionStorage, MODE_STORE);
    if (allowed.length) showMode(allowed.includes(remembered) ? remembered : allowed[0]);
  }

  function boot() {
    $('key').value = storedKey();
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      write(sessionStorage, KEY_STORE, $('key').value.trim());
      write(sessionStorage, MODE_STORE, '');  // another key: start in its first mode
      loadMe();
      focusScan();
    });
    for (const b of document.querySelectorAll('.mode')) b.addEventListener('click', () => showMode(b.dataset.mode));
    for (const m of Object.values(modes)) if (m.init) m.init();
    // Before the key is known the counter is shown: a scan without a key says what is missing.
    showMode(modes[read(sessionStorage, MODE_STORE)] ? read(sessionStorage, MODE_STORE) : 'counter');
    loadMe();
  }
  document.addEventListener('DOMContentLoaded', boot);

  return {
    GS, GS_MARK, STANDIN_STORE, UNCONFIRMED, REASONS, STATUS, DONE, $, read, write, scanField, focusScan, api,
    packRef, statusName, verdictClass, reasonText, warningTexts, packFacts, packLabel, problemView, renderFacts,
    renderList, renderPanel, busyPanel, el, clock, visible, alertSound, showMode,
    me: () => me,
    current: () => current,
    register(name, mode) { modes[name] = mode; },
    mode: (name) => modes[name],
  };
})();
