// Kavach console: live refresh of pending approvals, countdowns, confirmations.
(function () {
  "use strict";
  var list = document.getElementById("approvals");
  if (list) {
    var feed = list.getAttribute("data-feed");
    var shown = list.getAttribute("data-ids").trim().split(/\s+/).filter(Boolean).sort().join(" ");
    var live = document.getElementById("live");
    // A reload would take the keyboard focus and any typed text away.
    var busy = function () {
      var el = document.activeElement;
      return el && el !== document.body && list.contains(el);
    };
    var poll = function () {
      fetch(feed, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) { return; }
          var ids = body.approvals.map(function (a) { return a.id; }).sort().join(" ");
          if (ids !== shown) {
            if (busy()) {
              live.textContent = "The list changed; it will update when you leave the form.";
              return;
            }
            window.location.reload();
          }
        })
        .catch(function () { live.textContent = "Live refresh paused: the server did not answer."; });
    };
    window.setInterval(poll, 2000);
  }
  var tick = function () {
    document.querySelectorAll(".countdown").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-expires")) - Date.now()) / 1000);
      if (left <= 0) { el.textContent = "expired"; return; }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = m > 0 ? m + "m " + (s < 10 ? "0" : "") + s + "s" : s + "s";
    });
  };
  tick();
  window.setInterval(tick, 1000);
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
})();
