// Kavach console: live update of pending approvals (keeping what is typed), countdowns,
// times in the viewer's time zone, the copy button.
(function () {
  "use strict";
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }

  var local = function (d) {
    var off = -d.getTimezoneOffset(), sign = off < 0 ? "-" : "+";
    off = Math.abs(off);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      " (UTC" + sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60) + ")";
  };
  // Times come as UTC (<time datetime>); they are shown in the viewer's zone, UTC on hover.
  var localTimes = function (root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      if (!el.title) { el.title = el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC"); }
      el.textContent = local(d);
    });
  };
  localTimes(document);
  // The chart's time axis is drawn in UTC; its labels are shown in the viewer's zone, UTC
  // on hover.
  var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  document.querySelectorAll("svg text[data-at]").forEach(function (el) {
    var d = new Date(el.getAttribute("data-at"));
    if (isNaN(d.getTime())) { return; }
    var hint = document.createElementNS("http://www.w3.org/2000/svg", "title");
    hint.textContent = el.getAttribute("data-at").replace("T", " ").replace("Z", " UTC");
    el.textContent = (el.hasAttribute("data-long") ? months[d.getMonth()] + " " + d.getDate() + " " : "") +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
    el.appendChild(hint);
  });
  // A confirmation writes its times as "2026-12-07 14:32:00 UTC"; they too are shown local.
  document.querySelectorAll(".flash").forEach(function (el) {
    el.textContent = el.textContent.replace(/(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC/g, function (m, day, clock) {
      return local(new Date(day + "T" + clock + "Z"));
    });
  });
  // The audit filter reads its times in the viewer's zone.
  document.querySelectorAll("input[data-tz]").forEach(function (el) {
    if (zone && !el.value) { el.value = zone; }
    if (el.value) {
      document.querySelectorAll(".tz-label").forEach(function (l) { l.textContent = "(" + el.value + ")"; });
    }
  });

  var tick = function () {
    document.querySelectorAll(".countdown").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-expires")) - Date.now()) / 1000);
      if (left <= 0) { el.textContent = "expired"; return; }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = m > 0 ? m + "m " + pad(s) + "s" : s + "s";
    });
  };
  tick();
  window.setInterval(tick, 1000);

  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var input = document.getElementById(b.getAttribute("data-copy"));
      var said = document.getElementById("copied");
      var done = function () { if (said) { said.textContent = "Copied."; } };
      input.focus();
      input.select();
      var fallback = function () {
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        if (ok) { done(); } else if (said) { said.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy."; }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  var list = document.getElementById("approvals");
  if (!list) { return; }
  var feed = list.getAttribute("data-feed");
  var ids = function (s) { return s.trim().split(/\s+/).filter(Boolean).sort().join(" "); };
  var shown = ids(list.getAttribute("data-ids"));
  var live = document.getElementById("live");
  // A card someone is working in: focus inside, or a field changed from what the page sent.
  var inUse = function (card) {
    if (card.contains(document.activeElement)) { return true; }
    return Array.prototype.some.call(card.querySelectorAll("input:not([type=hidden])"), function (i) {
      return i.value !== i.defaultValue;
    });
  };
  // update merges the page as the server now has it into this one, card by card: new
  // requests are added, gone ones removed, and a card being typed in is left as it is.
  var update = function () {
    return fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("approvals");
        if (!fresh) { return; }
        var cards = Array.prototype.slice.call(fresh.querySelectorAll("section.approval"));
        var want = cards.map(function (c) { return c.id; });
        list.querySelectorAll("section.approval").forEach(function (card) {
          if (want.indexOf(card.id) >= 0) { return; }
          if (!inUse(card)) { card.remove(); return; }
          if (!card.querySelector(".gone")) {
            var p = document.createElement("p");
            p.className = "gone";
            p.textContent = "This request was decided elsewhere or expired; deciding it now changes nothing.";
            card.insertBefore(p, card.querySelector(".decide"));
          }
        });
        var prev = null;
        cards.forEach(function (c) {
          var node = document.getElementById(c.id);
          if (!node) {
            node = document.importNode(c, true);
            list.insertBefore(node, prev ? prev.nextSibling : list.firstChild);
            localTimes(node);
          }
          prev = node;
        });
        var none = document.getElementById("none-waiting");
        if (none && want.length) { none.remove(); }
        if (!none && !list.querySelector("section.approval")) {
          var fn = doc.getElementById("none-waiting");
          if (fn) { list.appendChild(document.importNode(fn, true)); }
        }
        ["pending-h", "decided"].forEach(function (id) {
          var mine = document.getElementById(id), theirs = doc.getElementById(id);
          if (mine && theirs) { mine.innerHTML = theirs.innerHTML; localTimes(mine); }
        });
        shown = ids(want.join(" "));
        list.setAttribute("data-ids", shown);
        tick();
        live.textContent = want.length + " waiting.";
      });
  };
  var poll = function () {
    fetch(feed, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && ids(body.ids.join(" ")) !== shown) { return update(); }
      })
      .catch(function () { live.textContent = "Live update paused: the server did not answer."; });
  };
  window.setInterval(poll, 2000);
})();
