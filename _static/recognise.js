// The error recogniser, in the browser: the same steps as dbconn/errors.py recognise(),
// run on the catalogue the build exports (window.ERROR_CATALOGUE, _static/error-catalogue.js).
// A test runs both on every text of the real-error corpus and compares the answers.
(function () {
  "use strict";
  const compiled = new Map();
  const re = (pattern, flags) => {
    const key = flags + " " + pattern;
    if (!compiled.has(key)) compiled.set(key, new RegExp(pattern, flags));
    return compiled.get(key);
  };
  const IGNORE_CASE = "i";
  const EXACT_CASE = "";
  const ASCII_SPACE = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;
  const strip = (line) => line.replace(ASCII_SPACE, "");

  function normalise(text, catalogue) {
    text = text.replace(/\r\n?|\u2028|\u2029/g, "\n");
    text = text.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/\u3000/g, " ");
    text = text.replace(/[\u2018\u2019\u201A\u201B\u2032]/g, "'").replace(/[\u201C\u201D\u201E\u201F\u2033]/g, '"');
    const spaces = Array.from(catalogue.spaces, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")).join("");
    text = text.replace(re("[" + spaces + "]", "g"), " ");
    text = text.replace(/\\r\\n|\\n/g, "\n");
    text = text.split('\\"').join('"').split("\\'").join("'");
    return text.split("\n");
  }

  function stripPrefixes(line, prefixes) {
    for (let round = 0; round < 12; round++) {
      let stripped = false;
      for (const prefix of prefixes) {
        const match = re(prefix, EXACT_CASE).exec(line);
        if (match && match[0].length) {
          line = line.slice(match[0].length);
          stripped = true;
          break;
        }
      }
      if (!stripped) return line;
    }
    return line;
  }

  function best(catalogue, lines, indexes, whole) {
    let found = null;
    for (const index of indexes) {
      const line = strip(lines[index]);
      catalogue.entries.forEach((entry, order) => {
        if (entry.requires && !re(entry.requires, IGNORE_CASE).test(whole)) return;
        const columns = [];
        for (const pattern of patternsOf(catalogue, entry)) {
          const match = re(pattern, IGNORE_CASE).exec(line);
          if (match) columns.push(match.index);
        }
        if (!columns.length) return;
        const rank = [-entry.tier, index, Math.min(...columns), order];
        if (found === null || less(rank, found.rank)) found = { rank, entry, line };
      });
    }
    return found;
  }

  // An entry's patterns: the spellings of its code (as Entry.all_patterns), then its own.
  function patternsOf(catalogue, entry) {
    if (!entry.allPatterns) {
      const codes = entry.code > 0 ? catalogue.codeForms.map((form) => form.split("{code}").join(String(entry.code))) : [];
      entry.allPatterns = codes.concat(entry.patterns);
    }
    return entry.allPatterns;
  }

  function less(a, b) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
    return false;
  }

  function recognise(text, catalogue) {
    catalogue = catalogue || window.ERROR_CATALOGUE;
    const lines = [];
    const pytestLines = [];
    for (const raw of normalise(text, catalogue)) {
      const pytest = re(catalogue.pytest, EXACT_CASE).exec(raw);
      lines.push(stripPrefixes(pytest ? raw.slice(pytest[0].length) : raw, catalogue.prefixes));
      pytestLines.push(Boolean(pytest));
    }
    let considered = [];
    const sourceLines = [];
    let afterFrame = false;
    lines.forEach((line, index) => {
      if (!strip(line)) return;
      const isFrame = re(catalogue.frame, EXACT_CASE).test(line);
      if (afterFrame && !isFrame && !re(catalogue.exception, EXACT_CASE).test(line)) {
        afterFrame = false;
        sourceLines.push(index); // a frame's source line: code, not an error
        return;
      }
      afterFrame = isFrame;
      considered.push(index);
    });
    if (pytestLines.some(Boolean)) considered = considered.filter((i) => pytestLines[i]);
    const whole = lines.join("\n");
    const found = best(catalogue, lines, considered, whole) || best(catalogue, lines, sourceLines, whole);
    if (!found) return null;
    const entry = found.entry;
    const context = entry.contexts.find((c) => considered.some((i) => re(c.pattern, IGNORE_CASE).test(lines[i]))) || null;
    const where = context || entry;
    return {
      key: entry.key, code: entry.code, title: entry.title, cause: where.cause,
      context: context ? context.name : null, page: where.page, section: where.section,
      reference: where.reference, line: Array.from(found.line).slice(0, 300).join(""),
    };
  }

  // The address of what was recognised: its section here, or the external reference.
  function href(found, siteRoot) {
    return found.page ? new URL(found.page + ".html#" + found.section, siteRoot || location.href).href : found.reference;
  }

  // What a page says about it: the error named, and where the answer is. The build adds
  // the sections' headings and the references' names to the catalogue (`names`).
  function describe(found, siteRoot) {
    const names = (window.ERROR_CATALOGUE && window.ERROR_CATALOGUE.names) || {};
    const name = found.code === null ? found.key : String(found.code);
    const kicker = `Recognised: ${name}: ${found.title}`;
    if (found.page) {
      const where = names[found.page + "#" + found.section] || found.page + " › " + found.section;
      return { covered: true, href: href(found, siteRoot), text: where, kicker,
               summary: `Recognised ${name}: the section that answers it comes first.` };
    }
    const reference = names[found.reference] || found.reference;
    return { covered: false, href: found.reference, text: `Not covered on this site yet: read ${reference}`, kicker,
             summary: `Recognised ${name}, not covered on this site yet: the best reference comes first.` };
  }

  window.ErrorRecogniser = { recognise, href, describe };
})();
