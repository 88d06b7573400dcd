// The landing page's "paste your error" box: the error recogniser (the same one as the
// search page's) names the error as it is pasted and links the section that answers it.
(function () {
  "use strict";
  const box = document.getElementById("paste-error-text");
  if (!box || !window.ErrorRecogniser) return;
  const answer = box.form.querySelector(".paste-error__answer");
  const root = new URL(".", new URL(box.form.getAttribute("action"), location.href));
  let timer = 0;
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(show, 60);
  });

  function show() {
    answer.replaceChildren();
    const text = box.value;
    if (!text.trim()) return;
    const found = window.ErrorRecogniser.recognise(text);
    if (!found) {
      answer.append(paragraph("Not an error this site recognises: search the pages for it below."));
      return;
    }
    const about = window.ErrorRecogniser.describe(found, root);
    const link = document.createElement("a");
    link.href = about.href;
    link.textContent = about.text;
    link.className = "paste-error__link";
    answer.append(paragraph(about.kicker, "paste-error__kicker"), paragraph(capitalise(found.cause) + ".", ""));
    const go = paragraph("", "paste-error__go");
    go.append(link);
    answer.append(go);
  }

  const capitalise = (text) => text[0].toUpperCase() + text.slice(1);

  function paragraph(text, className) {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }
})();
