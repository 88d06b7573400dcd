// The search page. Over HTTP: the error recogniser first (a pasted error, log or traceback
// goes straight to the section that answers it), then Pagefind's results. Opened from disk,
// where Pagefind cannot load: a recognised error goes to its page, anything else to
// Sphinx's own search, whose scripts are loaded only then.
(function () {
  "use strict";
  const form = document.getElementById("site-search");
  const input = document.getElementById("site-search-input");
  const status = form.querySelector(".site-search__status");
  const list = form.querySelector(".site-search__results");
  const root = new URL(form.dataset.root, location.href);
  const recogniser = window.ErrorRecogniser;
  const initial = new URLSearchParams(location.search).get("q") || "";
  const SHOWN = 6;          // results shown (and read, to tell whether a word is really on a page)
  const MAX_WORDS = 16;     // words of a long query looked at one by one

  input.value = initial;
  fit();

  if (location.protocol === "file:") {
    offline(initial);
    return;
  }

  const pagefind = import(new URL(form.dataset.bundle, location.href).href + "pagefind.js").then(async (module) => {
    await module.options({
      baseUrl: root.pathname,
      excerptLength: 22,
      // Prefer the short help pages to the long notebooks and references that repeat a term.
      ranking: { pageLength: 1.0, termSaturation: 0.5 },
    });
    await module.init();
    // One call at a time: Pagefind's searches (and fragment loads) running concurrently
    // disturb each other.
    let queue = Promise.resolve();
    const queued = (call) => {
      const next = queue.then(call);
      queue = next.catch(() => undefined);
      return next;
    };
    return {
      search: (term) => queued(() => module.search(term)),
      data: (result) => queued(() => result.data()),
    };
  });

  let generation = 0;
  let timer = 0;
  input.addEventListener("input", () => {
    fit();
    clearTimeout(timer);
    timer = setTimeout(run, 30);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      run();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  if (initial.trim()) run();

  function fit() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 320) + "px";
  }

  async function run() {
    const query = input.value;
    const mine = ++generation;
    form.dataset.state = "searching"; // "done" once every result of this query is shown
    if (query.length < 2000) history.replaceState(null, "", query.trim() ? "?q=" + encodeURIComponent(query) : location.pathname);
    list.replaceChildren();
    if (!query.trim()) {
      status.textContent = "";
      form.dataset.state = "done";
      return;
    }
    const found = recogniser.recognise(query);
    if (found) {
      list.append(recognisedItem(found));
      status.textContent = recogniser.describe(found).summary;
    }
    const module = await pagefind;
    if (mine !== generation) return;
    const answer = found ? await related(module, found) : await searchWords(module, query);
    if (mine !== generation) return;
    const seen = new Set(found && found.page ? [found.page + ".html"] : []);
    for (const data of answer.results) {
      if (!seen.has(pathOf(data.url))) list.append(resultItem(data));
      seen.add(pathOf(data.url));
    }
    if (!found) status.textContent = answer.note;
    form.dataset.state = "done";
  }

  const pathOf = (url) => new URL(url, root).pathname.replace(root.pathname, "");

  // Pages about a recognised error: searched by its code, or by its message.
  async function related(module, found) {
    if (found.code > 0) {
      const code = String(found.code);
      const search = await module.search(code);
      return { results: (await load(module, search.results.slice(0, SHOWN))).filter((data) => genuine(data, code)), note: "" };
    }
    const search = await module.search(found.title.replace(/[^\w' ]+/g, " "));
    return { results: await load(module, search.results.slice(0, SHOWN)), note: "" };
  }

  // Every word must be on a page for Pagefind to find it. Words on no page are dropped
  // (and named), so that a long title or a paste still finds what the rest is about; a
  // query whose words are on no page finds nothing, rather than pages that merely share
  // a letter with it (Pagefind falls back to the longest indexed prefix of a word).
  async function searchWords(module, query) {
    const words = wordsOf(query);
    if (!words.length) return { results: [], note: `No page covers “${query.trim()}”.` };
    const known = await Promise.all(words.map((word) => check(module, word)));
    const present = words.filter((_, i) => known[i].present);
    const missing = words.filter((_, i) => !known[i].present);
    if (!present.length) {
      return { results: [], note: words.length === 1 ? `No page covers “${words[0]}”.` : `No page covers any of these words: ${words.join(", ")}.` };
    }
    if (present.length === 1) {
      const only = known[words.indexOf(present[0])];
      return { results: only.results, note: note(only.total, present, missing) };
    }
    let kept = present;
    // All words are on some page: Pagefind's own reading of the query first (it knows
    // compound words such as mysql-connector-python); then the words alone.
    let search = missing.length ? { results: [] } : await module.search(query);
    if (!search.results.length) search = await module.search(kept.join(" "));
    if (!search.results.length) {
      // No page has them all: keep the rarest words that still find a page together.
      const rarest = [...present].sort((a, b) => known[words.indexOf(a)].total - known[words.indexOf(b)].total);
      kept = [rarest[0]];
      for (const word of rarest.slice(1)) {
        const attempt = await module.search([...kept, word].join(" "));
        if (attempt.results.length) kept.push(word);
      }
      search = await module.search(kept.join(" "));
    }
    const dropped = words.filter((word) => !kept.includes(word));
    return { results: await load(module, search.results.slice(0, SHOWN)), note: note(search.results.length, kept, dropped) };
  }

  function note(total, kept, dropped) {
    const what = total === 1 ? "1 page" : `${total} pages`;
    if (!dropped.length) return `${what} for “${kept.join(" ")}”.`;
    return `${what} for “${kept.join(" ")}”; no page has ${dropped.map((w) => "“" + w + "”").join(", ")}.`;
  }

  function wordsOf(query) {
    const words = query.toLowerCase().split(/[^\p{L}\p{N}_]+/u).filter((word) => word.length > 1);
    return [...new Set(words)].slice(0, MAX_WORDS);
  }

  const checks = new Map();
  function check(module, word) {
    if (!checks.has(word)) {
      checks.set(word, module.search(word).then(async (search) => {
        const results = (await load(module, search.results.slice(0, SHOWN))).filter((data) => genuine(data, word));
        return { present: results.length > 0, results, total: results.length === 0 ? 0 : search.results.length };
      }));
    }
    return checks.get(word);
  }

  // A result is about the word when a highlighted word starts like it: the word itself,
  // a longer word from it (pool_rec -> pool_recycle) or a stem (recycling -> recycle);
  // not a one- or two-letter fragment that Pagefind matched for a word it does not know.
  function genuine(data, word) {
    const marks = [data.excerpt, ...(data.sub_results || []).map((sub) => sub.excerpt)]
      .join(" ").match(/<mark>(.*?)<\/mark>/g) || [];
    return marks.some((mark) => {
      const m = mark.replace(/<\/?mark>/g, "").toLowerCase().replace(/[^\p{L}\p{N}_]/gu, "");
      if (m.startsWith(word)) return true;
      if (/^\d+$/.test(word)) return false; // numbers have no stems: 200 is not 2003
      let common = 0;
      while (common < Math.min(m.length, word.length) && m[common] === word[common]) common++;
      return common >= Math.max(3, Math.ceil(Math.min(m.length, word.length) / 2));
    });
  }

  const load = (module, results) => Promise.all(results.map((result) => module.data(result)));

  function recognisedItem(found) {
    const about = recogniser.describe(found, root);
    const item = element("li", "search-result search-result--recognised");
    item.append(
      element("p", "search-result__kicker", about.kicker),
      link(about.href, about.text),
      element("p", "search-result__excerpt", found.cause[0].toUpperCase() + found.cause.slice(1) + "."),
    );
    const quoted = element("p", "search-result__line");
    quoted.append("Read from: ", element("code", "", found.line));
    item.append(quoted);
    return item;
  }

  function resultItem(data) {
    const item = element("li", "search-result");
    const excerpt = element("p", "search-result__excerpt");
    excerpt.innerHTML = data.excerpt; // Pagefind's excerpt: escaped text with <mark> around the words found
    item.append(link(data.url, data.meta.title), excerpt);
    const sections = (data.sub_results || []).filter((sub) => sub.url.includes("#")).slice(0, 3);
    if (sections.length) {
      const sub = element("ul", "search-result__sections");
      for (const section of sections) {
        const li = element("li");
        li.append(link(section.url, section.title, "search-result__section"));
        sub.append(li);
      }
      item.append(sub);
    }
    return item;
  }

  function link(href, text, className) {
    const a = element("a", className || "search-result__link pagefind-ui__result-link", text);
    a.href = new URL(href, root).href;
    return a;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function offline(query) {
    const found = query.trim() && recogniser.recognise(query);
    if (found && found.page) {
      location.replace(recogniser.href(found, root));
      return;
    }
    form.hidden = true;
    document.getElementById("offline-search-note").hidden = false;
    document.getElementById("search-results").hidden = false;
    const scripts = ["_static/documentation_options.js", "_static/doctools.js", "_static/sphinx_highlight.js",
                     "_static/searchtools.js", "_static/language_data.js", "searchindex.js"];
    scripts.reduce((previous, src) => previous.then(() => new Promise((resolve) => {
      const script = document.createElement("script");
      script.src = new URL(src, root).href;
      script.onload = script.onerror = resolve;
      document.body.append(script);
    })), Promise.resolve());
  }
})();
