(function () {
  'use strict';
  var body = document.body;
  var sandbox = body.dataset.sandbox === 'true';
  var $ = function (id) { return document.getElementById(id); };
  if (sandbox) document.querySelector('.sandbox-banner').hidden = false;

  // ---- words, numbers and dates in the admin's language (the locale Shopify puts in the app URL) ---------------
  var TEXT = JSON.parse($('i18n').textContent);
  var lang = document.documentElement.lang || 'en';
  var locale = body.dataset.locale || lang;
  try { new Intl.NumberFormat(locale); } catch (e) { locale = lang; }
  var numbers = new Intl.NumberFormat(locale);
  var dateTimes = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
  var plurals = new Intl.PluralRules(locale);
  function has(key) { return Object.prototype.hasOwnProperty.call(TEXT, key); }
  // t('key', { name: value }): the text for key with {name} filled in.
  function t(key, vars) {
    var text = has(key) ? TEXT[key] : key;
    return vars ? text.replace(/\{(\w+)\}/g, function (m, name) { return vars[name] === undefined ? m : String(vars[name]); }) : text;
  }
  // tp('key', count): key.one, key.other… as the language's plural rules say, with {n} the formatted count.
  function tp(key, count, vars) {
    var form = key + '.' + plurals.select(count);
    vars = vars || {};
    if (vars.n === undefined) vars.n = n(count);
    return t(has(form) ? form : key + '.other', vars);
  }
  function points(count) { return tp('unit.points', count); }
  // A value the API gives as a code (a state, a kind), in words when the page has them.
  function word(prefix, value) { return has(prefix + value) ? t(prefix + value) : String(value).replace(/_/g, ' '); }

  // ---- session tokens: App Bridge in a real shop, the sandbox's own endpoint otherwise -------------
  var cached = null;
  function token() {
    if (window.shopify && typeof window.shopify.idToken === 'function') return window.shopify.idToken();
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.token);
    return fetch('/sandbox/session-token').then(function (r) {
      if (!r.ok) throw new Error(t('error.noSession'));
      return r.json();
    }).then(function (d) { cached = { token: d.token, until: Date.now() + 40000 }; return d.token; });
  }
  function api(method, path, data, opts) {
    opts = opts || {};
    return token().then(function (sessionToken) {
      var headers = { Authorization: 'Bearer ' + sessionToken, Accept: opts.raw ? '*/*' : 'application/json' };
      if (data !== undefined) headers['Content-Type'] = 'application/json';
      if (opts.key) headers['Idempotency-Key'] = opts.key;
      return fetch('/api/admin/' + path, { method: method, headers: headers, body: data === undefined ? undefined : JSON.stringify(data) });
    }).then(function (r) {
      if (opts.raw && r.ok) return r.blob().then(function (b) { return { ok: true, status: r.status, data: b }; });
      return r.text().then(function (text) {
        var d = null;
        try { d = text ? JSON.parse(text) : null; } catch (e) { d = null; }
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
    if (!rows.length) return h('p', { class: 'muted', text: empty || t('table.empty') });
    return h('table', {},
      h('thead', {}, h.apply(null, ['tr', {}].concat(columns.map(function (c) { return h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.title }); })))),
      h.apply(null, ['tbody', {}].concat(rows.map(function (r) {
        return h.apply(null, ['tr', {}].concat(columns.map(function (c) {
          var v = c.render ? c.render(r) : r[c.key];
          return h('td', { class: c.num ? 'num' : null }, v === null || v === undefined ? '—' : v);
        })));
      }))));
  }
  function badge(s) { return h('span', { class: 'badge ' + s, text: word('state.', s) }); }
  function n(v) { return numbers.format(Number(v)); }
  function when(iso) { var d = iso ? new Date(iso) : null; return d && !isNaN(d) ? dateTimes.format(d) : '—'; }
  function day(isoDate, opts) { return new Intl.DateTimeFormat(locale, opts || { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(isoDate + 'T00:00:00Z')); }
  function money(amount, currency) {
    try { return new Intl.NumberFormat(locale, { style: 'currency', currency: currency }).format(amount); }
    catch (e) { return n(amount) + ' ' + currency; }
  }
  // Money where the API names no currency (a code's orders): the shop's currency when known, else the bare amount.
  function amount(value, currency) {
    return currency ? money(value, currency) : new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
  }
  function signed(v) { return (v > 0 ? '+' : '') + n(v); }
  function percent(value, digits) { return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: digits }).format(value); }
  function toast(text) { $('toast').textContent = text; }
  function fail(r) {
    var d = r && r.data;
    // The API's own words (title, detail) and its stable code; only a failure without them is the page's.
    var text = d && d.title ? d.title + (d.detail ? ' ' + d.detail : '') + (d.code ? ' (' + d.code + ')' : '') : t('error.http', { status: r ? r.status : '?' });
    $('error').textContent = text;
    $('error').hidden = false;
  }
  function clearError() { $('error').hidden = true; $('error').textContent = ''; }
  function put(id, node) { var el = $(id); el.textContent = ''; el.appendChild(node); }
  function busy(button, on) { button.disabled = on; button.setAttribute('aria-busy', String(on)); }
  // A CSV the API answers: fetched with the session token (a plain link would carry none) and saved under filename.
  function download(path, filename, button) {
    clearError();
    if (button) busy(button, true);
    return api('GET', path, undefined, { raw: true }).then(function (r) {
      if (button) busy(button, false);
      if (!r.ok) { fail(r); return r; }
      var a = h('a', { href: URL.createObjectURL(r.data), download: filename });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 60000); // once the browser has surely read it
      return r;
    });
  }
  // The shop (its currency), asked once.
  var shopInfo = null;
  function shop() {
    if (!shopInfo) shopInfo = api('GET', 'shop').then(function (r) { if (!r.ok) shopInfo = null; return r.ok ? r.data : {}; });
    return shopInfo;
  }

  // ---- views -----------------------------------------------------------------------------------------
  var views = {
    dashboard: loadDashboard, customers: function () {}, tiers: loadTiers, transactions: function () { loadTransactions(false); }, review: loadReview, 'pos-sync': loadPos,
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

  // First run: while earning is off (a new shop's rate is 0), the dashboard opens on what to do first.
  function loadChecklist() {
    api('GET', 'settings').then(function (r) {
      if (!r.ok) return fail(r);
      var box = $('checklist');
      box.hidden = r.data.earnRate > 0;
      if (box.hidden) return;
      var myPage = sandbox ? '/sandbox/storefront/apps/loyalty' : 'https://' + body.dataset.shop + '/apps/loyalty';
      var steps = $('checklist-steps');
      steps.textContent = '';
      [['setRate', '#settings', false], ['chooseSource', '#settings', false, { source: t('source.' + r.data.balanceSource) }],
       ['seeMyPage', myPage, true]].forEach(function (s) {
        var link = h('a', { href: s[1], text: t('checklist.' + s[0] + '.do', s[3]) });
        if (s[2]) { link.target = '_blank'; link.rel = 'noopener'; }
        steps.appendChild(h('li', { 'data-step': s[0] }, h('p', { text: t('checklist.' + s[0], s[3]) }), link));
      });
    });
  }

  // Dashboard
  function loadDashboard() {
    loadChecklist();
    var days = Number($('dash-period').value);
    var to = new Date();
    var from = new Date(to.getTime() - days * 86400000);
    api('GET', 'dashboard?from=' + encodeURIComponent(from.toISOString()) + '&to=' + encodeURIComponent(to.toISOString())).then(function (r) {
      if (!r.ok) return fail(r);
      var totals = r.data.totals;
      var cards = $('dash-cards');
      cards.textContent = '';
      [['pointsIssued', n(totals.pointsIssued)], ['pointsRedeemed', n(totals.pointsRedeemed)], ['pointsTakenBack', n(totals.pointsTakenBack)],
       ['pointsOutstanding', n(totals.pointsOutstanding)], ['pointsPending', n(totals.pointsPending)], ['couponsIssued', n(totals.couponsIssued)], ['couponsUsed', n(totals.couponsUsed)],
       ['redemptionRate', percent(totals.redemptionRate, 1)], ['customers', n(totals.customers)],
       // The program's liability: what customers hold, its worth, what expired in the period and what expires soon.
       ['outstandingValue', money(totals.outstandingValue, totals.currency)], ['pointsExpired', n(totals.pointsExpired)],
       ['pointsExpiringSoon', n(totals.pointsExpiringSoon)]].forEach(function (m) {
        var label = t('metric.' + m[0], { days: n(totals.expiringSoonDays) });
        cards.appendChild(h('div', { class: 'metric', 'data-metric': m[0] }, h('div', { class: 'label', text: label }), h('div', { class: 'value', text: m[1] })));
      });
      put('dash-chart', chart(r.data.days));
      put('dash-table', table([{ title: t('dashboard.day'), render: function (x) { return day(x.date); } },
        { title: t('metric.pointsIssued'), render: function (x) { return n(x.pointsIssued); }, num: true },
        { title: t('metric.pointsRedeemed'), render: function (x) { return n(x.pointsRedeemed); }, num: true },
        { title: t('metric.couponsIssued'), render: function (x) { return n(x.couponsIssued); }, num: true },
        { title: t('metric.couponsUsed'), render: function (x) { return n(x.couponsUsed); }, num: true }], r.data.days));
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
    svg.setAttribute('aria-label', t('dashboard.chartLabel'));
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
        var tick = el('text', { x: x, y: H - pad + 14, 'font-size': 10, fill: '#6d7175' });
        tick.textContent = day(d.date, { month: 'numeric', day: 'numeric', timeZone: 'UTC' });
        svg.appendChild(tick);
      }
    });
    return h('div', {}, svg, h('div', { class: 'legend' }, h('span', { style: '--c:#008060', text: t('dashboard.issued') }), h('span', { style: '--c:#b98900', text: t('dashboard.redeemed') })));
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
      [['balance', n(c.balance)], ['pending', n(c.pending)], ['earned', n(c.lifetime)], ['redeemed', n(c.totalRedeemed)],
       ['balance-kept-by', word('source.', c.balanceSource)]].forEach(function (m) {
        cards.appendChild(h('div', { class: 'metric' }, h('div', { class: 'label', text: t('customer.' + m[0]) }), h('div', { class: 'value', 'data-testid': 'customer-' + m[0], text: m[1] })));
      });
      put('customer-history', table([{ title: t('col.when'), render: function (x) { return when(x.createdAt); } }, { title: t('col.what'), key: 'description' },
        { title: t('col.kind'), render: function (x) { return word('kind.', x.kind); } }, { title: t('col.points'), render: function (x) { return n(x.points); }, num: true },
        { title: t('col.pendingPoints'), render: function (x) { return x.pendingPoints ? n(x.pendingPoints) : ''; }, num: true },
        { title: t('col.balanceAfter'), render: function (x) { return n(x.balanceAfter); }, num: true }], c.history, t('customers.noHistory')));
      // Orders whose points wait out the shop's pending period, and the day each becomes spendable.
      put('customer-pending', c.pendingOrders.length ? table([{ title: t('col.order'), render: function (x) { return x.orderName || '#' + x.orderId; } },
        { title: t('col.points'), render: function (x) { return n(x.points); }, num: true },
        { title: t('col.availableAt'), render: function (x) { return when(x.availableAt); } }], c.pendingOrders, '') : h('p', { text: t('customers.noPending') }));
      // What expires next and when (the shop's rule: each lot, or the whole balance after a time without activity).
      var expiring = (c.expiry && c.expiry.next) || [];
      put('customer-expiring', expiring.length ? table([{ title: t('col.points'), render: function (x) { return n(x.points); }, num: true },
        { title: t('col.expiresAt'), render: function (x) { return when(x.expiresAt); } }], expiring, '') : h('p', { text: t('customers.noExpiring') }));
      loadCustomerTier(id);
      put('customer-coupons', rs[1].ok ? table([{ title: t('col.code'), key: 'code' }, { title: t('col.value'), render: function (x) { return money(x.amount, x.currency); } },
        { title: t('col.points'), render: function (x) { return n(x.points); }, num: true }, { title: t('col.status'), render: function (x) { return badge(x.status); } },
        { title: t('col.expires'), render: function (x) { return when(x.expiresAt); } }], rs[1].data, t('customers.noCoupons')) : h('p', { text: t('customers.couponsFailed') }));
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
        toast(t(r.data.replayed ? 'customers.alreadyApplied' : 'customers.applied', { points: points(r.data.points), balance: n(r.data.balance) }));
        $('adjust-form').reset();
        return loadCustomer(currentCustomer);
      }, function () { busy(button, false); fail(null); });
  });

  // A customer's VIP tier: their standing, the merchant's hand (with a reason, audited), and the history of changes.
  function loadCustomerTier(id) {
    return Promise.all([api('GET', 'customers/' + id + '/tier'), api('GET', 'tiers')]).then(function (rs) {
      if (!rs[0].ok) return fail(rs[0]);
      var s = rs[0].data.status;
      $('customer-tier').textContent = !s ? t('customers.noTierProgram') : s.tier
        ? t(s.source === 'manual' ? 'customers.tierManual' : 'customers.tierComputed', { name: s.tier.name, multiplier: n(s.tier.multiplier), since: when(s.since) })
        : t('customers.noTier');
      var select = $('tier-select');
      select.textContent = '';
      select.appendChild(h('option', { value: 'automatic', text: t('customers.tierAutomatic') }));
      select.appendChild(h('option', { value: 'none', text: t('customers.tierNone') }));
      (rs[1].ok ? rs[1].data.tiers : []).forEach(function (x) { select.appendChild(h('option', { value: String(x.id), text: x.name })); });
      put('customer-tier-history', table([{ title: t('col.when'), render: function (x) { return when(x.at); } },
        { title: t('col.from'), render: function (x) { return x.fromTier || '—'; } }, { title: t('col.to'), render: function (x) { return x.toTier || '—'; } },
        { title: t('col.why'), render: function (x) { return word('tiercause.', x.cause); } }, { title: t('col.reason'), render: function (x) { return x.reason || ''; } },
        { title: t('col.by'), key: 'actor' }], rs[0].data.history, t('customers.noTierHistory')));
    });
  }
  $('tier-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var choice = $('tier-select').value;
    var body = choice === 'automatic' ? { automatic: true } : { tierId: choice === 'none' ? null : Number(choice) };
    body.reason = $('tier-reason').value;
    busy($('tier-submit'), true);
    api('PUT', 'customers/' + currentCustomer + '/tier', body).then(function (r) {
      busy($('tier-submit'), false);
      if (!r.ok) return fail(r);
      toast(t('customers.tierSet'));
      $('tier-form').reset();
      return loadCustomerTier(currentCustomer);
    }, function () { busy($('tier-submit'), false); fail(null); });
  });

  // Tiers: the rules, the tiers with their members, a new tier, archiving one.
  function loadTiers() {
    return api('GET', 'tiers').then(function (r) {
      if (!r.ok) return fail(r);
      $('tr-basis').value = r.data.rules.basis;
      $('tr-windowMonths').value = r.data.rules.windowMonths === null ? '' : r.data.rules.windowMonths;
      $('tr-graceDays').value = r.data.rules.graceDays;
      put('tiers-list', table([{ title: t('tiers.name'), key: 'name' }, { title: t('tiers.threshold'), render: function (x) { return n(x.threshold); }, num: true },
        { title: t('tiers.multiplier'), render: function (x) { return '×' + n(x.multiplier); }, num: true },
        { title: t('tiers.perks'), render: function (x) { return x.perks.join(', '); } },
        { title: t('tiers.customerTag'), render: function (x) { return x.customerTag || '—'; } },
        { title: t('tiers.conversionBonus'), render: function (x) { return x.conversionBonusPercent ? '+' + n(x.conversionBonusPercent) + ' %' : '—'; }, num: true },
        { title: t('tiers.members'), render: function (x) {
          return h('button', { type: 'button', text: n(x.members), 'aria-label': t('tiers.showMembers', { name: x.name }), on: { click: function () { showMembers(x); } } }); }, num: true },
        { title: '', render: function (x) {
          return h('button', { type: 'button', text: t('tiers.archive'), 'aria-label': t('tiers.archiveOne', { name: x.name }), on: { click: function () {
            api('DELETE', 'tiers/' + x.id).then(function (d) { if (!d.ok) return fail(d); toast(t('tiers.archived', { name: x.name })); loadTiers(); });
          } } }); } }], r.data.tiers, t('tiers.none')));
    });
  }
  function showMembers(tier) {
    api('GET', 'tiers/' + tier.id + '/members').then(function (r) {
      if (!r.ok) return fail(r);
      $('tier-members-card').hidden = false;
      $('tier-members-h').textContent = t('tiers.membersOf', { name: tier.name });
      put('tier-members', table([{ title: t('col.customer'), render: function (x) {
        return h('a', { href: '#customers', text: String(x.customerId), on: { click: function () { $('customer-id').value = x.customerId; setTimeout(function () { loadCustomer(x.customerId); }); } } }); } },
        { title: t('col.how'), render: function (x) { return word('tiersource.', x.source); } }, { title: t('col.since'), render: function (x) { return when(x.since); } }],
        r.data, t('tiers.noMembers')));
    });
  }
  $('tier-rules-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var w = $('tr-windowMonths').value;
    api('PUT', 'tiers/rules', { basis: $('tr-basis').value, windowMonths: w === '' ? null : Number(w), graceDays: Number($('tr-graceDays').value) }).then(function (r) {
      showFieldErrors(r.ok ? null : r.data && r.data.errors, $('tier-rules-form'), 'tr-');
      if (!r.ok) return fail(r);
      toast(t('tiers.rulesSaved'));
    });
  });
  $('tier-add-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var perks = $('ta-perks').value.split(',').map(function (p) { return p.trim(); }).filter(function (p) { return p; });
    api('POST', 'tiers', { name: $('ta-name').value, threshold: Number($('ta-threshold').value), multiplier: Number($('ta-multiplier').value), perks: perks,
      customerTag: $('ta-customerTag').value || null, conversionBonusPercent: Number($('ta-conversionBonusPercent').value || 0) })
      .then(function (r) {
        showFieldErrors(r.ok ? null : r.data && r.data.errors, $('tier-add-form'), 'ta-');
        if (!r.ok) return fail(r);
        toast(t('tiers.added', { name: r.data.name }));
        $('tier-add-form').reset();
        loadTiers();
      });
  });

  // Point transactions: the shop's whole ledger, newest first, a page at a time; the CSV holds every matching row.
  var KINDS = ['order_award', 'refund_clawback', 'cancellation_reversal', 'bonus', 'feedback', 'manual_adjustment',
    'conversion', 'conversion_reversal', 'donation', 'donation_reversal', 'pending_release'];
  KINDS.forEach(function (k) { $('tx-kind').appendChild(h('option', { value: k, text: word('kind.', k) })); });
  var txShown = { query: '', rows: [], next: null };
  function txFilter() {
    var q = new URLSearchParams();
    if ($('tx-customerId').value !== '') q.set('customerId', $('tx-customerId').value);
    if ($('tx-kind').value) q.set('kind', $('tx-kind').value);
    // Whole days in the merchant's own time: from the start of the first, through the end of the last.
    if ($('tx-from').value) q.set('from', new Date($('tx-from').value + 'T00:00:00').toISOString());
    if ($('tx-to').value) {
      var end = new Date($('tx-to').value + 'T00:00:00');
      end.setDate(end.getDate() + 1);
      q.set('to', end.toISOString());
    }
    return q;
  }
  function txSource(x) {
    if (x.orderId) {
      return x.rate !== null && x.basisAmount !== null
        ? t('transactions.fromOrderRate', { order: x.orderId, rate: n(x.rate), basis: amount(x.basisAmount, x.currency) })
        : t('transactions.fromOrder', { order: x.orderId });
    }
    if (x.conversionId) return t('transactions.fromConversion', { id: x.conversionId });
    if (x.donationId) return t('transactions.fromDonation', { id: x.donationId });
    return x.reference;
  }
  // more: the next page of what is shown (the filter it was shown with); otherwise the first page of the form's filter.
  function loadTransactions(more) {
    clearError();
    var button = more ? $('tx-more') : $('tx-show');
    var q = more ? new URLSearchParams(txShown.query) : txFilter();
    if (!more) q.set('limit', $('tx-limit').value);
    if (more) q.set('before', txShown.next);
    busy(button, true);
    return api('GET', 'point-transactions?' + q.toString()).then(function (r) {
      busy(button, false);
      showFieldErrors(r.ok ? null : r.data && r.data.errors, $('tx-form'), 'tx-');
      if (!r.ok) return fail(r);
      if (!more) txShown = { query: q.toString(), rows: [], next: null };
      txShown.rows = txShown.rows.concat(r.data.items);
      txShown.next = r.data.nextBefore;
      put('tx-list', table([{ title: t('col.when'), render: function (x) { return when(x.createdAt); } }, { title: t('col.customer'), render: function (x) { return String(x.customerId); } },
        { title: t('col.kind'), render: function (x) { return word('kind.', x.kind); } }, { title: t('col.points'), render: function (x) { return signed(x.points); }, num: true },
        { title: t('col.balanceAfter'), render: function (x) { return n(x.balanceAfter); }, num: true }, { title: t('col.source'), render: txSource },
        { title: t('col.what'), key: 'description' },
        { title: t('col.by'), render: function (x) { return word('actor.', x.actorType) + (x.actorId ? ' ' + x.actorId : ''); } }],
        txShown.rows, t('transactions.none')));
      $('tx-more').hidden = txShown.next === null || txShown.next === undefined;
      $('tx-count').textContent = txShown.next ? tp('transactions.shownMore', txShown.rows.length) : tp('transactions.shown', txShown.rows.length);
    });
  }
  $('tx-form').addEventListener('submit', function (e) { e.preventDefault(); loadTransactions(false); });
  $('tx-more').addEventListener('click', function () { loadTransactions(true); });
  $('tx-csv').addEventListener('click', function (e) {
    var q = txFilter();
    q.set('format', 'csv');
    download('point-transactions?' + q.toString(), 'point-transactions.csv', e.currentTarget).then(function (r) {
      showFieldErrors(r.ok ? null : r.data && r.data.errors, $('tx-form'), 'tx-');
    });
  });

  // Needs review
  function loadReview() {
    api('GET', 'conversions?state=needs_review').then(function (r) {
      if (!r.ok) return fail(r);
      put('review-list', table([
        { title: t('col.created'), render: function (x) { return when(x.createdAt); } }, { title: t('col.customer'), key: 'customerId' },
        { title: t('col.points'), render: function (x) { return n(x.points); }, num: true }, { title: t('col.code'), key: 'code' },
        { title: t('col.stoppedAt'), render: function (x) { return x.reviewFrom ? word('state.', x.reviewFrom) : null; } },
        { title: t('col.reason'), key: 'failureReason' },
        { title: t('col.actions'), render: function (x) {
          return h('div', {}, h('button', { type: 'button', on: { click: function (e) { act(e.target, x, 'retry'); } }, 'aria-label': t('review.retryLabel', { id: x.id }), text: t('action.retry') }),
            h('button', { type: 'button', class: 'critical', on: { click: function (e) { act(e.target, x, 'cancel'); } }, 'aria-label': t('review.cancelLabel', { id: x.id }), text: t('action.cancel') }));
        } }], r.data, t('review.none')));
    });
    api('GET', 'coupon-incidents?resolved=false').then(function (r) {
      if (!r.ok) return fail(r);
      put('incident-list', table([
        { title: t('col.found'), render: function (x) { return when(x.createdAt); } }, { title: t('col.customer'), key: 'customerId' },
        { title: t('col.order'), render: function (x) { return x.orderId === null ? '—' : String(x.orderId); } }, { title: t('col.code'), key: 'code' },
        { title: t('col.atStake'), render: function (x) { return t('incidents.atStake', { value: money(x.amount, x.currency), points: points(x.points) }); } },
        { title: t('col.whatHappened'), render: function (x) {
          return x.kind === 'used_after_cancel' ? t('incidents.usedAfterCancel') : t('incidents.listNotWritten', { detail: x.detail || '' });
        } },
        { title: t('col.resolve'), render: function (x) {
          var input = h('input', { type: 'text', maxlength: '500', required: true, 'aria-label': t('incidents.howResolved', { id: x.id }) });
          return h('form', { on: { submit: function (e) {
            e.preventDefault();
            var button = e.target.querySelector('button');
            busy(button, true);
            api('POST', 'coupon-incidents/' + x.id + '/resolve', { resolution: input.value }).then(function (rr) {
              busy(button, false);
              if (!rr.ok) return fail(rr);
              toast(t('incidents.resolved', { id: x.id }));
              loadReview();
            });
          } } }, input, h('button', { type: 'submit', text: t('action.resolve') }));
        } }], r.data, t('incidents.none')));
    });
    api('GET', 'orphan-coupons').then(function (r) {
      if (!r.ok) return fail(r);
      $('orphan-summary').textContent = r.data.lastRunAt
        ? t('orphans.summary', { when: when(r.data.lastRunAt), checked: n(r.data.lastChecked), deleted: n(r.data.deletedTotal), used: n(r.data.usedTotal) })
        : t('orphans.notRun');
    });
  }
  function act(button, x, action) {
    clearError();
    busy(button, true);
    api('POST', 'conversions/' + encodeURIComponent(x.id) + '/' + action, {}).then(function (r) {
      busy(button, false);
      if (!r.ok) return fail(r);
      toast(t('review.nowState', { id: x.id, state: word('state.', r.data.state) }));
      loadReview();
    });
  }

  // POS sync
  function loadPos() {
    function retry(x) {
      return h('button', { type: 'button', 'aria-label': t('pos.retryLabel', { reference: x.reference }), on: { click: function (e) {
        busy(e.target, true);
        api('POST', 'pos-sync/' + x.id + '/retry', {}).then(function (rr) { busy(e.target, false); if (!rr.ok) return fail(rr); toast(t('pos.queued', { reference: x.reference })); loadPos(); });
      } }, text: t('action.retry') });
    }
    function count(key) { return function (x) { return n(x[key]); }; }
    api('GET', 'pos-sync?state=refused').then(function (r) {
      if (!r.ok) return fail(r);
      put('pos-refused-list', table([{ title: t('col.refused'), render: function (x) { return when(x.refusedAt); } }, { title: t('col.customer'), key: 'customerId' },
        { title: t('col.reference'), key: 'reference' }, { title: t('col.points'), render: count('points'), num: true },
        { title: t('col.reason'), render: function (x) { return x.refusalCode + ' (HTTP ' + x.refusalStatus + ')'; } },
        { title: t('col.customerDrift'), num: true, render: function (x) { return signed(x.customerDrift); } },
        { title: t('col.actions'), render: retry }], r.data, t('pos.noneRefused')));
    });
    api('GET', 'pos-sync/drift').then(function (r) {
      if (!r.ok) return fail(r);
      put('pos-drift-list', table([{ title: t('col.customer'), key: 'customerId' }, { title: t('col.ledgerBalance'), render: count('ledgerBalance'), num: true },
        { title: t('col.drift'), num: true, render: function (x) { return signed(x.drift); } },
        { title: t('col.refusedAdditions'), render: count('refusedAdditions'), num: true }, { title: t('col.refusedDeductions'), render: count('refusedDeductions'), num: true },
        { title: t('col.refusals'), render: count('refusals'), num: true }, { title: t('col.lastRefused'), render: function (x) { return when(x.lastRefusedAt); } }],
        r.data, t('pos.noDrift')));
    });
    api('GET', 'pos-sync?state=parked').then(function (r) {
      if (!r.ok) return fail(r);
      put('pos-list', table([{ title: t('col.created'), render: function (x) { return when(x.createdAt); } }, { title: t('col.customer'), key: 'customerId' },
        { title: t('col.reference'), key: 'reference' }, { title: t('col.points'), render: count('points'), num: true }, { title: t('col.attempts'), render: count('attempts'), num: true },
        { title: t('col.lastError'), key: 'lastError' },
        { title: t('col.actions'), render: retry }], r.data, t('pos.noneParked')));
    });
  }

  // Donations
  function loadDonations() {
    api('GET', 'donations').then(function (r) {
      if (!r.ok) return fail(r);
      put('donation-list', table([{ title: t('col.cause'), key: 'cause' }, { title: t('col.donations'), render: function (x) { return n(x.donations); }, num: true },
        { title: t('col.points'), render: function (x) { return n(x.points); }, num: true },
        { title: t('col.value'), render: function (x) { return amount(x.value, x.currency); }, num: true },
        { title: t('col.customers'), render: function (x) { return n(x.customers); }, num: true }],
        r.data, t('donations.none')));
    });
  }
  $('donations-csv').addEventListener('click', function (e) { download('donations?format=csv', 'donations-by-cause.csv', e.currentTarget); });

  // Campaigns
  var campaignKey = null;
  function loadCampaigns() {
    // A campaign can be for one VIP tier's members: Shopify knows them by the tier's customer tag, so only tagged tiers are offered.
    api('GET', 'tiers').then(function (r) {
      if (!r.ok) return;
      var select = $('c-tier');
      var chosen = select.value;
      while (select.options.length > 1) select.remove(1);
      r.data.tiers.filter(function (x) { return x.customerTag; }).forEach(function (x) {
        select.appendChild(h('option', { value: String(x.id), text: t('campaigns.tierOnly', { name: x.name }) }));
      });
      select.value = chosen;
      if (select.selectedIndex < 0) select.value = '';
    });
    api('GET', 'campaigns').then(function (r) {
      if (!r.ok) return fail(r);
      var items = r.data.items;
      put('campaign-list', table([{ title: t('col.title'), key: 'title' },
        { title: t('col.discount'), render: function (x) { return x.discountType === 'percentage' ? percent(x.value / 100, 2) : n(x.value); } },
        { title: t('col.state'), render: function (x) { return badge(x.state); } },
        { title: t('col.codes'), render: function (x) {
          if (x.state === 'generating' || x.state === 'creating') {
            return h('span', {}, h('progress', { max: x.requestedCodes, value: x.createdCodes, 'aria-label': t('campaigns.progressLabel', { title: x.title }) }), ' ' + n(x.createdCodes) + ' / ' + n(x.requestedCodes));
          }
          return n(x.createdCodes) + ' / ' + n(x.requestedCodes) + (x.failedCodes ? ' ' + t('campaigns.failedCodes', { n: n(x.failedCodes) }) : '');
        } },
        { title: t('col.ends'), render: function (x) { return when(x.endsAt); } },
        { title: t('col.actions'), render: function (x) {
          var csv = h('button', { type: 'button', 'aria-label': t('campaigns.csvLabel', { title: x.title }), on: { click: function () { downloadCsv(x); } }, text: t('campaigns.csv') });
          if (x.state === 'active') {
            return h('span', {}, csv, ' ',
              h('button', { type: 'button', 'aria-label': t('campaigns.editLabel', { title: x.title }), on: { click: function () { editCampaign(x); } }, text: t('campaigns.edit') }), ' ',
              h('button', { type: 'button', 'aria-label': t('campaigns.deactivateLabel', { title: x.title }), on: { click: function () {
                if (window.confirm(t('campaigns.deactivateConfirm', { title: x.title }))) changeCampaign(x, 'DELETE', '');
              } }, text: t('campaigns.deactivate') }));
          }
          // A refused campaign, or one Shopify could not be reached for: try again, or give it up and free its code.
          if (x.state !== 'failed' && !(x.state === 'creating' && x.lastError)) return csv;
          return h('span', { title: x.lastError || '' }, csv, ' ',
            h('button', { type: 'button', 'aria-label': t('campaigns.retryLabel', { title: x.title }), on: { click: function () { changeCampaign(x, 'POST', '/retry'); } }, text: t('action.retry') }), ' ',
            h('button', { type: 'button', 'aria-label': t('campaigns.releaseLabel', { title: x.title }), on: { click: function () { changeCampaign(x, 'DELETE', ''); } }, text: t('campaigns.release') }));
        } }], items, t('campaigns.none')));
      if (items.some(function (x) { return x.state === 'generating' || x.state === 'creating'; })) {
        if (!timer) timer = setInterval(loadCampaigns, 2000);
      } else if (timer) { clearInterval(timer); timer = null; }
    });
  }
  function changeCampaign(x, method, suffix) {
    clearError();
    api(method, 'campaigns/' + x.id + suffix).then(function (r) {
      if (!r.ok) { fail(r); return loadCampaigns(); }
      toast(t('campaigns.nowState', { title: x.title, state: word('state.', r.data.state) }));
      loadCampaigns();
    });
  }
  // Editing: the form starts from the campaign as it is; fields left empty that had a value are cleared, dates are sent only when changed.
  var editing = null;
  function localTime(iso) { var d = new Date(iso); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); }
  function editCampaign(x) {
    editing = x;
    $('edit-h').textContent = t('campaigns.editing', { title: x.title });
    $('e-title').value = x.title;
    $('e-kind').value = x.discountType === 'percentage' ? 'percentage' : 'fixedAmount';
    $('e-value').value = x.value;
    $('e-startsAt').value = localTime(x.startsAt);
    $('e-endsAt').value = x.endsAt ? localTime(x.endsAt) : '';
    $('e-usageLimit').value = x.usageLimit === null ? '' : x.usageLimit;
    $('e-minimumSubtotal').value = x.minimumSubtotal === null ? '' : x.minimumSubtotal;
    $('e-customerIds').value = (x.customerIds || []).join(', ');
    $('e-customerIds').disabled = x.tierId !== null && x.tierId !== undefined; // a tier's campaign is for its members
    $('e-once').checked = x.oncePerCustomer;
    $('e-product').checked = x.combinesWith.product;
    $('e-order').checked = x.combinesWith.order;
    $('e-shipping').checked = x.combinesWith.shipping;
    showFieldErrors(null, $('edit-form'), 'e-');
    $('edit-form').hidden = false;
    $('e-title').focus();
  }
  $('e-cancel').addEventListener('click', function () { $('edit-form').hidden = true; editing = null; });
  $('edit-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var x = editing, clear = [];
    if (!x) return;
    var req = { version: x.updatedAt, title: $('e-title').value, oncePerCustomer: $('e-once').checked,
      combinesWith: { product: $('e-product').checked, order: $('e-order').checked, shipping: $('e-shipping').checked } };
    req[$('e-kind').value] = Number($('e-value').value);
    if ($('e-startsAt').value !== localTime(x.startsAt)) req.startsAt = new Date($('e-startsAt').value).toISOString();
    var ends = $('e-endsAt').value;
    if (!ends) { if (x.endsAt) clear.push('endsAt'); } else if (!x.endsAt || ends !== localTime(x.endsAt)) req.endsAt = new Date(ends).toISOString();
    if ($('e-usageLimit').value) req.usageLimit = Number($('e-usageLimit').value); else if (x.usageLimit !== null) clear.push('usageLimit');
    if ($('e-minimumSubtotal').value) req.minimumSubtotal = Number($('e-minimumSubtotal').value); else if (x.minimumSubtotal !== null) clear.push('minimumSubtotal');
    var ids = $('e-customerIds').value.split(/[\s,]+/).filter(Boolean);
    if (ids.some(function (id) { return !/^[0-9]{1,15}$/.test(id); })) {
      return showFieldErrors({ customerIds: [t('campaigns.customersInvalid')] }, $('edit-form'), 'e-');
    }
    if (ids.length) req.customerIds = ids.map(Number); else if (x.customerIds) clear.push('customerIds');
    if (clear.length) req.clear = clear;
    var button = $('e-submit');
    busy(button, true);
    api('PUT', 'campaigns/' + x.id, req).then(function (r) {
      busy(button, false);
      showFieldErrors(r.ok ? null : r.data && r.data.errors, $('edit-form'), 'e-');
      if (!r.ok) return fail(r);
      $('edit-form').hidden = true;
      editing = null;
      toast(t('campaigns.saved', { title: r.data.title }));
      loadCampaigns();
    }).catch(function () { busy(button, false); });
  });
  function downloadCsv(x) { download('campaigns/' + x.id + '/codes.csv', 'campaign-' + x.id + '-codes.csv'); }

  // Coupon report: per campaign and for loyalty coupons, over whole days in the merchant's own time (the API's default: 30 days).
  function reportQuery() {
    var q = new URLSearchParams();
    if ($('report-from').value) q.set('from', new Date($('report-from').value + 'T00:00:00').toISOString());
    if ($('report-to').value) {
      var end = new Date($('report-to').value + 'T00:00:00');
      end.setDate(end.getDate() + 1);
      q.set('to', end.toISOString());
    }
    return q.toString();
  }
  $('report-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var button = $('report-submit');
    busy(button, true);
    Promise.all([api('GET', 'reports/coupons?' + reportQuery()), shop()]).then(function (rs) {
      busy(button, false);
      var r = rs[0], currency = rs[1].currency;
      $('report-errors').textContent = !r.ok && r.data && r.data.errors ? Object.keys(r.data.errors).map(function (k) { return r.data.errors[k].join(' '); }).join(' ') : '';
      if (!r.ok) return fail(r);
      put('report-list', table([{ title: t('col.title'), render: function (x) { return x.source === 'loyalty' ? t('report.loyalty') : x.title; } },
        { title: t('col.issued'), render: function (x) { return n(x.issued); }, num: true },
        { title: t('col.redeemed'), render: function (x) { return n(x.redeemed); }, num: true },
        { title: t('col.redemptions'), render: function (x) { return n(x.redemptions); }, num: true },
        { title: t('col.redemptionRate'), render: function (x) { return percent(x.redemptionRate, 1); }, num: true },
        { title: t('col.discountGiven'), render: function (x) { return amount(x.discountGiven, currency); }, num: true },
        { title: t('col.revenue'), render: function (x) { return amount(x.revenue, currency); }, num: true }], r.data, t('report.none')));
    }).catch(function () { busy(button, false); });
  });
  $('report-csv').addEventListener('click', function (e) {
    var q = reportQuery();
    download('reports/coupons?format=csv' + (q ? '&' + q : ''), 'coupon-report.csv', e.currentTarget);
  });

  // Code usage: which orders used a code this app made, and what it gave away.
  var usageCode = null;
  // The same check a customer has on My Page, for any customer (or none) and cart.
  $('check-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var body = { code: $('check-code').value.trim() };
    if ($('check-customerId').value !== '') body.customerId = Number($('check-customerId').value);
    if ($('check-subtotal').value !== '') body.subtotal = Number($('check-subtotal').value);
    var button = $('check-submit');
    busy(button, true);
    api('POST', 'coupons/validate', body).then(function (r) {
      busy(button, false);
      showFieldErrors(r.ok ? null : r.data && r.data.errors, $('check-form'), 'check-');
      if (!r.ok) { $('check-result').textContent = ''; return fail(r); }
      var v = r.data;
      var off = v.discountType === 'percentage' ? t('check.percent', { value: n(v.value) }) : v.value !== null ? amount(v.value, v.currency) : '';
      $('check-result').textContent = v.valid
        ? (v.amountOff !== null ? t('check.validCart', { code: v.code, off: off, amount: amount(v.amountOff, v.currency), subtotal: amount(body.subtotal, v.currency) })
          : t('check.valid', { code: v.code, off: off }))
        : v.reason === 'minimum_not_met' ? t('check.minimum', { code: v.code, minimum: amount(v.minimumSubtotal, v.currency) })
        : t('check.invalid', { code: v.code, reason: word('check.reason.', v.reason) });
    }).catch(function () { busy(button, false); });
  });

  // The totals count every use; the uses come a page at a time, older ones on request.
  var usageRows = [], usageNext = null, usageCurrency = null;
  function showUsage() {
    put('usage-list', table([{ title: t('col.when'), render: function (x) { return when(x.redeemedAt); } }, { title: t('col.order'), render: function (x) { return String(x.orderId); } },
      { title: t('col.customer'), render: function (x) { return x.customerId === null ? null : String(x.customerId); } },
      { title: t('col.discount'), render: function (x) { return amount(x.discountAmount, usageCurrency) + (x.amountEstimated ? ' ' + t('usage.estimated') : ''); }, num: true },
      { title: t('col.orderAmount'), render: function (x) { return amount(x.orderAmount, usageCurrency); }, num: true }], usageRows, t('usage.none')));
    $('usage-more').hidden = usageNext === null;
  }
  $('usage-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var button = $('usage-submit');
    busy(button, true);
    Promise.all([api('GET', 'coupons/' + encodeURIComponent($('usage-code').value.trim()) + '/redemptions'), shop()]).then(function (rs) {
      busy(button, false);
      var r = rs[0];
      usageCurrency = rs[1].currency;
      $('usage-result').hidden = !r.ok;
      if (!r.ok) { usageCode = null; return fail(r); }
      var u = r.data;
      usageCode = u.code;
      $('usage-owner').textContent = u.campaignId !== null && u.campaignId !== undefined
        ? t('usage.ofCampaign', { code: u.code, title: u.campaignTitle })
        : t('usage.ofCustomer', { code: u.code, customer: u.ownerCustomerId, id: u.conversionId });
      var cards = $('usage-cards');
      cards.textContent = '';
      [['uses', n(u.uses)], ['discountGiven', amount(u.discountGiven, usageCurrency)], ['revenue', amount(u.revenue, usageCurrency)]].forEach(function (m) {
        cards.appendChild(h('div', { class: 'metric', 'data-metric': m[0] }, h('div', { class: 'label', text: t('usage.' + m[0]) }), h('div', { class: 'value', text: m[1] })));
      });
      usageRows = u.redemptions;
      usageNext = u.nextBefore;
      showUsage();
    });
  });
  $('usage-more').addEventListener('click', function (e) {
    if (!usageCode || usageNext === null) return;
    var button = e.currentTarget;
    busy(button, true);
    api('GET', 'coupons/' + encodeURIComponent(usageCode) + '/redemptions?before=' + usageNext).then(function (r) {
      busy(button, false);
      if (!r.ok) return fail(r);
      usageRows = usageRows.concat(r.data.redemptions);
      usageNext = r.data.nextBefore;
      showUsage();
    });
  });
  $('usage-csv').addEventListener('click', function (e) {
    if (!usageCode) return;
    download('coupons/' + encodeURIComponent(usageCode) + '/redemptions?format=csv', 'code-' + usageCode.replace(/[^A-Za-z0-9_-]/g, '_') + '-redemptions.csv', e.currentTarget);
  });
  $('campaign-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearError();
    var button = $('c-submit');
    var count = Number($('c-count').value);
    var req = { title: $('c-title').value, oncePerCustomer: $('c-once').checked };
    req[$('c-kind').value] = Number($('c-value').value);
    if ($('c-ends').value) req.endsAt = new Date($('c-ends').value).toISOString();
    if ($('c-limit').value) req.usageLimit = Number($('c-limit').value);
    if ($('c-tier').value) req.tierId = Number($('c-tier').value);
    var format = $('c-format').value;
    if (count > 1 || $('c-prefix').value || format !== 'random') {
      req.codes = { count: count, prefix: $('c-prefix').value || null, format: format };
      if (format === 'pattern') req.codes.pattern = $('c-pattern').value;
    }
    campaignKey = campaignKey || newKey();
    busy(button, true);
    api('POST', 'campaigns', req, { key: campaignKey }).then(function (r) {
      busy(button, false);
      // Keep the key only when the answer may have been lost: a resend then gets this campaign, not a second one.
      if (!r.ok) { if (r.status < 500 || (r.data && r.data.code === 'campaign_creation_failed')) campaignKey = null; loadCampaigns(); return fail(r); }
      campaignKey = null;
      toast(t(r.status === 201 ? 'campaigns.created' : r.data.state === 'creating' && r.data.requestedCodes === 1
        ? 'campaigns.creatingLater' : 'campaigns.generating', { title: r.data.title }));
      $('campaign-form').reset();
      loadCampaigns();
    });
  });

  // Settings
  // [name, kind or options, step]; the label is t('settings.' + name), an option's t('option.' + value).
  var FIELDS = [
    ['earnRate', 'number', '0.0001'], ['earnBasis', ['subtotal', 'total']],
    ['testOrdersEarn', 'checkbox'], ['pointValue', 'number', '0.0001'],
    ['minConversion', 'number', '1'], ['conversionStep', 'number', '1'],
    ['dailyConversionLimit', 'number', '1'], ['couponValidityDays', 'number', '1'],
    ['feedbackBonus', 'number', '1'], ['feedbackDailyLimit', 'number', '1'],
    ['negativeBalancePolicy', ['allow_negative', 'floor_at_zero']], ['pendingDays', 'number', '1'],
    ['expiryMode', ['never', 'earned', 'inactivity']], ['expiryMonths', 'number', '1'], ['expiryNoticeDays', 'number', '1']
  ];
  (function buildSettings() {
    var box = $('settings-fields');
    FIELDS.forEach(function (f) {
      var id = 's-' + f[0];
      var input;
      var label = t('settings.' + f[0]);
      if (Array.isArray(f[1])) input = h.apply(null, ['select', { id: id, name: f[0] }].concat(f[1].map(function (o) { return h('option', { value: o, text: word('option.', o) }); })));
      else if (f[1] === 'checkbox') input = h('input', { id: id, name: f[0], type: 'checkbox' });
      else input = h('input', { id: id, name: f[0], type: 'number', step: f[2], required: true, inputmode: 'decimal' });
      box.appendChild(f[1] === 'checkbox'
        ? h('div', {}, h('label', { class: 'check', for: id }, input, ' ' + label), h('p', { class: 'field-error', 'data-for': f[0] }))
        : h('div', {}, h('label', { for: id, text: label }), input, h('p', { class: 'field-error', 'data-for': f[0] })));
    });
  })();
  // The API's errors per field beside each field of form (the settings' by default), whose inputs' ids are prefix + name.
  function showFieldErrors(errors, form, prefix) {
    form = form || $('settings-form');
    prefix = prefix || 's-';
    Array.prototype.forEach.call(form.querySelectorAll('.field-error'), function (p) {
      var msgs = errors && errors[p.dataset.for];
      p.textContent = msgs ? msgs.join(' ') : '';
      var input = $(prefix + p.dataset.for);
      if (input) { if (msgs) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid'); }
    });
  }
  // The form cannot be edited until it shows the shop's values: typed before they arrive, they would be overwritten,
  // and saved while the form still held its blanks, they would overwrite the shop's.
  function loadSettings() {
    $('settings-set').disabled = true;
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
      $('s-key-state').textContent = s.posApiKeySet ? t('settings.keySaved') : t('settings.noKey');
      showFieldErrors(null);
      $('settings-set').disabled = false;
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
      toast(t('settings.saved'));
      loadSettings();
    });
  });
  $('pos-test').addEventListener('click', function (e) {
    clearError();
    busy(e.target, true);
    $('pos-test-result').textContent = t('settings.testing');
    var b = { posBaseUrl: $('s-posBaseUrl').value || null, posApiKey: $('s-posApiKey').value || null };
    api('POST', 'settings/pos/test', b).then(function (r) {
      busy(e.target, false);
      if (!r.ok) { $('pos-test-result').textContent = ''; showFieldErrors(r.data && r.data.errors); return fail(r); }
      $('pos-test-result').textContent = (r.data.ok ? '✓ ' : '✗ ') + t('settings.testResult', { detail: r.data.detail, ms: n(r.data.elapsedMs) });
    });
  });

  route();
})();
