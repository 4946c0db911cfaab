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

  var MESSAGES = {
    insufficient_points: 'You do not have enough points for that.',
    below_minimum: 'That is below the minimum you can convert.',
    not_a_multiple: 'Points are converted in fixed steps; pick one of the amounts offered.',
    daily_limit_exceeded: 'That is more than you can still convert today.',
    conversion_in_progress: 'Another conversion of yours is still being processed. Please wait a moment.',
    idempotency_key_reused: 'This request was already used for a different amount. Please try again.',
    idempotency_key_required: 'Please reload the page and try again.',
    pos_unavailable: 'The points system did not answer in time. Nothing was deducted; please try again shortly.',
    shopify_unavailable: 'The code could not be created right now. Nothing was deducted; please try again shortly.',
    conversion_failed: 'The code could not be created. Nothing was deducted.',
    conversion_not_found: 'That conversion could not be found.',
    coupon_not_found: 'That coupon could not be found.',
    coupon_used: 'That coupon was already used in an order.',
    coupon_expired: 'That coupon has expired.',
    customer_not_logged_in: 'Please log in to use your points.',
    stale_proxy_request: 'This page is out of date. Please reload it.',
    invalid_proxy_signature: 'This page could not be verified. Please reload it.',
    shop_not_installed: 'The points program is not available in this shop.',
    json_required: 'Please reload the page and try again.',
    invalid_cause: 'Please name the cause (2–100 characters).',
    invalid_points: 'Please enter a number of points.',
    donation_failed: 'The donation could not be made. Nothing was deducted.',
    invalid_feedback: 'Feedback must be between 10 and 2000 characters.',
    invalid_rating: 'A rating is from 1 to 5.',
    rate_limited: 'Too many requests just now. Please wait a minute and try again.',
    shopify_busy: 'The shop is busy right now. Please try again in a moment.'
  };

  function fmt(n) { return Number(n).toLocaleString(); }
  function money(amount, currency) {
    try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency || 'USD' }).format(amount); }
    catch (e) { return amount + ' ' + (currency || ''); }
  }
  function day(iso) { return new Date(iso).toLocaleDateString(); }
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
  function problemText(problem, fallback) {
    if (problem && problem.code && MESSAGES[problem.code]) {
      var text = MESSAGES[problem.code];
      if (problem.code === 'below_minimum' && problem.minimum) text += ' Minimum: ' + fmt(problem.minimum) + ' points.';
      if (problem.code === 'daily_limit_exceeded' && problem.remainingToday !== undefined) text += ' Left today: ' + fmt(problem.remainingToday) + ' points.';
      if (problem.code === 'insufficient_points' && problem.balance !== undefined) text += ' Your balance: ' + fmt(problem.balance) + ' points.';
      return text;
    }
    return (problem && problem.title) || fallback || 'Something went wrong. Please try again.';
  }

  function call(method, path, body, key) {
    var headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (key) headers['Idempotency-Key'] = key;
    return fetch(base + '/api/' + path, {
      method: method, headers: headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        // The app could not reach its database: nothing was decided, so it is treated like a lost connection and the
        // same request (same Idempotency-Key) is sent again.
        if (r.status === 503 && data && data.code === 'database_unavailable') throw new Error('database_unavailable');
        return { status: r.status, ok: r.ok, data: data, retryAfter: Number(r.headers.get('Retry-After')) || 5 };
      });
    });
  }

  function render() {
    $('lp-balance').textContent = fmt(me.balance);
    $('lp-earned').textContent = fmt(me.totalEarned);
    $('lp-redeemed').textContent = fmt(me.totalRedeemed);
    var r = me.rules;
    $('lp-rules').textContent = 'Each point is worth ' + money(r.pointValue, r.currency) + '. Convert at least ' + fmt(r.minConversion) +
      ' points, in steps of ' + fmt(r.conversionStep) + '. Left to convert today: ' + fmt(r.remainingToday) +
      ' points. Codes are valid for ' + r.couponValidityDays + ' days.';
    var choices = $('lp-choices');
    choices.textContent = '';
    r.choices.forEach(function (p) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'lp-choice';
      b.setAttribute('aria-pressed', String(Number($('lp-points').value) === p));
      b.dataset.points = String(p);
      b.textContent = fmt(p) + ' points = ' + money(p * r.pointValue, r.currency);
      b.addEventListener('click', function () { $('lp-points').value = String(p); syncChoices(); });
      choices.appendChild(b);
    });
    if (r.choices.length === 0) {
      var note = document.createElement('p');
      note.className = 'lp-muted';
      note.textContent = me.balance < r.minConversion
        ? 'You need ' + fmt(r.minConversion - me.balance) + ' more points to get a code.'
        : 'You have reached today\u2019s conversion limit.';
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
      pts.className = h.points >= 0 ? 'lp-plus' : 'lp-minus';
      pts.textContent = (h.points >= 0 ? '+' : '\u2212') + fmt(Math.abs(h.points));
      li.appendChild(what);
      li.appendChild(pts);
      list.appendChild(li);
    });
    if (me.history.length === 0) {
      var empty = document.createElement('li');
      empty.textContent = 'Nothing yet.';
      list.appendChild(empty);
    }
  }

  function syncChoices() {
    var v = Number($('lp-points').value);
    Array.prototype.forEach.call(document.querySelectorAll('#loyalty-my-page .lp-choice'), function (b) {
      b.setAttribute('aria-pressed', String(Number(b.dataset.points) === v));
    });
  }

  function renderCoupons(coupons) {
    var table = $('lp-coupons');
    var body = table.tBodies[0];
    body.textContent = '';
    coupons.forEach(function (c) {
      var tr = document.createElement('tr');
      tr.dataset.code = c.code;
      var code = document.createElement('td');
      var codeText = document.createElement('code');
      codeText.textContent = c.code;
      code.appendChild(codeText);
      var value = document.createElement('td');
      value.textContent = money(c.amount, c.currency);
      var st = document.createElement('td');
      var badge = document.createElement('span');
      badge.className = 'lp-badge ' + c.status;
      badge.textContent = c.status;
      st.appendChild(badge);
      var exp = document.createElement('td');
      exp.textContent = day(c.expiresAt);
      var act = document.createElement('td');
      if (c.status === 'active') {
        var cancel = document.createElement('button');
        cancel.type = 'button';
        cancel.textContent = 'Cancel';
        cancel.setAttribute('aria-label', 'Cancel coupon ' + c.code + ' and get ' + c.points + ' points back');
        cancel.addEventListener('click', function () { confirmCancel(act, c); });
        act.appendChild(cancel);
      }
      [code, value, st, exp, act].forEach(function (td) { tr.appendChild(td); });
      body.appendChild(tr);
    });
    table.hidden = coupons.length === 0;
    $('lp-no-coupons').hidden = coupons.length !== 0;
  }

  function confirmCancel(cell, coupon) {
    cell.textContent = '';
    var yes = document.createElement('button');
    yes.type = 'button';
    yes.textContent = 'Yes, cancel and return ' + fmt(coupon.points) + ' points';
    var no = document.createElement('button');
    no.type = 'button';
    no.textContent = 'Keep it';
    yes.addEventListener('click', function () { cancelCoupon(coupon, yes, no); });
    no.addEventListener('click', function () { loadCoupons(); });
    cell.appendChild(yes);
    cell.appendChild(no);
    yes.focus();
  }

  function cancelCoupon(coupon, yes, no) {
    yes.disabled = true;
    no.disabled = true;
    yes.textContent = 'Cancelling\u2026';
    showError('');
    call('POST', 'coupons/' + encodeURIComponent(coupon.code) + '/cancel', {}).then(function (r) {
      if (r.status === 200) status('Coupon ' + coupon.code + ' cancelled; ' + fmt(r.data.pointsReturned) + ' points are back.');
      else if (r.status === 202) status('Cancelling ' + coupon.code + '\u2026 the points come back as soon as it is done.');
      else showError(problemText(r.data));
      return refresh();
    }).catch(function () { showError('Connection lost. Please try again.'); loadCoupons(); });
  }

  function loadMe() {
    return call('GET', 'me').then(function (r) {
      if (!r.ok) { showError(problemText(r.data)); return; }
      me = r.data;
      render();
    });
  }
  function loadCoupons() {
    return call('GET', 'coupons').then(function (r) {
      if (r.ok) renderCoupons(r.data); else showError(problemText(r.data));
    });
  }
  function refresh() { return Promise.all([loadMe(), loadCoupons()]); }

  function busy(button, on, label) {
    button.disabled = on;
    button.setAttribute('aria-busy', String(on));
    if (label) button.textContent = label;
  }

  function showCode(c) {
    $('lp-code').textContent = c.code;
    $('lp-result-detail').textContent = money(c.amount, c.currency) + ' off, for ' + fmt(c.points) + ' points. Valid until ' +
      day(c.expiresAt) + '. Only you can use it, once, at checkout.';
    var box = $('lp-result');
    box.hidden = false;
    box.focus();
  }

  function finishConvert() {
    pendingConvert = null;
    if (polling) { clearTimeout(polling); polling = null; }
    busy($('lp-convert'), false, 'Convert');
  }

  function handleConvert(r) {
    if (r.status === 201 || r.status === 200) {
      finishConvert();
      status('Done: ' + fmt(r.data.points) + ' points became code ' + r.data.code + '.');
      showCode(r.data);
      return refresh();
    }
    if (r.status === 429 && pendingConvert) {
      // Rate limited: nothing was done for this request. The same attempt (same key) is sent again once allowed, so a
      // conversion already under way is answered for, never made twice.
      status('Busy \u2014 trying again in ' + r.retryAfter + ' s\u2026');
      polling = setTimeout(send, r.retryAfter * 1000);
      return;
    }
    if (r.status === 202) {
      // Being settled (e.g. the points system answered late): keep "Processing…" and ask again.
      status('Processing\u2026 your code is being confirmed.');
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
    var points = Number($('lp-points').value);
    if (!points) { showError('Choose how many points to convert.'); $('lp-points').focus(); return; }
    $('lp-result').hidden = true;
    pendingConvert = { points: points, key: newKey() };
    busy($('lp-convert'), true, 'Processing\u2026');
    status('Processing\u2026');
    send();
  });
  function send() {
    call('POST', 'conversions', { points: pendingConvert.points }, pendingConvert.key).then(handleConvert).catch(function () {
      // No answer: the same attempt is sent again with the same key, so it can never convert twice.
      status('Connection lost \u2014 retrying\u2026');
      setTimeout(send, 2000);
    });
  }

  $('lp-copy').addEventListener('click', function () {
    var code = $('lp-code').textContent;
    var done = function () { status('Code ' + code + ' copied.'); $('lp-copy').textContent = 'Copied'; };
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

  $('lp-donate-form').addEventListener('submit', function (e) {
    e.preventDefault();
    showError('');
    var button = $('lp-donate');
    var body = { cause: $('lp-donate-cause').value, points: Number($('lp-donate-points').value) };
    busy(button, true, 'Donating\u2026');
    call('POST', 'donations', body, newKey()).then(function (r) {
      busy(button, false, 'Donate');
      if (r.ok) { status('Thank you: ' + fmt(r.data.points) + ' points donated to ' + r.data.cause + '.'); $('lp-donate-form').reset(); }
      else showError(problemText(r.data));
      return loadMe();
    }).catch(function () { busy(button, false, 'Donate'); showError('Connection lost. Please try again.'); });
  });

  $('lp-feedback-form').addEventListener('submit', function (e) {
    e.preventDefault();
    showError('');
    var button = $('lp-feedback');
    var rating = $('lp-feedback-rating').value;
    busy(button, true, 'Sending\u2026');
    call('POST', 'feedback', { message: $('lp-feedback-message').value, rating: rating ? Number(rating) : null }).then(function (r) {
      busy(button, false, 'Send feedback');
      if (r.ok) {
        status(r.data.bonusAwarded ? 'Thank you! ' + fmt(r.data.points) + ' points were added.' : 'Thank you for your feedback!');
        $('lp-feedback-form').reset();
        return loadMe();
      }
      showError(problemText(r.data));
    }).catch(function () { busy(button, false, 'Send feedback'); showError('Connection lost. Please try again.'); });
  });

  if (root.dataset.loggedIn !== 'true') {
    root.querySelector('.lp-login').hidden = false;
    return;
  }
  Array.prototype.forEach.call(root.querySelectorAll('section'), function (s) { s.hidden = false; });
  refresh().catch(function () { showError('Your points could not be loaded. Please reload the page.'); });
})();
