/* Supportbot web desk: what htmx does not (keyboard navigation, live updates, local times).
   Loaded from this site only (the Content-Security-Policy allows no inline script). */
(function () {
  "use strict";

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  // Enter on a link, a button or a summary is theirs, not the selected row's.
  function interactive(target) {
    return !!(target && target.closest && target.closest("a, button, summary, label"));
  }

  // -- local times: <time datetime="..."> shown in the reader's zone ----------------------
  function localTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;  // shown in the reader's zone already
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.title = el.textContent; el.textContent = d.toLocaleString(); el.dataset.local = "1"; }
    });
  }

  // -- keyboard: j/k move in a list, Enter opens, r reply, n internal note ----------------
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-nav-item]")); }
  function select(index) {
    var all = rows();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === index); });
    all[index].scrollIntoView({ block: "nearest" });
    document.body.dataset.navIndex = String(index);
  }
  function current() { return parseInt(document.body.dataset.navIndex || "-1", 10); }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (key === "j" && rows().length) { select(current() + 1); event.preventDefault(); }
    else if (key === "k" && rows().length) { select(current() - 1); event.preventDefault(); }
    else if (key === "Enter" && current() >= 0 && !interactive(event.target)) {
      var row = rows()[current()];
      var link = row && row.querySelector("a[data-open]");
      if (link) { link.click(); event.preventDefault(); }
    } else if (key === "r" || key === "n") {
      var box = document.querySelector(key === "r" ? "[data-key-reply]" : "[data-key-note]");
      if (box) {
        var details = box.closest("details");
        if (details) details.open = true;
        box.focus(); event.preventDefault();
      }
    }
  });

  // -- live updates: the server says "changed", the page refreshes its live parts ---------
  // A page names its stream in <body data-live="/live/..."> and its live regions carry
  // hx-trigger="sb:changed from:body". Nothing but the signal travels on the stream.
  function live() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("changed", function (event) {
      if (window.htmx) window.htmx.trigger(document.body, "sb:changed", { stamp: event.data });
      else document.body.dispatchEvent(new CustomEvent("sb:changed", { bubbles: true, detail: { stamp: event.data } }));
    });
  }

  // -- what a live refresh must not destroy ------------------------------------------------
  // A queue whose rows are ticked for a bulk change keeps them: it says it changed instead
  // (its region is marked data-keep-if-checked). A reply or note being written is never in a
  // live region; when the ticket changes under it, a banner says so.
  function writing() {
    return Array.prototype.some.call(
      document.querySelectorAll("[data-key-reply], [data-key-note]"),
      function (box) { return box.value.trim() !== ""; });
  }
  function reveal(selector, root) {
    var el = (root || document).querySelector(selector);
    if (el) el.hidden = false;
  }
  document.addEventListener("htmx:confirm", function (event) {
    var detail = event.detail || {};
    var elt = detail.elt;
    if (!detail.triggeringEvent || detail.triggeringEvent.type !== "sb:changed" || !elt) return;
    if (elt.hasAttribute("data-keep-if-checked") && elt.querySelector("input[type=checkbox]:checked")) {
      event.preventDefault();  // the request is not made
      reveal("[data-queue-changed]", elt);
    }
  });
  document.addEventListener("sb:changed", function () {
    if (writing()) reveal("[data-changed-banner]");
  });

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    live();
    if (rows().length && document.body.dataset.navAutoselect !== "off") select(0);
  });
  document.addEventListener("htmx:oobAfterSwap", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (event) {
    localTimes(event.target);
    if (rows().length) select(Math.min(Math.max(current(), 0), rows().length - 1));
  });
})();
