// Keeps the response-deadline countdowns of referral pages ticking (issue 4: the incoming
// queue shows a deadline countdown). The server renders the first text; the translated
// templates come from this script tag's data attributes.
(function () {
  "use strict";
  var me = document.currentScript;
  var t = me ? me.dataset : {};
  function fill(template, values) {
    return template.replace(/%\((\w)\)[ds]/g, function (_m, k) { return values[k]; });
  }
  function duration(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h >= 48) return fill(t.days, { d: Math.floor(h / 24) });
    if (h) return fill(t.hm, { h: h, m: m });
    return fill(t.ms, { m: m, s: s });
  }
  var started = Date.now();
  function tick() {
    var elapsed = Math.floor((Date.now() - started) / 1000);
    document.querySelectorAll(".tc-countdown[data-seconds]").forEach(function (el) {
      var left = parseInt(el.dataset.seconds, 10) - elapsed;
      var text = duration(Math.abs(left));
      el.textContent = fill(left < 0 ? t.overdue : t.left, { t: text });
      el.classList.toggle("text-danger", left < 0);
      el.classList.toggle("fw-semibold", left < 3600);
      el.classList.toggle("text-warning-emphasis", left >= 0 && left < 3600);
    });
  }
  setInterval(tick, 1000);
})();
