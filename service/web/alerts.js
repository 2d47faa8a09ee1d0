'use strict';
// Alerts mode: the alerts of this key's location (GET /v1/alerts scopes them; an admin key sees every
// location), newest first, the reason in plain words, the pack, and a button to acknowledge (POST
// /v1/alerts/{id}/ack). The mode's tab shows how many are open.
(() => {
  const vp = window.vpoint, $ = vp.$;
  const PAGE = 50;
  const POLL_MS = 60000;

  let next = null;     // cursor of the next (older) page
  let loading = false;
  let poll = null;
  const shown = [];    // alert objects on the list

  function query(cursor, limit) {
    const q = new URLSearchParams({order: 'desc', limit: String(limit)});
    if (!$('alerts-all').checked) q.set('acked', 'false');
    if (cursor) q.set('cursor', cursor);
    return '/v1/alerts?' + q.toString();
  }

  async function refresh() {
    next = null;
    shown.length = 0;
    await more();
  }

  async function more() {
    if (loading) return;
    loading = true;
    $('alerts-note').textContent = 'Loading\u2026';
    const {data, problem} = await vp.api('GET', query(next, PAGE));
    loading = false;
    if (problem) {
      $('alerts-note').textContent = 'Alerts could not be read: ' + [problem.title, problem.detail].filter(Boolean).join(' \u2014 ');
      return;
    }
    $('alerts-note').textContent = '';
    shown.push(...data.alerts);
    next = data.next || null;
    render();
    if (!$('alerts-all').checked && !next) setBadge(shown.filter((a) => !a.acked).length, false);
  }

  async function countOpen() {
    const {data} = await vp.api('GET', query(null, 100));
    if (data) setBadge(data.alerts.length, Boolean(data.next));
  }

  function setBadge(n, more) {
    const badge = $('alerts-badge');
    badge.hidden = n === 0;
    badge.textContent = n + (more ? '+' : '');
    badge.setAttribute('aria-label', n + (more ? ' or more' : '') + ' open');
  }

  function packText(pack) {
    if (!pack || typeof pack !== 'object') return '';
    const parts = [];
    const code = pack.gtin || pack.ppn || pack.code;
    if (code) parts.push((pack.gtin ? 'GTIN ' : pack.ppn ? 'PPN ' : 'Product ') + code);
    if (pack.serial) parts.push('SN ' + pack.serial);
    if (pack.batch) parts.push('LOT ' + pack.batch);
    if (pack.expiry) parts.push('EXP ' + pack.expiry);
    return parts.join('  ');
  }

  function reasonText(alert) {
    const reason = alert.reason || '';
    const text = vp.REASONS[reason] || reason.replace(/_/g, ' ');
    if (reason === 'batch_recalled' || reason === 'batch_withdrawn') {
      const packs = alert.details && alert.details.packs_total;
      return text + (packs ? ' ' + packs + ' pack' + (packs === 1 ? '' : 's') + ' of it passed through here.' : '');
    }
    return text;
  }

  // Who raised it: a scan here, or the national system (a recall announced on its change feed).
  function actorText(alert) {
    if (alert.reason === 'batch_recalled' || alert.reason === 'batch_withdrawn') return 'announced by the national system';
    return alert.actor ? 'scanned by ' + alert.actor : null;
  }

  function render() {
    const list = $('alerts-list');
    list.replaceChildren();
    $('alerts-title').textContent = $('alerts-all').checked ? 'Alerts' : 'Open alerts';
    $('alerts-empty').hidden = shown.length > 0;
    $('alerts-empty').textContent = $('alerts-all').checked ? 'No alerts.' : 'No open alerts.';
    for (const alert of shown) list.append(item(alert));
    $('alerts-more').hidden = !next;
  }

  function item(alert) {
    const time = new Date(alert.time);
    const li = vp.el('li', {class: 'alert-item' + (alert.acked ? ' acked' : ''), 'data-id': alert.id},
                     vp.el('h3', {text: reasonText(alert)}),
                     vp.el('p', {class: 'mono', text: packText(alert.pack)}),
                     vp.el('p', {class: 'meta', text: [isNaN(time) ? alert.time : time.toLocaleString(),
                                                      'location ' + (alert.location || '\u2014'),
                                                      actorText(alert),
                                                      alert.nmvs_code].filter(Boolean).join(' \u00b7 ')}));
    if (alert.acked) {
      const ack = alert.ack || {};
      li.append(vp.el('p', {class: 'ack', text: 'Acknowledged' + (ack.by ? ' by ' + ack.by : '') +
                                             (ack.at ? ' at ' + new Date(ack.at).toLocaleString() : '')}));
    } else {
      const button = vp.el('button', {type: 'button', class: 'plain', text: 'Acknowledge',
                                      'aria-label': 'Acknowledge: ' + reasonText(alert) + ' ' + packText(alert.pack)});
      button.addEventListener('click', () => acknowledge(alert, button));
      li.append(button);
    }
    return li;
  }

  async function acknowledge(alert, button) {
    button.disabled = true;
    const {data, problem} = await vp.api('POST', '/v1/alerts/' + encodeURIComponent(alert.id) + '/ack');
    if (problem) {
      button.disabled = false;
      $('alerts-note').textContent = 'Not acknowledged: ' + [problem.title, problem.detail].filter(Boolean).join(' \u2014 ');
      return;
    }
    Object.assign(alert, data);
    $('alerts-note').textContent = 'Alert acknowledged.';
    render();
    countOpen();
    const first = $('alerts-list').querySelector('button');
    (first || $('alerts-refresh')).focus();
  }

  vp.register('alerts', {
    init() {
      $('alerts-refresh').addEventListener('click', refresh);
      $('alerts-more').addEventListener('click', more);
      $('alerts-all').addEventListener('change', refresh);
    },
    start() {
      countOpen();
      if (!poll) poll = setInterval(() => { if (document.visibilityState === 'visible') countOpen(); }, POLL_MS);
    },
    show() { refresh(); },
    // Another mode saw an alert verdict: the count (and the list, when shown) is out of date.
    changed() {
      countOpen();
      if (vp.current() === 'alerts') refresh();
    },
  });
})();
