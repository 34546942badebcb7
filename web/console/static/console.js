// The console's one script: regions marked data-refresh="<ms>" are
// re-rendered by the server every so often (the page is fetched again and
// the region with the same id swapped in), so the flow charts and a
// replay's progress move without a reload. Pages work without it: the
// server renders everything, and a reload shows the same.
(function () {
  "use strict";
  var regions = document.querySelectorAll("[data-refresh][id]");
  if (!regions.length || !window.fetch) return;
  var status = document.querySelector("[data-refresh-status]");
  var every = 2000;
  regions.forEach(function (r) { every = Math.min(every, parseInt(r.getAttribute("data-refresh"), 10) || 2000); });
  var busy = false;
  function tick() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (res.redirected || !res.ok) throw new Error("HTTP " + res.status);
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (region) {
          var fresh = doc.getElementById(region.id);
          if (fresh) region.innerHTML = fresh.innerHTML;
          region.setAttribute("data-updated", String(Date.now()));
        });
        if (status) status.textContent = "Live: refreshed " + new Date().toLocaleTimeString() + ".";
      })
      .catch(function (e) { if (status) status.textContent = "Live updates paused (" + e.message + "); retrying."; })
      .then(function () { busy = false; });
  }
  setInterval(tick, every);
})();
