'use strict';
// Counter mode: one pack at a time. A scan is verified (POST /v1/verify); the buttons then supply, destroy
// or undo that pack (POST /v1/decommission, /v1/undo); a photo of the code goes to POST /v1/scan.
(() => {
  const vp = window.vpoint, $ = vp.$;
  const HISTORY_MAX = 20;

  let scanInput, imageInput, standinInput, resultEl, historyEl, historyEmpty, buttons;
  let last = null;     // the last scanned pack: {pack, scan, action}; target of Supply / Destroy / Undo
  let busy = false;
  let destroyArmed = null;
  const entries = [];

  // ---- operations -------------------------------------------------------------------------------------------
  async function verify(scan) {
    if (busy) return;
    last = null;  // the buttons must never act on the previous pack while this one is unanswered
    setBusy(true);
    const {data, problem} = await vp.api('POST', '/v1/verify', {body: JSON.stringify({scan})});
    setBusy(false);
    if (problem) showProblem(problem, scan);
    else record({op: 'verify', data, scan});
  }

  async function act(op, action) {
    if (!last || busy) return;
    setBusy(true);
    const body = JSON.stringify({pack: vp.packRef(last.pack), action});
    const {data, problem} = await vp.api('POST', '/v1/' + op, {body, change: true});
    setBusy(false);
    if (problem) {
      showProblem(problem, last.scan);
    } else {
      // An unconfirmed (offline) decommission is recorded too: its undo is checked against it.
      if (op === 'decommission' && (data.verdict === 'ok' || data.verdict === 'unconfirmed')) last.action = action;
      record({op, action, data, scan: last.scan});
    }
    scanInput.focus();
  }

  // Destroy cannot be undone (EU 2016/161 Art 13): it takes a second click to confirm.
  function destroyClicked() {
    if (!destroyArmed) {
      buttons.destroy.textContent = 'Confirm destroy';
      buttons.destroy.classList.add('confirm');
      destroyArmed = setTimeout(disarmDestroy, 5000);
      return;
    }
    disarmDestroy();
    act('decommission', 'destroy');
  }
  function disarmDestroy() {
    clearTimeout(destroyArmed);
    destroyArmed = null;
    buttons.destroy.textContent = 'Destroy';
    buttons.destroy.classList.remove('confirm');
  }

  async function photo() {
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
    const {data, problem} = await vp.api('POST', '/v1/scan?operation=verify', {body: blob, contentType: type});
    setBusy(false);
    if (problem) {
      showProblem(problem, null);
    } else if (Array.isArray(data.results)) {
      // Several codes in one picture: the first is shown, every one goes to the history.
      for (let i = data.results.length - 1; i >= 0; --i) record({op: 'verify', data: data.results[i], scan: null});
    }
    scanInput.focus();
  }

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
    if (on) vp.busyPanel(resultEl);
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
    remember(entry);
    show(entry);
    updateButtons();
    if (entry.data && entry.data.verdict === 'alert') vp.mode('alerts') && vp.mode('alerts').changed();
  }

  function headline(entry) {
    const d = entry.data, verb = vp.DONE[entry.action] || entry.action;
    if (d.verdict === 'ok') {
      if (entry.op === 'decommission') return [verb, 'Done. Pack status: ' + vp.statusName(d.status)];
      if (entry.op === 'undo') return ['Undone', 'Pack status: ' + vp.statusName(d.status)];
      return ['OK', 'Active pack \u2014 may be supplied'];
    }
    if (d.verdict === 'alert') return ['ALERT', 'Possible falsification \u2014 do not supply. Keep the pack aside.'];
    if (d.verdict === 'unconfirmed') {
      return [d.repeat ? 'UNCONFIRMED \u2014 already recorded' : 'UNCONFIRMED', vp.UNCONFIRMED];
    }
    if (d.repeat) return ['Already ' + String(verb).toLowerCase(), 'Same pack, scanned here moments ago \u2014 no alert'];
    if (entry.op === 'verify') return ['REFUSED', 'Do not supply this pack'];
    return ['REFUSED', (entry.op === 'undo' ? 'Undo' : verb) + ' not done'];
  }

  function show(entry) {
    if (entry.problem) return vp.renderPanel(resultEl, vp.problemView(entry.problem, entry.scan));
    const d = entry.data;
    const [title, sub] = headline(entry);
    const facts = vp.packFacts(d, entry.scan);
    if (d.previous_status && entry.op !== 'verify') {
      const at = facts.findIndex(([label]) => label === 'Status');
      facts.splice(at + 1, 0, ['Before', vp.statusName(d.previous_status)]);
    }
    vp.renderPanel(resultEl, {verdict: vp.verdictClass(d.verdict), title, sub, reason: vp.reasonText(d), facts,
                              warnings: vp.warningTexts(d)});
  }

  function showProblem(problem, scanned) {
    const entry = {op: 'error', problem, scan: scanned, time: new Date()};
    remember(entry);
    show(entry);
  }

  function remember(entry) {
    entries.unshift(entry);
    entries.length = Math.min(entries.length, HISTORY_MAX);
    renderHistory();
  }

  function renderHistory() {
    historyEl.replaceChildren();
    historyEmpty.hidden = entries.length > 0;
    for (const entry of entries) {
      const d = entry.data || {};
      const verdict = entry.problem ? 'error' : vp.verdictClass(d.verdict);
      const what = entry.problem ? (entry.problem.title || 'Error')
                 : [entry.op === 'verify' ? 'Verify' : entry.op === 'undo' ? 'Undo ' + entry.action
                                                   : vp.DONE[entry.action] || entry.action,
                    vp.packLabel(d)].filter(Boolean).join(' \u00b7 ');
      const time = vp.el('time', {datetime: entry.time.toISOString(), text: vp.clock(entry.time)});
      const button = vp.el('button', {type: 'button', class: 'entry', 'aria-label': verdict + ': ' + what + ', ' +
                                      time.textContent},
                           vp.el('span', {class: 'badge b-' + verdict, text: verdict}),
                           vp.el('span', {class: 'what', text: what}), time);
      button.addEventListener('click', () => { show(entry); scanInput.focus(); });
      historyEl.append(vp.el('li', {}, button));
    }
  }

  vp.register('counter', {
    init() {
      scanInput = $('scan');
      imageInput = $('image');
      standinInput = $('standin');
      resultEl = $('result');
      historyEl = $('history');
      historyEmpty = $('history-empty');
      buttons = {supply: $('supply'), destroy: $('destroy'), undo: $('undo')};
      vp.scanField(scanInput, verify);
      buttons.supply.addEventListener('click', () => act('decommission', 'supply'));
      buttons.undo.addEventListener('click', () => act('undo', last && last.action ? last.action : 'supply'));
      buttons.destroy.addEventListener('click', destroyClicked);
      imageInput.addEventListener('change', photo);
      standinInput.value = vp.read(localStorage, vp.STANDIN_STORE);
      standinInput.addEventListener('change', () => vp.write(localStorage, vp.STANDIN_STORE, standinInput.value));
      renderHistory();
      updateButtons();
    },
    start(me) {
      // Offer only what this key may do (a wholesaler has no supply; a returns desk uses its own mode).
      const actions = me.actions || [];
      buttons.supply.hidden = !actions.includes('supply');
      buttons.destroy.hidden = !actions.includes('destroy');
      buttons.undo.hidden = !actions.includes('undo');
    },
  });
})();
