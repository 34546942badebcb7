// crossdock pages' one script: small, ours, no build step. Pages work
// without it (forms post and the server answers); with it they get:
//  - form[data-check]: the form is checked by the server as the user types
//    (debounced), and every reason is shown next to its field;
//  - [data-live][data-sse]: a region re-rendered from the server whenever
//    the server-sent event stream at data-sse says something changed; a
//    child with a data-key the user is typing in is kept as it is;
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

  // inUse says whether the user is working in el: it holds the focus, or a
  // field whose value differs from what the server rendered.
  function inUse(el) {
    if (el.contains(document.activeElement)) return true;
    return Array.prototype.some.call(el.querySelectorAll("input, textarea, select"), function (f) {
      if (f.type === "checkbox" || f.type === "radio") return f.checked !== f.defaultChecked;
      if (f.tagName === "SELECT") return Array.prototype.some.call(f.options, function (o) { return o.selected !== o.defaultSelected; });
      return f.value !== f.defaultValue;
    });
  }

  // merge puts the fresh region's children in place of the live one's,
  // except a child with a data-key the user is working in: that one stays
  // as it is (same node, same focus, same typed text) at its fresh place.
  // Nothing a user types is lost to a live update; a child whose key is
  // gone from the fresh region goes, as it is no longer there to act on.
  function merge(region, fresh) {
    var focused = document.activeElement;
    var keep = {};
    Array.prototype.forEach.call(region.children, function (el) {
      var k = el.getAttribute("data-key");
      if (k && fresh.querySelector('[data-key="' + k.replace(/["\\]/g, "\\$&") + '"]') && inUse(el)) keep[k] = el;
    });
    Array.prototype.slice.call(region.childNodes).forEach(function (n) {
      if (!(n.nodeType === 1 && keep[n.getAttribute("data-key")] === n)) region.removeChild(n);
    });
    var at = region.firstChild;
    Array.prototype.forEach.call(fresh.childNodes, function (n) {
      var kept = n.nodeType === 1 && keep[n.getAttribute("data-key")];
      if (kept && kept === at) {
        at = at.nextSibling;
      } else if (kept) {
        region.insertBefore(kept, at); // the order changed: moved, not rebuilt
      } else {
        region.insertBefore(document.importNode(n, true), at);
      }
    });
    if (focused && focused !== document.activeElement && region.contains(focused)) focused.focus();
  }

  // Live regions: re-fetch this page and merge in the fresh region.
  document.querySelectorAll("[data-live][data-sse]").forEach(function (region) {
    if (!window.EventSource) return;
    var src = new EventSource(region.getAttribute("data-sse"));
    var status = document.querySelector("[data-live-status]");
    var refresh = debounce(function () {
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var id = region.id;
        var fresh = id && doc.getElementById(id);
        if (fresh) merge(region, fresh);
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
