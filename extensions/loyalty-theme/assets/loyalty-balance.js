// Loyalty theme app extension: fills in the logged-in customer's points balance wherever a block or the badge left
// a [data-loyalty-balance] slot (rendered only for logged-in customers), and their pending points (an order's points
// waiting out the shop's pending period) in a [data-loyalty-pending] slot, shown only while there are some, and the points that
// expire next with their date in a [data-loyalty-expiring] slot, shown only when some will. The balance comes from the app through the
// shop's app proxy only: same origin, /apps/loyalty/*, which Shopify signs with the logged-in customer, so the page
// holds no customer data and no app address. Any failure leaves the slots hidden: no message, no layout shift.
(function () {
  'use strict';

  // Both the block and the badge load this script; the second load only re-renders.
  if (window.loyaltyBalance) {
    window.loyaltyBalance.render();
    return;
  }

  var request = null;

  // One request per page, however many slots there are.
  function loadMe() {
    if (request === null) {
      request = fetch('/apps/loyalty/api/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (response) {
          if (!response.ok) throw new Error('Loyalty balance unavailable: ' + response.status);
          return response.json();
        });
    }
    return request;
  }

  function format(points) {
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined).format(points);
    } catch (e) {
      return String(points);
    }
  }

  function day(iso) {
    var date = new Date(iso);
    if (isNaN(date)) return '';
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: 'medium' }).format(date);
    } catch (e) {
      return date.toISOString().slice(0, 10);
    }
  }

  function fill(slots, selector, points) {
    Array.prototype.forEach.call(slots, function (slot) {
      var value = slot.querySelector(selector);
      if (value === null) return;
      value.textContent = format(points);
      slot.hidden = false;
    });
  }

  function render() {
    var slots = document.querySelectorAll('[data-loyalty-balance]');
    if (slots.length === 0) return;
    loadMe()
      .then(function (me) {
        if (typeof me.balance !== 'number') return;
        fill(slots, '[data-loyalty-balance-value]', me.balance);
        if (typeof me.pending === 'number' && me.pending > 0) {
          fill(document.querySelectorAll('[data-loyalty-pending]'), '[data-loyalty-pending-value]', me.pending);
        }
        var next = me.expiry && me.expiry.next && me.expiry.next[0];
        if (next && typeof next.points === 'number' && next.points > 0) {
          var expiring = document.querySelectorAll('[data-loyalty-expiring]');
          fill(expiring, '[data-loyalty-expiring-value]', next.points);
          Array.prototype.forEach.call(expiring, function (slot) {
            var date = slot.querySelector('[data-loyalty-expiring-date]');
            if (date !== null) date.textContent = day(next.expiresAt);
          });
        }
      })
      .catch(function () {
        // Quietly keep the balance hidden (not logged in after all, app unavailable, network error).
      });
  }

  window.loyaltyBalance = { render: render };
  render();
  // Blocks added or changed in the theme editor appear without a page load.
  document.addEventListener('shopify:section:load', render);
})();
