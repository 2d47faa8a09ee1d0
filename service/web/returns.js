'use strict';
// Returns-desk mode: a returned pack is verified (POST /v1/verify) and the page says in plain words whether it
// may go back to saleable stock (active, not expired, not recalled, batch and expiry match) and what to do
// otherwise; the decision is recorded with POST /v1/returns/decision (an audit entry; a destroy when chosen).
(() => {
  const vp = window.vpoint, $ = vp.$;
  const DECIDED = {restock: 'Back to saleable stock', quarantine: 'Quarantined', destroy: 'Destroyed'};

  let current = null;  // {pack, scan, data} of the pack on the desk
  let busy = false;
  let destroyArmed = null;
  const log = [];

  // What to do with the pack, from its verification: [restock allowed, headline, advice, recommended decision].
  function advice(d) {
    if (d.verdict === 'ok') {
      return [true, 'RESTOCK', 'May go back to saleable stock: active, not expired, not recalled, batch and expiry ' +
              'match.', 'restock'];
    }
    if (d.verdict === 'alert') {
      return [false, 'DO NOT RESTOCK', 'Quarantine it: possible falsification. Keep the pack apart and report it.',
              'quarantine'];
    }
    if (d.verdict === 'unconfirmed') {
      return [false, 'DO NOT RESTOCK YET', 'Quarantine it until it can be checked: the national system cannot ' +
              'confirm it now.', 'quarantine'];
    }
    const recalled = d.reason === 'recalled' || d.reason === 'withdrawn' || d.batch_state === 'recalled' ||
                     d.batch_state === 'withdrawn';
    if (recalled) {
      return [false, 'DO NOT RESTOCK', 'Quarantine it for the recall, and return it as the recall notice says.',
              'quarantine'];
    }
    if (d.reason === 'expired' || d.expired === true) {
      return [false, 'DO NOT RESTOCK', 'Destroy it: the pack is past its expiry date.', 'destroy'];
    }
    if (d.reason === 'already_inactive') {
      return [false, 'DO NOT RESTOCK', 'It is no longer active (' + vp.statusName(d.status).toLowerCase() +
              '), so it cannot be sold again. Quarantine it and ask the supplier, or destroy it.', 'quarantine'];
    }
    return [false, 'DO NOT RESTOCK', 'Quarantine it: it did not pass the check.', 'quarantine'];
  }

  async function scanned(scan) {
    if (busy) return;
    current = null;
    busy = true;
    disarmDestroy();
    $('returns-decide').hidden = true;
    $('returns-done').textContent = '';
    vp.busyPanel($('returns-result'));
    const {data, problem} = await vp.api('POST', '/v1/verify', {body: JSON.stringify({scan})});
    busy = false;
    if (problem) {
      vp.renderPanel($('returns-result'), vp.problemView(problem, scan));
      return;
    }
    const [allowed, title, sub, recommended] = advice(data);
    vp.renderPanel($('returns-result'), {verdict: vp.verdictClass(data.verdict), title, sub,
                                         reason: vp.reasonText(data), facts: vp.packFacts(data, scan),
                                         warnings: vp.warningTexts(data)});
    if (data.verdict === 'alert') {
      const alertsMode = vp.mode('alerts');
      if (alertsMode) alertsMode.changed();
    }
    const pack = data.pack || {};
    if (!pack.serial || !(pack.gtin || pack.ppn)) return;  // nothing to decide on: not read as a pack
    current = {pack, scan, data};
    $('returns-restock').disabled = !allowed;
    $('returns-restock').title = allowed ? '' : 'Only a pack that passed the check may go back to stock.';
    for (const name of ['restock', 'quarantine', 'destroy']) {
      $('returns-' + name).classList.toggle('recommended', name === recommended);
    }
    $('returns-note').value = '';
    $('returns-decide').hidden = false;
  }

  async function decide(decision) {
    if (!current || busy) return;
    busy = true;
    setButtons(true);
    const note = $('returns-note').value.trim();
    const body = JSON.stringify({pack: vp.packRef(current.pack), decision, note: note || undefined});
    const {data, problem} = await vp.api('POST', '/v1/returns/decision', {body, change: true});
    busy = false;
    setButtons(false);
    const label = vp.packLabel(current.data);
    if (problem) {
      $('returns-done').textContent = 'Not recorded: ' + [problem.title, problem.detail].filter(Boolean).join(' \u2014 ');
      return;
    }
    let text = 'Recorded: ' + DECIDED[decision] + '.';
    const dec = data.decommission;
    if (decision === 'destroy' && dec && dec.verdict !== 'ok') {
      text += ' The national system was not told of a destruction: ' +
              (dec.verdict === 'unconfirmed' ? 'it will be when the connection is back.' : vp.reasonText(dec) || dec.verdict);
    }
    $('returns-done').textContent = text;
    $('returns-decide').hidden = true;
    log.unshift({decision, label, time: new Date(), note});
    renderLog();
    current = null;
    vp.focusScan();
  }

  function setButtons(disabled) {
    for (const name of ['quarantine', 'destroy']) $('returns-' + name).disabled = disabled;
    if (disabled) $('returns-restock').disabled = true;
    else if (current) $('returns-restock').disabled = current.data.verdict !== 'ok';
  }

  // A destroy cannot be undone (EU 2016/161 Art 13): a second click confirms it.
  function destroyClicked() {
    const b = $('returns-destroy');
    if (!destroyArmed) {
      b.textContent = 'Confirm destroy';
      b.classList.add('confirm');
      destroyArmed = setTimeout(disarmDestroy, 5000);
      return;
    }
    disarmDestroy();
    decide('destroy');
  }
  function disarmDestroy() {
    clearTimeout(destroyArmed);
    destroyArmed = null;
    $('returns-destroy').textContent = 'Destroy';
    $('returns-destroy').classList.remove('confirm');
  }

  function renderLog() {
    $('returns-empty').hidden = log.length > 0;
    const list = $('returns-log');
    list.replaceChildren();
    for (const entry of log) {
      list.append(vp.el('li', {'data-decision': entry.decision},
                        vp.el('span', {class: 'badge b-' + (entry.decision === 'restock' ? 'ok' : entry.decision === 'destroy' ? 'alert' : 'refused'),
                                       text: entry.decision}),
                        ' ', entry.label, entry.note ? ' \u2014 ' + entry.note : '', ' ', vp.el('time', {datetime: entry.time.toISOString(), text: vp.clock(entry.time)})));
    }
  }

  vp.register('returns', {
    init() {
      vp.scanField($('returns-scan'), scanned);
      $('returns-restock').addEventListener('click', () => decide('restock'));
      $('returns-quarantine').addEventListener('click', () => decide('quarantine'));
      $('returns-destroy').addEventListener('click', destroyClicked);
      $('returns-decide').addEventListener('submit', (e) => e.preventDefault());
      renderLog();
    },
    start(me) {
      $('returns-destroy').hidden = !(me.actions || []).includes('destroy');
    },
  });
})();
