// Carebot desk: asks the server for each view with Telegram's signed initData in a header, and puts the HTML
// it answers into the page. No cookies, no data in URLs. Plain JavaScript, no build step.
(function () {
  "use strict";
  var base = document.body.dataset.base || "";
  var main = document.getElementById("desk");
  var REFRESH_MS = 15000;
  var timer = null;

  function hashParams() {
    var hash = window.location.hash.replace(/^#/, "");
    var params = {};
    hash.split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at > 0) {
        try {
          params[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1));
        } catch (e) { /* a malformed pair is left out */ }
      }
    });
    return params;
  }

  var fromHash = hashParams();
  if (fromHash.tgWebAppData) {
    sessionStorage.setItem("desk-init-data", fromHash.tgWebAppData);
  }

  function initData() {
    var app = window.Telegram && window.Telegram.WebApp;
    return (app && app.initData) || sessionStorage.getItem("desk-init-data") || "";
  }

  function applyTheme(theme) {
    if (!theme) { return; }
    Object.keys(theme).forEach(function (key) {
      document.documentElement.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), theme[key]);
    });
  }

  if (fromHash.tgWebAppThemeParams) {
    try { applyTheme(JSON.parse(fromHash.tgWebAppThemeParams)); } catch (e) { /* keep the default colours */ }
  }

  function headers() {
    var sent = { "X-Telegram-Init-Data": initData() };
    var lang = localStorage.getItem("desk-lang");
    if (lang) { sent["X-Desk-Language"] = lang; }
    return sent;
  }

  // The page's own path (below the desk's base) to the view that renders it.
  function viewOf(path, search) {
    var rest = path.indexOf(base) === 0 ? path.slice(base.length) : path;
    rest = rest.replace(/\/+$/, "");
    if (rest === "" || rest === "/queue") { return base + "/view/queue" + search; }
    return base + "/view" + rest + search;
  }

  function show(response) {
    return response.text().then(function (html) {
      main.innerHTML = html;
      main.dataset.status = String(response.status);
      wire();
      schedule();
    });
  }

  function failed() {
    main.innerHTML = "<p class=\"flash\">⚠</p>";
    main.dataset.status = "error";
  }

  function load() {
    main.setAttribute("aria-busy", "true");
    return fetch(viewOf(location.pathname, location.search), { headers: headers(), cache: "no-store" })
      .then(show, failed)
      .then(function () { main.removeAttribute("aria-busy"); });
  }

  function go(href) {
    history.pushState({}, "", href);
    window.scrollTo(0, 0);
    return load();
  }

  function post(url, form) {
    var body = new URLSearchParams(new FormData(form));
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (button) { button.disabled = true; });
    main.setAttribute("aria-busy", "true");
    var sent = headers();
    sent["Content-Type"] = "application/x-www-form-urlencoded";
    return fetch(url, { method: "POST", headers: sent, body: body, cache: "no-store" })
      .then(show, failed)
      .then(function () { main.removeAttribute("aria-busy"); });
  }

  function fetchBlob(url) {
    return fetch(url, { headers: headers(), cache: "no-store" }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.blob();
    });
  }

  // Pictures and files come through the server with the same header: each is fetched, then shown from a blob.
  function wire() {
    Array.prototype.forEach.call(main.querySelectorAll("img[data-src]"), function (img) {
      fetchBlob(img.dataset.src).then(function (blob) {
        img.src = URL.createObjectURL(blob);
      }, function () { img.classList.add("missing"); });
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); timer = null; }
    var page = main.querySelector("[data-page]");
    if (page && page.dataset.page === "queue") {
      timer = setTimeout(function () {
        var busy = document.activeElement && main.contains(document.activeElement) &&
          document.activeElement.tagName === "SELECT";
        if (!busy && document.visibilityState !== "hidden") { load(); } else { schedule(); }
      }, REFRESH_MS);
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-nav]");
    if (link) {
      event.preventDefault();
      go(link.getAttribute("href"));
      return;
    }
    var file = event.target.closest("a[data-file]");
    if (file) {
      event.preventDefault();
      fetchBlob(file.dataset.file).then(function (blob) {
        var save = document.createElement("a");
        save.href = URL.createObjectURL(blob);
        save.download = file.dataset.file.split("/").pop();
        document.body.appendChild(save);
        save.click();
        save.remove();
      });
      return;
    }
    var lang = event.target.closest("button[data-lang]");
    if (lang) {
      localStorage.setItem("desk-lang", lang.dataset.lang);
      load();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    event.preventDefault();
    if (form.hasAttribute("data-filter")) { return; }
    var submitter = event.submitter;
    var url = (submitter && submitter.getAttribute("formaction")) || form.getAttribute("action");
    post(url, form);
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-filter]");
    if (!form) { return; }
    var query = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value) { query.set(key, value); } });
    var search = query.toString();
    go(base + "/" + (search ? "?" + search : ""));
  });

  window.addEventListener("popstate", load);

  function telegramReady() {
    var app = window.Telegram && window.Telegram.WebApp;
    if (!app) { return; }
    app.ready();
    app.expand();
    applyTheme(app.themeParams);
    app.onEvent("themeChanged", function () { applyTheme(app.themeParams); });
  }

  window.addEventListener("load", telegramReady);
  if (!initData()) {
    // Opened inside Telegram before its script came: wait for it once.
    window.addEventListener("load", load);
  } else {
    load();
  }
})();
