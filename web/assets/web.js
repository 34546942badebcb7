// crossdock pages' one script: small, ours, no build step. Pages work
// without it (forms post and the server answers); with it they get:
//  - form[data-check]: the form is checked by the server as the user types
//    (debounced), and every reason is shown next to its field;
//  - [data-live][data-sse]: a region re-rendered from the server whenever
//    the server-sent event stream at data-sse says something changed;
//  - button[data-add-row]: adds a copy of a table's last row.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  function debounce(fn, ms) {
    var t = null;
    return function () {
      clearTimeout(t);
      t = setTimeout(fn, ms);
    };
  }

  // The errors list nearest to a field path: "lines[2].gtin" falls back to
  // "lines[2]", then "lines", then the form's general list ("").
  function errorsList(form, field) {
    var f = field || "";
    for (;;) {
      var el = form.querySelector('[data-errors-for="' + f.replace(/"/g, "") + '"]');
      if (el) return el;
      if (f === "") return null;
      var cut = Math.max(f.lastIndexOf("."), f.lastIndexOf("["), f.lastIndexOf("/"));
      f = cut > 0 ? f.slice(0, cut) : "";
    }
  }

  function renderReasons(form, reasons) {
    form.querySelectorAll("[data-errors-for]").forEach(function (ul) { ul.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    (reasons || []).forEach(function (r) {
      var ul = errorsList(form, r.field);
      if (!ul) return;
      var li = document.createElement("li");
      var code = document.createElement("code");
      code.textContent = r.code;
      li.appendChild(code);
      li.appendChild(document.createTextNode(" " + r.message));
      ul.appendChild(li);
      var input = form.querySelector('[name="' + ul.getAttribute("data-errors-for") + '"]');
      if (input) input.setAttribute("aria-invalid", "true");
    });
  }

  function renderVerdict(form, res) {
    var box = form.querySelector("[data-check-result]");
    if (!box) return;
    box.className = "outcome state-" + (res.state || "");
    box.textContent = res.summary || "";
    box.hidden = !res.summary;
  }

  document.querySelectorAll("form[data-check]").forEach(function (form) {
    var url = form.getAttribute("data-check");
    var seq = 0;
    var run = debounce(function () {
      var mine = ++seq;
      var body = new URLSearchParams(new FormData(form));
      fetch(url, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
        body: body,
        credentials: "same-origin"
      }).then(function (r) { return r.json(); }).then(function (res) {
        if (mine !== seq) return; // an older answer arriving late
        renderReasons(form, res.reasons);
        renderVerdict(form, res);
        form.setAttribute("data-checked", String(mine));
      }).catch(function () { /* the server decides on submit anyway */ });
    }, 300);
    form.addEventListener("input", run);
    form.addEventListener("change", run);
  });

  document.querySelectorAll("button[data-add-row]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var body = document.getElementById(btn.getAttribute("data-add-row"));
      if (!body || !body.rows.length) return;
      var last = body.rows[body.rows.length - 1];
      var row = last.cloneNode(true);
      var n = body.rows.length;
      row.querySelectorAll("input, select, label, ul").forEach(function (el) {
        ["id", "for", "aria-describedby", "data-errors-for"].forEach(function (a) {
          var v = el.getAttribute(a);
          if (v) el.setAttribute(a, v.replace(/\d+/, String(n)));
        });
        if (el.tagName === "INPUT" && !el.hasAttribute("data-keep")) el.value = "";
        if (el.tagName === "UL") el.textContent = "";
      });
      body.appendChild(row);
      var first = row.querySelector("input");
      if (first) first.focus();
    });
  });

  // Live regions: re-fetch this page and swap in the fresh region.
  document.querySelectorAll("[data-live][data-sse]").forEach(function (region) {
    if (!window.EventSource) return;
    var src = new EventSource(region.getAttribute("data-sse"));
    var status = document.querySelector("[data-live-status]");
    var refresh = debounce(function () {
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var id = region.id;
        var fresh = id && doc.getElementById(id);
        if (fresh) region.innerHTML = fresh.innerHTML;
        region.setAttribute("data-updated", String(Date.now()));
      });
    }, 150);
    // Once subscribed, read the state again: what happened before the
    // stream was open (or while it was down) is in it.
    src.onopen = function () {
      if (status) status.textContent = "Live: updates appear as they happen.";
      refresh();
    };
    src.onmessage = refresh;
    src.addEventListener("change", refresh);
    src.onerror = function () { if (status) status.textContent = "Live updates paused; reconnecting…"; };
  });
})();
