'use strict';
// Goods-receipt mode (a wholesaler's dock): packs and case labels (SSCC) are scanned in a row into a list;
// "Verify all" checks them through POST /v1/bulk (operation verify: a receipt changes no status). The list
// counts packs by verdict, pins problems at the top, sounds on every alert (mutable), exports as CSV and
// survives a reload of the tab (sessionStorage).
(() => {
  const vp = window.vpoint, $ = vp.$;
  const STORE = 'vpoint.receipt';
  const MUTE_STORE = 'vpoint.mute';
  const CHUNK = 500;  // items per POST /v1/bulk: well inside the server's limit, answers stay small
  const PROBLEMS = ['alert', 'refused', 'unconfirmed', 'error'];
  const ORDER = {alert: 0, error: 1, refused: 2, unconfirmed: 3, pending: 4, ok: 5};
  const LABELS = {ok: 'OK', alert: 'Alert', refused: 'Refused', unconfirmed: 'Unconfirmed', error: 'Not checked',
                  pending: 'Not verified yet'};

  let rows = [];  // {id, kind: 'pack'|'case', scan, sscc, case, state: 'pending'|'done'|'error', data, problem, time}
  let seq = 0;
  let busy = false;
  let clearArmed = null;
  let sounds = 0;

  function save() { vp.write(sessionStorage, STORE, JSON.stringify({rows, seq})); }
  function load() {
    try {
      const stored = JSON.parse(vp.read(sessionStorage, STORE) || '{}');
      rows = Array.isArray(stored.rows) ? stored.rows : [];
      seq = Number(stored.seq) || rows.length;
    } catch (e) {
      rows = [];
    }
  }

  // An SSCC label: AI 00 and 18 digits (a scanner may put the symbology identifier ]C1 or ]d2 in front).
  function ssccOf(scan) {
    const m = scan.split(vp.GS).join('').trim().match(/^(?:\][Cd][12])?00(\d{18})$/);
    return m ? m[1] : null;
  }

  function note(text) { $('receipt-note').textContent = text; }

  function added(scan) {
    const sscc = ssccOf(scan);
    const same = rows.find((r) => (sscc ? r.sscc === sscc && r.kind === 'case' : r.scan === scan));
    if (same) {
      note((sscc ? 'Case ' + sscc : 'This pack') + ' is already in the list.');
      return;
    }
    rows.push({id: ++seq, kind: sscc ? 'case' : 'pack', scan, sscc, state: 'pending', time: new Date().toISOString()});
    note(sscc ? 'Case ' + sscc + ' added: its packs are listed when it is verified.' : '');
    save();
    render();
  }

  function verdictOf(row) {
    if (row.state === 'pending') return 'pending';
    if (row.state === 'error') return 'error';
    return vp.verdictClass(row.data && row.data.verdict);
  }

  // The per-pack answer as kept in the list (what is shown and exported).
  function keep(d) {
    return {verdict: d.verdict, reason: d.reason, status: d.status, pack: d.pack, expired: d.expired,
            product: d.product ? {name: d.product.name, gtin: d.product.gtin, ppn: d.product.ppn} : null,
            warnings: d.warnings, repair: d.repair, alert_id: d.alert_id, error: d.error};
  }

  async function verifyAll() {
    if (busy) return;
    const packs = rows.filter((r) => r.state === 'pending' && r.kind === 'pack');
    const cases = rows.filter((r) => r.state === 'pending' && r.kind === 'case');
    if (!packs.length && !cases.length) return;
    busy = true;
    render();
    note('Verifying ' + (packs.length + cases.length) + ' scans\u2026');
    let alerts = 0, failed = null;
    for (let i = 0; i < packs.length; i += CHUNK) {
      const chunk = packs.slice(i, i + CHUNK);
      const body = JSON.stringify({operation: 'verify', items: chunk.map((r) => ({scan: r.scan}))});
      const {data, problem} = await vp.api('POST', '/v1/bulk', {body});
      if (problem) { failed = problem; break; }  // these stay "not verified yet": nothing is known about them
      chunk.forEach((row, k) => {
        const d = data.results[k];
        row.state = 'done';
        row.data = keep(d);
        if (d.verdict === 'alert') ++alerts;
      });
      save();
      render();
    }
    for (const row of failed ? [] : cases) {
      const {data, problem} = await vp.api('POST', '/v1/bulk', {body: JSON.stringify({operation: 'verify', sscc: row.sscc})});
      if (problem && problem.status >= 400 && problem.status < 500) {  // this case, not the connection
        row.state = 'error';
        row.problem = {title: problem.title || 'Not checked',
                       detail: problem.status === 404 ? 'This case (SSCC) is not known: check its packs one by one.'
                                                      : problem.detail};
        continue;
      }
      if (problem) { failed = problem; break; }
      // The case becomes its packs, each with its own verdict.
      const at = rows.indexOf(row);
      const children = data.results.map((d) => {
        if (d.verdict === 'alert') ++alerts;
        return {id: ++seq, kind: 'pack', scan: null, case: row.sscc, state: 'done', data: keep(d), time: row.time};
      });
      rows.splice(at, 1, ...children);
      save();
      render();
    }
    busy = false;
    save();
    render();
    note(failed ? 'Not all scans could be verified: ' + (failed.detail || failed.title) + ' Press Verify all again.'
                : 'All scans verified.');
    if (alerts) {
      if (!muted()) {
        if (vp.alertSound(alerts)) $('receipt-mute').dataset.sounds = String(sounds += Math.min(alerts, 5));
      }
      const alertsMode = vp.mode('alerts');
      if (alertsMode) alertsMode.changed();
    }
  }

  function muted() { return vp.read(localStorage, MUTE_STORE) === '1'; }
  function showMute() {
    const b = $('receipt-mute');
    b.setAttribute('aria-pressed', String(muted()));
    b.textContent = muted() ? 'Sound off' : 'Sound on';
    b.title = muted() ? 'Alerts are silent. Press to hear a signal on every alert.' : 'A signal sounds on every alert. Press to mute.';
  }

  function clearClicked() {
    const b = $('receipt-clear');
    if (!clearArmed) {
      b.textContent = 'Confirm clear';
      clearArmed = setTimeout(disarmClear, 5000);
      return;
    }
    disarmClear();
    rows = [];
    seq = 0;
    save();
    note('List cleared.');
    render();
  }
  function disarmClear() {
    clearTimeout(clearArmed);
    clearArmed = null;
    $('receipt-clear').textContent = 'Clear list';
  }

  // ---- CSV ----------------------------------------------------------------------------------------------------
  function csvCell(value) {
    let text = value === undefined || value === null ? '' : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = '\'' + text;  // never a formula in a spreadsheet
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function exportCsv() {
    const head = ['time', 'verdict', 'reason', 'status', 'gtin', 'ppn', 'serial', 'batch', 'expiry', 'product', 'case',
                  'scan'];
    const lines = [head.join(',')];
    for (const row of sorted()) {
      const d = row.data || {}, pack = d.pack || {}, product = d.product || {};
      const verdict = verdictOf(row);
      lines.push([row.time, verdict === 'pending' ? 'not_verified' : verdict,
                  row.problem ? row.problem.title : d.reason, d.status, pack.gtin || product.gtin,
                  pack.ppn || product.ppn, pack.serial, pack.batch, pack.expiry, product.name, row.case || row.sscc,
                  row.scan ? row.scan.split(vp.GS).join('<GS>') : ''].map(csvCell).join(','));
    }
    const blob = new Blob([lines.join('\r\n') + '\r\n'], {type: 'text/csv'});
    const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
    const a = vp.el('a', {href: URL.createObjectURL(blob), download: 'goods-receipt-' + stamp + '.csv'});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  // ---- rendering ----------------------------------------------------------------------------------------------
  // Problems first (alerts on top), then packs not verified yet, then the good ones; newest first in each.
  function sorted() {
    return rows.slice().sort((a, b) => (ORDER[verdictOf(a)] - ORDER[verdictOf(b)]) || (b.id - a.id));
  }

  function render() {
    const counts = {};
    for (const row of rows) counts[verdictOf(row)] = (counts[verdictOf(row)] || 0) + 1;
    const countsEl = $('receipt-counts');
    countsEl.replaceChildren();
    for (const v of ['ok', 'alert', 'refused', 'unconfirmed', 'error', 'pending']) {
      if (!counts[v] && v !== 'ok') continue;
      countsEl.append(vp.el('li', {class: 'c-' + v, 'data-verdict': v, text: LABELS[v] + ' ' + (counts[v] || 0)}));
    }
    countsEl.hidden = rows.length === 0;
    $('receipt-empty').hidden = rows.length > 0;
    $('receipt-table').hidden = rows.length === 0;
    const body = $('receipt-rows');
    body.replaceChildren();
    for (const row of sorted()) body.append(rowElement(row));
    const pending = rows.some((r) => r.state === 'pending');
    $('receipt-verify').disabled = busy || !pending;
    $('receipt-verify').textContent = busy ? 'Verifying\u2026' : 'Verify all';
    $('receipt-export').disabled = rows.length === 0;
    $('receipt-clear').disabled = busy || rows.length === 0;
  }

  function rowElement(row) {
    const verdict = verdictOf(row), d = row.data || {};
    const tr = vp.el('tr', {class: (PROBLEMS.includes(verdict) ? 'problem ' : '') + 'r-' + verdict,
                            'data-verdict': verdict});
    tr.append(vp.el('td', {}, vp.el('span', {class: 'badge b-' + (verdict === 'pending' ? 'idle' : verdict),
                                             text: LABELS[verdict]})));
    let what;
    if (row.kind === 'case') {
      what = vp.el('td', {}, vp.el('span', {text: 'Case (SSCC) '}), vp.el('span', {class: 'mono', text: row.sscc}));
    } else if (row.state === 'pending' || row.state === 'error') {
      what = vp.el('td', {class: 'mono', text: vp.visible(row.scan || '')});
    } else {
      const pack = d.pack || {};
      what = vp.el('td', {},
                   vp.el('span', {text: (d.product && d.product.name) || pack.gtin || pack.ppn || 'Unknown product'}),
                   vp.el('span', {class: 'small mono',
                                  text: ['SN ' + (pack.serial || '?'), 'LOT ' + (pack.batch || '?'),
                                         'EXP ' + (pack.expiry || '?')].join('  ')}));
    }
    tr.append(what);
    let reason = '';
    if (row.state === 'error') reason = [row.problem.title, row.problem.detail].filter(Boolean).join(': ');
    else if (verdict === 'unconfirmed') reason = vp.reasonText(d) || 'Not confirmed by the national system yet.';
    else if (verdict === 'alert') reason = vp.reasonText(d) + ' Possible falsification: keep the pack aside.';
    else reason = vp.reasonText(d);
    tr.append(vp.el('td', {text: reason}));
    tr.append(vp.el('td', {class: 'wide when' + (row.case ? ' mono' : ''),
                           text: row.case ? 'case ' + row.case : vp.clock(new Date(row.time))}));
    return tr;
  }

  vp.register('receipt', {
    init() {
      load();
      vp.scanField($('receipt-scan'), added);
      $('receipt-verify').addEventListener('click', verifyAll);
      $('receipt-export').addEventListener('click', exportCsv);
      $('receipt-clear').addEventListener('click', clearClicked);
      $('receipt-mute').addEventListener('click', () => {
        vp.write(localStorage, MUTE_STORE, muted() ? '' : '1');
        showMute();
      });
      showMute();
      render();
    },
  });
})();
