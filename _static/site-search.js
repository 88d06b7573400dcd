// The search page: Pagefind when served over HTTP, Sphinx's search when opened from disk.
(function () {
  const query = new URLSearchParams(location.search).get("q") || "";
  const container = document.getElementById("pagefind-search");
  const sphinxResults = document.getElementById("search-results");

  if (location.protocol === "file:") {
    // Sphinx's search drops number-only words: send an exact error code to its page.
    const page = (window.ERROR_PAGES || {})[query.trim()];
    if (page) {
      const siteRoot = new URL(container.dataset.bundle + "../", location.href);
      location.replace(new URL(page, siteRoot).href);
      return;
    }
    document.getElementById("offline-search-note").hidden = false;
    return;
  }

  if (sphinxResults) sphinxResults.hidden = true;
  // An absolute bundle URL: the page may sit at any depth below the site's root.
  const bundlePath = new URL(container.dataset.bundle, location.href).href;
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = bundlePath + "pagefind-ui.css";
  document.head.appendChild(css);
  const script = document.createElement("script");
  script.src = bundlePath + "pagefind-ui.js";
  script.onload = function () {
    const ui = new PagefindUI({
      element: "#pagefind-search", bundlePath: bundlePath, showSubResults: true, showImages: false, resetStyles: false,
      // Prefer the short help pages to the long notebooks and references that repeat a term.
      ranking: { pageLength: 1.0, termSaturation: 0.5 },
      debounceTimeoutMs: 60,  // results while typing: the default waits 300 ms after each key
    });
    if (query) ui.triggerSearch(query);
  };
  document.head.appendChild(script);
})();
