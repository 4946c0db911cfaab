(function () {
  'use strict';
  var root = document.getElementById('loyalty-my-page');
  if (!root) return;
  // The page is the root of the app proxy (e.g. /apps/loyalty); its API lives under it, signed by Shopify on the way.
  var base = location.pathname.replace(/\/+$/, '');
  var $ = function (id) { return document.getElementById(id); };
  var me = null;
  var pendingConvert = null; // { points, key } of the attempt not yet answered: a resend reuses its key
  var polling = null;

  // The page's words in its language (chosen by the storefront's locale when Shopify rendered the page), and numbers,
  // money and dates in that language: the browser's own variant of it when it has one (en-GB), else the language itself.
  var TEXT = JSON.parse($('lp-i18n').textContent);
  var lang = root.lang || 'en';
  var locale = (navigator.languages || [navigator.language]).filter(function (l) {
    return l && l.split('-')[0].toLowerCase() === lang;
  })[0] || lang;
  try { new Intl.NumberFormat(locale); } catch (e) { locale = lang; }
  var numbers = new Intl.NumberFormat(locale);
  var dates = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' });
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
    if (vars.n === undefined) vars.n = fmt(count);
    return t(has(form) ? form : key + '.other', vars);
  }
  function points(count) { return tp('unit.points', count); }

  function fmt(n) { return numbers.format(Number(n)); }
  function money(amount, currency) {
    try { return new Intl.NumberFormat(locale, { style: 'currency', currency: currency || 'USD' }).format(amount); }
    catch (e) { return fmt(amount) + ' ' + (currency || ''); }
  }
  function day(iso) { var d = new Date(iso); return isNaN(d) ? '' : dates.format(d); }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'k' + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function status(text) { $('lp-status').textContent = text || ''; }
  function showError(text) {
    var el = $('lp-error');
    el.textContent = text || '';
    el.hidden = !text;
  }
  // The API's stable codes in the page's language; a code the page does not know keeps the API's own title.
  function problemText(problem) {
    if (problem && problem.code && has('error.' + problem.code)) {
      var text = t('error.' + problem.code);
      var more = null;
      if (problem.code === 'below_minimum' && problem.minimum) more = t('detail.minimum', { points: points(problem.minimum) });
      if (problem.code === 'daily_limit_exceeded' && problem.remainingToday !== undefined) more = t('detail.remainingToday', { points: points(problem.remainingToday) });
      if (problem.code === 'insufficient_points' && problem.balance !== undefined) more = t('detail.balance', { points: points(problem.balance) });
      return more ? text + t('detail.separator') + more : text;
    }
    return (problem && problem.title) || t('error.generic');
  }
  // Puts node where {n} is in text (e.g. "{n} points", or the number first and no space in Japanese), the rest around it.
  function placeInto(el, text, node) {
    var at = text.indexOf('{n}');
    el.textContent = '';
    el.appendChild(document.createTextNode(at < 0 ? text + ' ' : text.slice(0, at)));
    el.appendChild(node);
    if (at >= 0) el.appendChild(document.createTextNode(text.slice(at + 3)));
  }

  function call(method, path, body, key) {
    var headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (key) headers['Idempotency-Key'] = key;
    return fetch(base + '/api/' + path, {
      method: method, headers: headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (body) {
        var data = null;
        try { data = body ? JSON.parse(body) : null; } catch (e) { data = null; }
        // The app could not reach its database: nothing was decided, so it is treated like a lost connection and the
        // same request (same Idempotency-Key) is sent again.
        if (r.status === 503 && data && data.code === 'database_unavailable') throw new Error('database_unavailable');
        return { status: r.status, ok: r.ok, data: data, retryAfter: Number(r.headers.get('Retry-After')) || 5 };
      });
    });
  }

  function render() {
    $('lp-balance').textContent = fmt(me.balance);
    placeInto($('lp-big'), tp('unit.points', me.balance, { n: '{n}' }), $('lp-balance'));
    $('lp-earned').textContent = fmt(me.lifetime);
    // Points an order holds until its pending period (the shop's return window) is over: shown, with the day, not spendable.
    $('lp-pending-total').hidden = !me.pending;
    $('lp-pending').textContent = fmt(me.pending);
    var pendingList = $('lp-pending-orders');
    pendingList.textContent = '';
    pendingList.hidden = !me.pendingOrders.length;
    me.pendingOrders.forEach(function (o) {
      var li = document.createElement('li');
      li.textContent = t('balance.pendingOrder', { order: o.orderName || '#' + o.orderId, points: points(o.points), date: day(o.availableAt) });
      pendingList.appendChild(li);
    });
    // What expires next and when: a lot's points unless they are spent first, or the whole balance after a time without activity.
    var expiring = $('lp-expiring');
    var next = (me.expiry && me.expiry.next) || [];
    expiring.textContent = '';
    expiring.hidden = !next.length;
    next.forEach(function (e) {
      var li = document.createElement('li');
      li.textContent = t(me.expiry.mode === 'inactivity' ? 'balance.expiringInactive' : 'balance.expiringLot',
        { points: points(e.points), date: day(e.expiresAt) });
      expiring.appendChild(li);
    });
    // The customer's VIP tier, what it brings, and what the next one needs (in points earned or money spent, as the shop measures).
    var tier = me.tier;
    $('lp-tier').hidden = !tier;
    if (tier) {
      $('lp-tier-name').textContent = tier.tier
        ? t('tier.current', { name: tier.tier.name, multiplier: fmt(tier.tier.multiplier) }) : t('tier.none');
      var next = tier.next ? t('tier.next', { name: tier.next.name, amount: tier.basis === 'money_spent'
        ? money(tier.next.remaining, me.rules.currency) : points(tier.next.remaining) }) : '';
      if (tier.keptUntil && tier.tier) next = t('tier.kept', { name: tier.tier.name, date: day(tier.keptUntil) }) + (next ? ' ' + next : '');
      $('lp-tier-next').textContent = next;
      var perks = $('lp-tier-perks');
      perks.textContent = '';
      ((tier.tier && tier.tier.perks) || []).forEach(function (p) {
        var li = document.createElement('li');
        li.textContent = p;
        perks.appendChild(li);
      });
    }
    $('lp-redeemed').textContent = fmt(me.totalRedeemed);
    var r = me.rules;
    $('lp-rules').textContent = t('convert.rules', {
      value: money(r.pointValue, r.currency), minimum: points(r.minConversion), step: points(r.conversionStep),
      today: points(r.remainingToday), days: tp('unit.days', r.couponValidityDays)
    });
    var choices = $('lp-choices');
    choices.textContent = '';
    r.choices.forEach(function (p) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'lp-choice';
      b.setAttribute('aria-pressed', String(Number($('lp-points').value) === p));
      b.dataset.points = String(p);
      b.textContent = t('convert.choice', { points: points(p), value: money(p * r.pointValue, r.currency) });
      b.addEventListener('click', function () { $('lp-points').value = String(p); syncChoices(); });
      choices.appendChild(b);
    });
    if (r.choices.length === 0) {
      var note = document.createElement('p');
      note.className = 'lp-muted';
      note.textContent = me.balance < r.minConversion
        ? t('convert.needMore', { points: points(r.minConversion - me.balance) })
        : t('convert.limitReached');
      choices.appendChild(note);
    }
    $('lp-points').min = String(r.minConversion);
    $('lp-points').step = String(r.conversionStep);
    if (!pendingConvert) $('lp-convert').disabled = r.choices.length === 0;

    var list = $('lp-history');
    list.textContent = '';
    me.history.forEach(function (h) {
      var li = document.createElement('li');
      var what = document.createElement('span');
      what.textContent = day(h.createdAt) + ' \u00b7 ' + h.description;
      var pts = document.createElement('span');
      // A row that only moved pending points (an award still pending, a refund of one) says so.
      var shown = h.points === 0 && h.pendingPoints ? h.pendingPoints : h.points;
      pts.className = shown >= 0 ? 'lp-plus' : 'lp-minus';
      pts.textContent = (shown >= 0 ? '+' : '\u2212') + fmt(Math.abs(shown)) + (shown === h.points ? '' : ' ' + t('history.pending'));
      li.appendChild(what);
      li.appendChild(pts);
      list.appendChild(li);
    });
    if (me.history.length === 0) {
      var empty = document.createElement('li');
      empty.textContent = t('history.none');
      list.appendChild(empty);
    }
  }

  function syncChoices() {
    var v = Number($('lp-points').value);
    Array.prototype.forEach.call(document.querySelectorAll('#loyalty-my-page .lp-choice'), function (b) {
      b.setAttribute('aria-pressed', String(Number(b.dataset.points) === v));
    });
  }

  // Everything the customer turned points into, newest first: coupons (cancellable while active) and donations.
  function renderRewards(rewards) {
    var table = $('lp-coupons');
    var body = table.tBodies[0];
    body.textContent = '';
    rewards.forEach(function (c) {
      var coupon = c.kind === 'coupon';
      var tr = document.createElement('tr');
      tr.dataset.kind = c.kind;
      if (coupon) tr.dataset.code = c.code; else tr.dataset.donation = c.id;
      var what = document.createElement('td');
      if (coupon) {
        var codeText = document.createElement('code');
        codeText.textContent = c.code;
        what.appendChild(codeText);
      } else {
        what.appendChild(document.createTextNode(t('coupons.donation', { cause: c.cause })));
      }
      var detail = document.createElement('span');
      detail.className = 'lp-detail';
      detail.textContent = t('coupons.detail', { points: points(c.points), date: day(c.createdAt) });
      what.appendChild(detail);
      var value = document.createElement('td');
      value.textContent = money(c.value, c.currency);
      var st = document.createElement('td');
      var badge = document.createElement('span');
      var state = (coupon ? 'status.' : 'status.donation.') + c.status;
      badge.className = 'lp-badge ' + c.status;
      badge.textContent = has(state) ? t(state) : c.status;
      st.appendChild(badge);
      var exp = document.createElement('td');
      exp.textContent = coupon ? day(c.expiresAt) : '';
      var act = document.createElement('td');
      if (coupon && c.status === 'active') {
        var cancel = document.createElement('button');
        cancel.type = 'button';
        cancel.textContent = t('coupons.cancel');
        cancel.setAttribute('aria-label', t('coupons.cancelLabel', { code: c.code, points: points(c.points) }));
        cancel.addEventListener('click', function () { confirmCancel(act, c); });
        act.appendChild(cancel);
      }
      [what, value, st, exp, act].forEach(function (td) { tr.appendChild(td); });
      body.appendChild(tr);
    });
    table.hidden = rewards.length === 0;
    $('lp-no-coupons').hidden = rewards.length !== 0;
  }

  function confirmCancel(cell, coupon) {
    cell.textContent = '';
    var yes = document.createElement('button');
    yes.type = 'button';
    yes.textContent = t('coupons.confirm', { points: points(coupon.points) });
    var no = document.createElement('button');
    no.type = 'button';
    no.textContent = t('coupons.keep');
    yes.addEventListener('click', function () { cancelCoupon(coupon, yes, no); });
    no.addEventListener('click', function () { loadRewards(); });
    cell.appendChild(yes);
    cell.appendChild(no);
    yes.focus();
  }

  function cancelCoupon(coupon, yes, no) {
    yes.disabled = true;
    no.disabled = true;
    yes.textContent = t('coupons.cancelling');
    showError('');
    call('POST', 'coupons/' + encodeURIComponent(coupon.code) + '/cancel', {}).then(function (r) {
      if (r.status === 200) status(t('coupons.cancelled', { code: coupon.code, points: points(r.data.pointsReturned) }));
      else if (r.status === 202) status(t('coupons.cancelPending', { code: coupon.code }));
      else showError(problemText(r.data));
      return refresh();
    }).catch(function () { showError(t('connection.lost')); loadRewards(); });
  }

  function loadMe() {
    return call('GET', 'me').then(function (r) {
      if (!r.ok) { showError(problemText(r.data)); return; }
      me = r.data;
      render();
    });
  }
  function loadRewards() {
    return call('GET', 'redemptions').then(function (r) {
      if (r.ok) renderRewards(r.data); else showError(problemText(r.data));
    });
  }
  function refresh() { return Promise.all([loadMe(), loadRewards()]); }

  function busy(button, on, label) {
    button.disabled = on;
    button.setAttribute('aria-busy', String(on));
    if (label) button.textContent = label;
  }

  function showCode(c) {
    $('lp-code').textContent = c.code;
    $('lp-result-detail').textContent = t('result.detail', { value: money(c.amount, c.currency), points: points(c.points), date: day(c.expiresAt) });
    var box = $('lp-result');
    box.hidden = false;
    box.focus();
  }

  function finishConvert() {
    pendingConvert = null;
    if (polling) { clearTimeout(polling); polling = null; }
    busy($('lp-convert'), false, t('convert.button'));
  }

  function handleConvert(r) {
    if (r.status === 201 || r.status === 200) {
      finishConvert();
      status(t('convert.done', { points: points(r.data.points), code: r.data.code }));
      showCode(r.data);
      return refresh();
    }
    if (r.status === 429 && pendingConvert) {
      // Rate limited: nothing was done for this request. The same attempt (same key) is sent again once allowed, so a
      // conversion already under way is answered for, never made twice.
      status(t('convert.retrying', { seconds: fmt(r.retryAfter) }));
      polling = setTimeout(send, r.retryAfter * 1000);
      return;
    }
    if (r.status === 202) {
      // Being settled (e.g. the points system answered late): keep "Processing…" and ask again.
      status(t('convert.settling'));
      var id = r.data.conversionId;
      polling = setTimeout(function () {
        call('GET', 'conversions/' + encodeURIComponent(id)).then(handleConvert).catch(retryLater(id));
      }, 1500);
      return;
    }
    finishConvert();
    status('');
    showError(problemText(r.data));
    return refresh();
  }
  function retryLater(id) {
    return function () {
      polling = setTimeout(function () {
        call('GET', 'conversions/' + encodeURIComponent(id)).then(handleConvert).catch(retryLater(id));
      }, 3000);
    };
  }

  $('lp-points').addEventListener('input', syncChoices);
  $('lp-convert-form').addEventListener('submit', function (e) {
    e.preventDefault();
    if (pendingConvert) return; // one attempt at a time: the button is disabled, this covers Enter too
    showError('');
    var amount = Number($('lp-points').value);
    if (!amount) { showError(t('convert.choose')); $('lp-points').focus(); return; }
    $('lp-result').hidden = true;
    pendingConvert = { points: amount, key: newKey() };
    busy($('lp-convert'), true, t('convert.processing'));
    status(t('convert.processing'));
    send();
  });
  function send() {
    call('POST', 'conversions', { points: pendingConvert.points }, pendingConvert.key).then(handleConvert).catch(function () {
      // No answer: the same attempt is sent again with the same key, so it can never convert twice.
      status(t('connection.retrying'));
      setTimeout(send, 2000);
    });
  }

  $('lp-copy').addEventListener('click', function () {
    var code = $('lp-code').textContent;
    var done = function () { status(t('result.copiedStatus', { code: code })); $('lp-copy').textContent = t('result.copied'); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(code).then(done, function () { fallbackCopy(code); done(); });
    } else { fallbackCopy(code); done(); }
  });
  function fallbackCopy(text) {
    var range = document.createRange();
    range.selectNodeContents($('lp-code'));
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { document.execCommand('copy'); } catch (e) { /* the code stays selected for the customer to copy */ }
  }

  // Check a code: whether it can be used, and what it takes off (off this cart, if the customer gives its subtotal).
  function verdictText(v, subtotal) {
    if (!v.valid) {
      return v.reason === 'minimum_not_met' ? t('check.minimum', { code: v.code, minimum: money(v.minimumSubtotal, v.currency) })
        : t(has('check.' + v.reason) ? 'check.' + v.reason : 'check.not_found', { code: v.code });
    }
    var off = v.discountType === 'percentage' ? t('check.percent', { value: fmt(v.value) }) : money(v.value, v.currency);
    return v.amountOff === null || v.amountOff === undefined ? t('check.valid', { code: v.code, off: off })
      : t('check.validCart', { code: v.code, off: off, amount: money(v.amountOff, v.currency), subtotal: money(subtotal, v.currency) });
  }
  $('lp-check-form').addEventListener('submit', function (e) {
    e.preventDefault();
    showError('');
    var code = $('lp-check-code').value.trim();
    if (!code) { $('lp-check-result').textContent = t('check.enterCode'); return; }
    var subtotal = $('lp-check-subtotal').value === '' ? null : Number($('lp-check-subtotal').value);
    var button = $('lp-check');
    busy(button, true, t('check.busy'));
    call('POST', 'coupons/validate', { code: code, subtotal: subtotal }).then(function (r) {
      busy(button, false, t('check.button'));
      $('lp-check-result').textContent = r.ok ? verdictText(r.data, subtotal) : '';
      if (!r.ok) showError(problemText(r.data));
    }).catch(function () { busy(button, false, t('check.button')); showError(t('connection.lost')); });
  });

  $('lp-donate-form').addEventListener('submit', function (e) {
    e.preventDefault();
    showError('');
    var button = $('lp-donate');
    var body = { cause: $('lp-donate-cause').value, points: Number($('lp-donate-points').value) };
    busy(button, true, t('donate.busy'));
    call('POST', 'donations', body, newKey()).then(function (r) {
      busy(button, false, t('donate.button'));
      if (r.ok) { status(t('donate.thanks', { points: points(r.data.points), cause: r.data.cause })); $('lp-donate-form').reset(); }
      else showError(problemText(r.data));
      return refresh();
    }).catch(function () { busy(button, false, t('donate.button')); showError(t('connection.lost')); });
  });

  $('lp-feedback-form').addEventListener('submit', function (e) {
    e.preventDefault();
    showError('');
    var button = $('lp-feedback');
    var rating = $('lp-feedback-rating').value;
    busy(button, true, t('feedback.busy'));
    call('POST', 'feedback', { message: $('lp-feedback-message').value, rating: rating ? Number(rating) : null }).then(function (r) {
      busy(button, false, t('feedback.button'));
      if (r.ok) {
        status(r.data.bonusAwarded ? t('feedback.thanksBonus', { points: points(r.data.points) })
          : r.data.reason === 'daily_limit_reached' ? tp('feedback.noBonusLimit', r.data.dailyLimit) : t('feedback.thanks'));
        $('lp-feedback-form').reset();
        return loadMe();
      }
      showError(problemText(r.data));
    }).catch(function () { busy(button, false, t('feedback.button')); showError(t('connection.lost')); });
  });

  if (root.dataset.loggedIn !== 'true') {
    root.querySelector('.lp-login').hidden = false;
    return;
  }
  Array.prototype.forEach.call(root.querySelectorAll('section'), function (s) { s.hidden = false; });
  refresh().catch(function () { showError(t('load.failed')); });
})();
