// Live pages: the element marked data-live="<url>" shows what may change while people look at
// it (a case's services, a queue, an applicant's status). Every few seconds the page asks that
// URL for a small stamp ({"stamp": "..."}); only when the stamp differs from the one the page
// was drawn with does it fetch the page again and swap that element in place. While the reader
// is typing in a form inside the element, nothing is swapped (they are told instead).
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region || !window.fetch || !window.DOMParser) { return; }
  var pollUrl = region.getAttribute("data-live");
  var stamp = region.getAttribute("data-live-stamp") || "";
  var every = (parseInt(region.getAttribute("data-live-seconds"), 10) || 5) * 1000;
  // looked up at each use: they may sit inside the element that is swapped
  function updated() { return document.querySelector("[data-live-updated]"); }
  function notice() { return document.querySelector("[data-live-pending]"); }
  var failures = 0;
  var timer = null;

  function clock() {
    var now = new Date();
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(now.getHours()) + ":" + two(now.getMinutes()) + ":" + two(now.getSeconds());
  }

  function markUpdated() {
    var el = updated();
    if (el) { el.textContent = clock(); }
  }

  function editing() {
    var el = document.activeElement;
    if (!el || !region.contains(el)) { return false; }
    return /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.isContentEditable;
  }

  function schedule(delay) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(poll, delay);
  }

  function swap() {
    // the page as it is now, same address (GET), and the live element out of it
    return fetch(window.location.href, {
      credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" }
    }).then(function (res) {
      if (!res.ok) { throw new Error(String(res.status)); }
      return res.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.querySelector("[data-live]");
      if (!fresh) { throw new Error("no live region"); }
      // what the reader had unfolded stays unfolded, what they folded stays folded
      var open = {};
      region.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
      region.innerHTML = fresh.innerHTML;
      region.querySelectorAll("details[id]").forEach(function (d) {
        if (Object.prototype.hasOwnProperty.call(open, d.id)) { d.open = open[d.id]; }
      });
      stamp = fresh.getAttribute("data-live-stamp") || stamp;
      region.setAttribute("data-live-stamp", stamp);
      document.dispatchEvent(new CustomEvent("jointdesk:live-swapped"));
    });
  }

  function poll() {
    if (document.hidden) { return; }  // resumed by visibilitychange
    fetch(pollUrl, {
      credentials: "same-origin", cache: "no-store",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    }).then(function (res) {
      if (res.status === 429) {
        var wait = parseInt(res.headers.get("Retry-After"), 10) || 60;
        failures = 0;
        schedule(wait * 1000);
        return null;
      }
      if (!res.ok) { throw new Error(String(res.status)); }
      return res.json();
    }).then(function (data) {
      if (data === null) { return; }
      failures = 0;
      if (data.stamp === stamp) {
        markUpdated();
        schedule(every);
        return;
      }
      if (editing()) {
        if (notice()) { notice().hidden = false; }
        schedule(every);
        return;
      }
      return swap().then(function () {
        if (notice()) { notice().hidden = true; }
        markUpdated();
        schedule(every);
      });
    }).catch(function () {
      failures += 1;  // server away or network down: try again, less and less often
      schedule(Math.min(every * Math.pow(2, failures), 120000));
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { schedule(0); }
  });
  markUpdated();
  schedule(every);
})();
