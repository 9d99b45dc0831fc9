/* The triage queue: keyboard moves, and a poll that reloads the table when it changed.
 * The server answers /console/queue/changes?since=STAMP with {changed, stamp}; only when
 * something changed is the table fragment fetched and swapped in, keeping the selection. */
(function () {
  "use strict";
  var region = document.getElementById("queue-live-region");
  if (!region) return;
  var selected = 0;
  var busy = false;

  function rows() { return region.querySelectorAll("tbody tr[data-href]"); }

  function selectRow(index) {
    var all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(index, all.length - 1));
    for (var i = 0; i < all.length; i++) {
      all[i].classList.toggle("selected", i === selected);
      all[i].setAttribute("aria-selected", i === selected ? "true" : "false");
    }
    all[selected].scrollIntoView({ block: "nearest" });
  }

  function stamp() {
    var table = region.querySelector(".queue-table");
    return table ? table.getAttribute("data-stamp") : "";
  }

  function withSince(url, since) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(since);
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(withSince(region.getAttribute("data-changes-url"), stamp()), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (!answer || !answer.changed) return null;
        return fetch(region.getAttribute("data-fragment-url"), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            if (!html) return;
            region.innerHTML = html;
            window.Console.renderCountdowns(region);
            selectRow(selected);
            var live = document.getElementById("queue-live");
            if (live) live.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
          });
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { busy = false; });
  }

  region.addEventListener("click", function (event) {
    var row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a")) window.location = row.getAttribute("data-href");
  });

  var C = window.Console;
  C.registerShortcut("j", "Next case", function () { selectRow(selected + 1); });
  C.registerShortcut("k", "Previous case", function () { selectRow(selected - 1); });
  C.registerShortcut("Enter", "Open the selected case", function () {
    var row = rows()[selected];
    if (row) window.location = row.getAttribute("data-href");
  });
  C.registerShortcut("/", "Filter the queue", function () {
    var first = document.querySelector("#queue-filters select, #queue-filters input");
    if (first) first.focus();
  });
  var newUrl = region.getAttribute("data-new-url");
  if (newUrl) C.registerShortcut("n", "New case", function () { window.location = newUrl; });

  selectRow(0);
  var seconds = parseInt(region.getAttribute("data-poll") || "5", 10);
  setInterval(poll, Math.max(2, seconds) * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
})();
