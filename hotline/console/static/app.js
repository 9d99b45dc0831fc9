/* Small helpers for every console page: deadline countdowns, keyboard shortcuts, CSRF for
 * fetch(). No framework; other pages' scripts use window.Console. */
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');

  /** "2 d 3 h", "3 h 05 min", "12 min", "45 s": the biggest units that matter. */
  function formatDuration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + (m < 10 ? "0" : "") + m + " min";
    if (m > 0) return m + " min";
    return s + " s";
  }

  /** Render every <time data-deadline="ISO"> as "in 3 h 05 min" or "overdue 12 min".
   *  data-soon (minutes, default 60) marks the last stretch with the class due-soon. */
  function renderCountdowns(root) {
    var now = Date.now();
    var nodes = (root || document).querySelectorAll("time[data-deadline]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var due = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(due)) continue;
      if (!el.title) el.title = new Date(due).toLocaleString();
      var left = due - now;
      var soon = parseInt(el.getAttribute("data-soon") || "60", 10) * 60000;
      el.textContent = left >= 0 ? "in " + formatDuration(left) : "overdue " + formatDuration(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("due-soon", left >= 0 && left < soon);
    }
  }

  var shortcuts = [];

  /** Register a key (e.g. "j", "?", "g q") with a description and a handler. Keys typed in
   *  a form field are ignored. Two-key sequences use a space between the keys. */
  function registerShortcut(keys, description, handler) {
    shortcuts.push({ keys: keys, description: description, handler: handler });
  }

  var pending = "";
  var pendingTimer = null;

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var typed = pending ? pending + " " + event.key : event.key;
    var exact = null, prefix = false;
    for (var i = 0; i < shortcuts.length; i++) {
      if (shortcuts[i].keys === typed) exact = shortcuts[i];
      else if (shortcuts[i].keys.indexOf(typed + " ") === 0) prefix = true;
    }
    clearTimeout(pendingTimer);
    if (exact) {
      pending = "";
      event.preventDefault();
      exact.handler(event);
    } else if (prefix) {
      pending = typed;
      pendingTimer = setTimeout(function () { pending = ""; }, 1200);
    } else {
      pending = "";
    }
  });

  function toggleHelp() {
    var box = document.getElementById("shortcuts-help");
    if (box) { box.remove(); return; }
    box = document.createElement("div");
    box.id = "shortcuts-help";
    box.className = "shortcuts-help";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Keyboard shortcuts");
    var title = document.createElement("h2");
    title.textContent = "Keyboard shortcuts";
    box.appendChild(title);
    var list = document.createElement("dl");
    list.className = "facts";
    shortcuts.forEach(function (s) {
      var dt = document.createElement("dt");
      s.keys.split(" ").forEach(function (k) {
        var kbd = document.createElement("kbd");
        kbd.textContent = k;
        dt.appendChild(kbd);
      });
      var dd = document.createElement("dd");
      dd.textContent = s.description;
      list.appendChild(dt);
      list.appendChild(dd);
    });
    box.appendChild(list);
    document.body.appendChild(box);
  }

  registerShortcut("?", "Show or hide this list", toggleHelp);
  registerShortcut("Escape", "Close this list", function () {
    var box = document.getElementById("shortcuts-help");
    if (box) box.remove();
  });

  /** fetch() that sends the CSRF token and the session cookie. */
  function csrfFetch(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = new Headers(options.headers || {});
    if (csrfMeta) options.headers.set("X-CSRF-Token", csrfMeta.getAttribute("content"));
    return fetch(url, options);
  }

  window.Console = {
    formatDuration: formatDuration,
    renderCountdowns: renderCountdowns,
    registerShortcut: registerShortcut,
    shortcuts: shortcuts,
    csrfToken: function () { return csrfMeta ? csrfMeta.getAttribute("content") : ""; },
    fetch: csrfFetch,
  };

  renderCountdowns();
  setInterval(renderCountdowns, 15000);
})();
