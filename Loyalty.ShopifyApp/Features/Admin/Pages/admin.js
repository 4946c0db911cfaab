(function () {
  'use strict';
  var body = document.body;
  var sandbox = body.dataset.sandbox === 'true';
  var $ = function (id) { return document.getElementById(id); };
  if (sandbox) document.querySelector('.sandbox-banner').hidden = false;

  // ---- session tokens: App Bridge in a real shop, the sandbox's own endpoint otherwise -------------
  var cached = null;
  function token() {
    if (window.shopify && typeof window.shopify.idToken === 'function') return window.shopify.idToken();
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.token);
    return fetch('/sandbox/session-token').then(function (r) {
      if (!r.ok) throw new Error('No App Bridge and no sandbox: open this page from Shopify admin.');
      return r.json();
    }).then(function (d) { cached = { token: d.token, until: Date.now() + 40000 }; return d.token; });
  }
  function api(method, path, data, opts) {
    opts = opts || {};
    return token().then(function (t) {
      var headers = { Authorization: 'Bearer ' + t, Accept: opts.raw ? '*/*' : 'application/json' };
      if (data !== undefined) headers['Content-Type'] = 'application/json';
      if (opts.key) headers['Idempotency-Key'] = opts.key;
      return fetch('/api/admin/' + path, { method: method, headers: headers, body: data === undefined ? undefined : JSON.stringify(data) });
    }).then(function (r) {
      if (opts.raw && r.ok) return r.blob().then(function (b) { return { ok: true, status: r.status, data: b }; });
      return r.text().then(function (t) {
        var d = null;
        try { d = t ? JSON.parse(t) : null; } catch (e) { d = null; }
        return { ok: r.ok, status: r.status, data: d };
      });
    });
  }
  function newKey() { return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : 'k' + Date.now() + Math.random().toString(36).slice(2); }

  // ---- small DOM helpers ---------------------------------------------------------------------------
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') el.textContent = attrs[k];
      else if (k === 'on') Object.keys(attrs.on).forEach(function (ev) { el.addEventListener(ev, attrs.on[ev]); });
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) el.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }
  function table(columns, rows, empty) {
    if (!rows.length) return h('p', { class: 'muted', text: empty || 'Nothing here.' });
    return h('table', {},
      h('thead', {}, h.apply(null, ['tr', {}].concat(columns.map(function (c) { return h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.title }); })))),
      h.apply(null, ['tbody', {}].concat(rows.map(function (r) {
        return h.apply(null, ['tr', {}].concat(columns.map(function (c) {
          var v = c.render ? c.render(r) : r[c.key];
          return h('td', { class: c.num ? 'num' : null }, v === null || v === undefined ? '—' : v);
        })));
      }))));
  }
  function badge(s) { return h('span', { class: 'badge ' + s, text: s.replace('_', ' ') }); }
  function n(v) { return Number(v).toLocaleString(); }
  function when(iso) { return iso ? new Date(iso).toLocaleString() : '—'; }
  function toast(text) { $('toast').textContent = text; }
  function fail(r) {
    var d = r && r.data;
    var text = d && d.title ? d.title + (d.detail ? ' ' + d.detail : '') + (d.code ? ' (' + d.code + ')' : '') : 'Request failed (HTTP ' + (r ? r.status : '?') + ').';
    $('error').textContent = text;
    $('error').hidden = false;
  }
  function clearError() { $('error').hidden = true; $('error').textContent = ''; }
  function put(id, node) { var el = $(id); el.textContent = ''; el.appendChild(node); }
  function busy(button, on) { button.disabled = on; button.setAttribute('aria-busy', String(on)); }

  // ---- views -----------------------------------------------------------------------------------------
  var views = {
    dashboard: loadDashboard, customers: function () {}, review: loadReview, 'pos-sync': loadPos,
    donations: loadDonations, campaigns: loadCampaigns, settings: loadSettings
  };
  var timer = null;
  function route() {
    var name = (location.hash || '#dashboard').slice(1);
    if (!views[name]) name = 'dashboard';
    if (timer) { clearInterval(timer); timer = null; }
    clearError();
    toast('');
    Array.prototype.forEach.call(document.querySelectorAll('.view'), function (v) { v.hidden = v.id !== 'view-' + name; });
    Array.prototype.forEach.call(document.querySelectorAll('#nav a'), function (a) {
      if (a.getAttribute('href') === '#' + name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
    views[name]();
  }
  window.addEventListener('hashchange', function () { route(); $('main').focus(); });

  // Dashboard
  function loadDashboard() {
    var days = Number($('dash-period').value);
    var to = new Date();
    var from = new Date(to.getTime() - days * 86400000);
    api('GET', 'dashboard?from=' + encodeURIComponent(from.toISOString()) + '&to=' + encodeURIComponent(to.toISOString())).then(function (r) {
      if (!r.ok) return fail(r);
      var t = r.data.totals;
      var cards = $('dash-cards');
      cards.textContent = '';
      [['Points issued', n(t.pointsIssued)], ['Points redeemed', n(t.pointsRedeemed)], ['Points taken back', n(t.pointsTakenBack)],
       ['Points outstanding', n(t.pointsOutstanding)], ['Coupons issued', n(t.couponsIssued)], ['Coupons used', n(t.couponsUsed)],
       ['Redemption rate', (t.redemptionRate * 100).toFixed(1) + ' %'], ['Customers', n(t.customers)]].forEach(function (m) {
        cards.appendChild(h('div', { class: 'metric', 'data-metric': m[0] }, h('div', { class: 'label', text: m[0] }), h('div', { class: 'value', text: m[1] })));
      });
      put('dash-chart', chart(r.data.days));
      put('dash-table', table([{ title: 'Day', key: 'date' }, { title: 'Points issued', key: 'pointsIssued', num: true },
        { title: 'Points redeemed', key: 'pointsRedeemed', num: true }, { title: 'Coupons issued', key: 'couponsIssued', num: true },
        { title: 'Coupons used', key: 'couponsUsed', num: true }], r.data.days));
    });
  }
  $('dash-period').addEventListener('change', loadDashboard);
  function chart(days) {
    var ns = 'http://www.w3.org/2000/svg';
    var W = 720, H = 220, pad = 36;
    var max = Math.max(1, Math.max.apply(null, days.map(function (d) { return Math.max(d.pointsIssued, d.pointsRedeemed); })));
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'Points issued and redeemed per day; the same figures are in the table below.');
    function el(name, a) { var e = document.createElementNS(ns, name); Object.keys(a).forEach(function (k) { e.setAttribute(k, a[k]); }); return e; }
    svg.appendChild(el('line', { x1: pad, y1: H - pad, x2: W - 8, y2: H - pad, stroke: '#c9cccf' }));
    var label = el('text', { x: 4, y: 14, 'font-size': 11, fill: '#6d7175' });
    label.textContent = n(max);
    svg.appendChild(label);
    var slot = (W - pad - 8) / Math.max(1, days.length);
    var bw = Math.max(1, slot / 2 - 1);
    days.forEach(function (d, i) {
      var x = pad + i * slot;
      var hi = (H - 2 * pad) * d.pointsIssued / max, hr = (H - 2 * pad) * d.pointsRedeemed / max;
      svg.appendChild(el('rect', { x: x, y: H - pad - hi, width: bw, height: hi, fill: '#008060' }));
      svg.appendChild(el('rect', { x: x + bw + 1, y: H - pad - hr, width: bw, height: hr, fill: '#b98900' }));
      if (i === 0 || i === days.length - 1 || days.length <= 14) {
        var t = el('text', { x: x, y: H - pad + 14, 'font-size': 10, fill: '#6d7175' });
        t.textContent = d.date.slice(5);
        svg.appendChild(t);
      }
    });
    return h('div', {}, svg, h('div', { class: 'legend' }, h('span', { style: '--c:#008060', text: 'Issued' }), h('span', { style: '--c:#b98900', text: 'Redeemed' })));
  }

  // Customers
  var currentCustomer = null;
  var adjustKey = null;
  $('customer-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    loadCustomer(Number($('customer-id').value));
  });
  function loadCustomer(id) {
    currentCustomer = id;
    return Promise.all([api('GET', 'customers/' + id), api('GET', 'customers/' + id + '/coupons')]).then(function (rs) {
      if (!rs[0].ok) return fail(rs[0]);
      var c = rs[0].data;
      $('customer-detail').hidden = false;
      var cards = $('customer-cards');
      cards.textContent = '';
      [['Balance', n(c.balance)], ['Earned', n(c.totalEarned)], ['Redeemed', n(c.totalRedeemed)], ['Balance kept by', c.balanceSource]].forEach(function (m) {
        cards.appendChild(h('div', { class: 'metric' }, h('div', { class: 'label', text: m[0] }), h('div', { class: 'value', 'data-testid': 'customer-' + m[0].toLowerCase().replace(/ /g, '-'), text: m[1] })));
      });
      put('customer-history', table([{ title: 'When', render: function (x) { return when(x.createdAt); } }, { title: 'What', key: 'description' },
        { title: 'Kind', key: 'kind' }, { title: 'Points', key: 'points', num: true }, { title: 'Balance after', key: 'balanceAfter', num: true }], c.history, 'No points activity.'));
      put('customer-coupons', rs[1].ok ? table([{ title: 'Code', key: 'code' }, { title: 'Value', render: function (x) { return x.amount + ' ' + x.currency; } },
        { title: 'Points', key: 'points', num: true }, { title: 'Status', render: function (x) { return badge(x.status); } },
        { title: 'Expires', render: function (x) { return when(x.expiresAt); } }], rs[1].data, 'No coupons.') : h('p', { text: 'Coupons could not be loaded.' }));
    });
  }
  $('adjust-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var button = $('adjust-submit');
    adjustKey = adjustKey || newKey(); // the same attempt keeps its key if it has to be sent again
    busy(button, true);
    api('POST', 'customers/' + currentCustomer + '/points', { points: Number($('adjust-points').value), description: $('adjust-reason').value }, { key: adjustKey })
      .then(function (r) {
        busy(button, false);
        if (!r.ok) { if (r.status < 500) adjustKey = null; return fail(r); }
        adjustKey = null;
        toast((r.data.replayed ? 'Already applied: ' : 'Applied: ') + n(r.data.points) + ' points; balance ' + n(r.data.balance) + '.');
        $('adjust-form').reset();
        return loadCustomer(currentCustomer);
      }, function () { busy(button, false); fail(null); });
  });

  // Needs review
  function loadReview() {
    api('GET', 'conversions?state=needs_review').then(function (r) {
      if (!r.ok) return fail(r);
      put('review-list', table([
        { title: 'Created', render: function (x) { return when(x.createdAt); } }, { title: 'Customer', key: 'customerId' },
        { title: 'Points', key: 'points', num: true }, { title: 'Code', key: 'code' }, { title: 'Stopped at', key: 'reviewFrom' },
        { title: 'Reason', key: 'failureReason' },
        { title: 'Actions', render: function (x) {
          return h('div', {}, h('button', { type: 'button', on: { click: function (e) { act(e.target, x, 'retry'); } }, 'aria-label': 'Retry conversion ' + x.id, text: 'Retry' }),
            h('button', { type: 'button', class: 'critical', on: { click: function (e) { act(e.target, x, 'cancel'); } }, 'aria-label': 'Cancel conversion ' + x.id, text: 'Cancel' }));
        } }], r.data, 'Nothing needs review.'));
    });
    api('GET', 'coupon-incidents?resolved=false').then(function (r) {
      if (!r.ok) return fail(r);
      put('incident-list', table([
        { title: 'Found', render: function (x) { return when(x.createdAt); } }, { title: 'Customer', key: 'customerId' },
        { title: 'Order', render: function (x) { return x.orderId === null ? '—' : String(x.orderId); } }, { title: 'Code', key: 'code' },
        { title: 'At stake', render: function (x) { return Number(x.amount).toFixed(2) + ' ' + x.currency + ' (' + n(x.points) + ' points)'; } },
        { title: 'What happened', render: function (x) {
          return x.kind === 'used_after_cancel' ? 'Used after it was cancelled' : 'Coupon list not written: ' + (x.detail || '');
        } },
        { title: 'Resolve', render: function (x) {
          var input = h('input', { type: 'text', maxlength: '500', required: true, 'aria-label': 'How incident ' + x.id + ' was resolved' });
          return h('form', { on: { submit: function (e) {
            e.preventDefault();
            var button = e.target.querySelector('button');
            busy(button, true);
            api('POST', 'coupon-incidents/' + x.id + '/resolve', { resolution: input.value }).then(function (rr) {
              busy(button, false);
              if (!rr.ok) return fail(rr);
              toast('Incident ' + x.id + ' resolved.');
              loadReview();
            });
          } } }, input, h('button', { type: 'submit', text: 'Resolve' }));
        } }], r.data, 'No open coupon incidents.'));
    });
    api('GET', 'orphan-coupons').then(function (r) {
      if (!r.ok) return fail(r);
      $('orphan-summary').textContent = r.data.lastRunAt
        ? 'Orphan coupon sweep, ' + when(r.data.lastRunAt) + ': ' + n(r.data.lastChecked) + ' coupons checked, ' + n(r.data.deletedTotal)
          + ' deleted in all (' + n(r.data.usedTotal) + ' of them already used in an order).'
        : 'The orphan coupon sweep has not run yet.';
    });
  }
  function act(button, x, action) {
    clearError();
    busy(button, true);
    api('POST', 'conversions/' + encodeURIComponent(x.id) + '/' + action, {}).then(function (r) {
      busy(button, false);
      if (!r.ok) return fail(r);
      toast('Conversion ' + x.id + ' is now ' + r.data.state.replace('_', ' ') + '.');
      loadReview();
    });
  }

  // POS sync
  function loadPos() {
    function retry(x) {
      return h('button', { type: 'button', 'aria-label': 'Retry ' + x.reference, on: { click: function (e) {
        busy(e.target, true);
        api('POST', 'pos-sync/' + x.id + '/retry', {}).then(function (rr) { busy(e.target, false); if (!rr.ok) return fail(rr); toast('Queued again: ' + x.reference); loadPos(); });
      } }, text: 'Retry' });
    }
    function signed(n) { return (n > 0 ? '+' : '') + n; }
    api('GET', 'pos-sync?state=refused').then(function (r) {
      if (!r.ok) return fail(r);
      put('pos-refused-list', table([{ title: 'Refused', render: function (x) { return when(x.refusedAt); } }, { title: 'Customer', key: 'customerId' },
        { title: 'Reference', key: 'reference' }, { title: 'Points', key: 'points', num: true },
        { title: 'Reason', render: function (x) { return x.refusalCode + ' (HTTP ' + x.refusalStatus + ')'; } },
        { title: 'Customer drift', num: true, render: function (x) { return signed(x.customerDrift); } },
        { title: 'Actions', render: retry }], r.data, 'Nothing is refused: the POS took every change it answered.'));
    });
    api('GET', 'pos-sync/drift').then(function (r) {
      if (!r.ok) return fail(r);
      put('pos-drift-list', table([{ title: 'Customer', key: 'customerId' }, { title: 'Ledger balance', key: 'ledgerBalance', num: true },
        { title: 'Drift', num: true, render: function (x) { return signed(x.drift); } },
        { title: 'Refused additions', key: 'refusedAdditions', num: true }, { title: 'Refused deductions', key: 'refusedDeductions', num: true },
        { title: 'Refusals', key: 'refusals', num: true }, { title: 'Last refused', render: function (x) { return when(x.lastRefusedAt); } }],
        r.data, 'No drift: the POS has been told every change in the ledger.'));
    });
    api('GET', 'pos-sync?state=parked').then(function (r) {
      if (!r.ok) return fail(r);
      put('pos-list', table([{ title: 'Created', render: function (x) { return when(x.createdAt); } }, { title: 'Customer', key: 'customerId' },
        { title: 'Reference', key: 'reference' }, { title: 'Points', key: 'points', num: true }, { title: 'Attempts', key: 'attempts', num: true },
        { title: 'Last error', key: 'lastError' },
        { title: 'Actions', render: retry }], r.data, 'Nothing is parked: every point change reached the POS or got an answer.'));
    });
  }

  // Donations
  function loadDonations() {
    api('GET', 'donations').then(function (r) {
      if (!r.ok) return fail(r);
      put('donation-list', table([{ title: 'Cause', key: 'cause' }, { title: 'Donations', key: 'donations', num: true },
        { title: 'Points', key: 'points', num: true }, { title: 'Customers', key: 'customers', num: true }], r.data, 'No donations yet.'));
    });
  }

  // Campaigns
  var campaignKey = null;
  function loadCampaigns() {
    api('GET', 'campaigns').then(function (r) {
      if (!r.ok) return fail(r);
      var items = r.data.items;
      put('campaign-list', table([{ title: 'Title', key: 'title' }, { title: 'Discount', render: function (x) { return x.discountType === 'percentage' ? x.value + ' %' : String(x.value); } },
        { title: 'State', render: function (x) { return badge(x.state); } },
        { title: 'Codes', render: function (x) {
          if (x.state === 'generating' || x.state === 'creating') {
            return h('span', {}, h('progress', { max: x.requestedCodes, value: x.createdCodes, 'aria-label': 'Codes created for ' + x.title }), ' ' + n(x.createdCodes) + ' / ' + n(x.requestedCodes));
          }
          return n(x.createdCodes) + ' / ' + n(x.requestedCodes) + (x.failedCodes ? ' (' + n(x.failedCodes) + ' failed)' : '');
        } },
        { title: 'Ends', render: function (x) { return when(x.endsAt); } },
        { title: 'Actions', render: function (x) {
          var csv = h('button', { type: 'button', 'aria-label': 'Download the codes of ' + x.title, on: { click: function () { downloadCsv(x); } }, text: 'Codes CSV' });
          // A refused campaign, or one Shopify could not be reached for: try again, or give it up and free its code.
          if (x.state !== 'failed' && !(x.state === 'creating' && x.lastError)) return csv;
          return h('span', { title: x.lastError || '' }, csv, ' ',
            h('button', { type: 'button', 'aria-label': 'Retry creating ' + x.title, on: { click: function () { changeCampaign(x, 'POST', '/retry'); } }, text: 'Retry' }), ' ',
            h('button', { type: 'button', 'aria-label': 'Release the code of ' + x.title, on: { click: function () { changeCampaign(x, 'DELETE', ''); } }, text: 'Release code' }));
        } }], items, 'No campaigns yet.'));
      if (items.some(function (x) { return x.state === 'generating' || x.state === 'creating'; })) {
        if (!timer) timer = setInterval(loadCampaigns, 2000);
      } else if (timer) { clearInterval(timer); timer = null; }
    });
  }
  function changeCampaign(x, method, suffix) {
    clearError();
    api(method, 'campaigns/' + x.id + suffix).then(function (r) {
      if (!r.ok) { fail(r); return loadCampaigns(); }
      toast('Campaign "' + x.title + '" is ' + r.data.state + '.');
      loadCampaigns();
    });
  }
  function downloadCsv(x) {
    api('GET', 'campaigns/' + x.id + '/codes.csv', undefined, { raw: true }).then(function (r) {
      if (!r.ok) return fail(r);
      var a = h('a', { href: URL.createObjectURL(r.data), download: 'campaign-' + x.id + '-codes.csv' });
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
  }
  $('campaign-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var button = $('c-submit');
    var count = Number($('c-count').value);
    var req = { title: $('c-title').value, oncePerCustomer: $('c-once').checked };
    req[$('c-kind').value] = Number($('c-value').value);
    if ($('c-ends').value) req.endsAt = new Date($('c-ends').value).toISOString();
    if ($('c-limit').value) req.usageLimit = Number($('c-limit').value);
    if (count > 1 || $('c-prefix').value) req.codes = { count: count, prefix: $('c-prefix').value || null };
    campaignKey = campaignKey || newKey();
    busy(button, true);
    api('POST', 'campaigns', req, { key: campaignKey }).then(function (r) {
      busy(button, false);
      // Keep the key only when the answer may have been lost: a resend then gets this campaign, not a second one.
      if (!r.ok) { if (r.status < 500 || (r.data && r.data.code === 'campaign_creation_failed')) campaignKey = null; loadCampaigns(); return fail(r); }
      campaignKey = null;
      toast('Campaign "' + r.data.title + '" ' + (r.status === 201 ? 'created.' : r.data.state === 'creating' && r.data.requestedCodes === 1
        ? 'is being created; Shopify could not be reached, it is retried in the background.' : 'is generating its codes.'));
      $('campaign-form').reset();
      loadCampaigns();
    });
  });

  // Settings
  var FIELDS = [
    ['earnRate', 'Points per unit of currency', 'number', '0.0001'], ['earnBasis', 'Earn on', ['subtotal', 'total']],
    ['testOrdersEarn', 'Test orders earn points', 'checkbox'], ['pointValue', 'Value of one point (shop currency)', 'number', '0.0001'],
    ['minConversion', 'Minimum points per conversion', 'number', '1'], ['conversionStep', 'Conversion step (points)', 'number', '1'],
    ['dailyConversionLimit', 'Daily conversion limit per customer', 'number', '1'], ['couponValidityDays', 'Coupon validity (days)', 'number', '1'],
    ['feedbackBonus', 'Feedback bonus (points)', 'number', '1'], ['feedbackDailyLimit', 'Rewarded feedbacks per day', 'number', '1'],
    ['negativeBalancePolicy', 'Refund after spending', ['allow_negative', 'floor_at_zero']]
  ];
  (function buildSettings() {
    var box = $('settings-fields');
    FIELDS.forEach(function (f) {
      var id = 's-' + f[0];
      var input;
      if (Array.isArray(f[2])) input = h.apply(null, ['select', { id: id, name: f[0] }].concat(f[2].map(function (o) { return h('option', { value: o, text: o.replace('_', ' ') }); })));
      else if (f[2] === 'checkbox') input = h('input', { id: id, name: f[0], type: 'checkbox' });
      else input = h('input', { id: id, name: f[0], type: 'number', step: f[3], required: true, inputmode: 'decimal' });
      box.appendChild(f[2] === 'checkbox'
        ? h('div', {}, h('label', { class: 'check', for: id }, input, ' ' + f[1]), h('p', { class: 'field-error', 'data-for': f[0] }))
        : h('div', {}, h('label', { for: id, text: f[1] }), input, h('p', { class: 'field-error', 'data-for': f[0] })));
    });
  })();
  function showFieldErrors(errors) {
    Array.prototype.forEach.call(document.querySelectorAll('.field-error'), function (p) {
      var msgs = errors && errors[p.dataset.for];
      p.textContent = msgs ? msgs.join(' ') : '';
      var input = $('s-' + p.dataset.for);
      if (input) { if (msgs) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid'); }
    });
  }
  function loadSettings() {
    api('GET', 'settings').then(function (r) {
      if (!r.ok) return fail(r);
      var s = r.data;
      FIELDS.forEach(function (f) {
        var el = $('s-' + f[0]);
        if (el.type === 'checkbox') el.checked = !!s[f[0]]; else el.value = s[f[0]];
      });
      $('s-balanceSource').value = s.balanceSource;
      $('s-posBaseUrl').value = s.posBaseUrl || '';
      $('s-posApiKey').value = '';
      $('s-key-state').textContent = s.posApiKeySet ? 'A key is saved (never shown) and is only sent to the saved URL. Type a new one to replace it, or to use another URL.' : 'No key saved.';
      showFieldErrors(null);
    });
  }
  function settingsBody() {
    var b = {};
    FIELDS.forEach(function (f) {
      var el = $('s-' + f[0]);
      b[f[0]] = el.type === 'checkbox' ? el.checked : (el.type === 'number' ? Number(el.value) : el.value);
    });
    b.balanceSource = $('s-balanceSource').value;
    b.posBaseUrl = $('s-posBaseUrl').value;
    if ($('s-posApiKey').value) b.posApiKey = $('s-posApiKey').value;
    return b;
  }
  $('settings-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var button = $('settings-save');
    busy(button, true);
    api('PUT', 'settings', settingsBody()).then(function (r) {
      busy(button, false);
      if (!r.ok) { showFieldErrors(r.data && r.data.errors); return fail(r); }
      toast('Settings saved.');
      loadSettings();
    });
  });
  $('pos-test').addEventListener('click', function (e) {
    clearError();
    busy(e.target, true);
    $('pos-test-result').textContent = 'Testing…';
    var b = { posBaseUrl: $('s-posBaseUrl').value || null, posApiKey: $('s-posApiKey').value || null };
    api('POST', 'settings/pos/test', b).then(function (r) {
      busy(e.target, false);
      if (!r.ok) { $('pos-test-result').textContent = ''; showFieldErrors(r.data && r.data.errors); return fail(r); }
      $('pos-test-result').textContent = (r.data.ok ? '✓ ' : '✗ ') + r.data.detail + ' (' + r.data.elapsedMs + ' ms)';
    });
  });

  route();
})();
