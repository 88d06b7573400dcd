// Content wider than the column scrolls inside its own box: such a box gets keyboard focus
// (a scrollable region must be reachable without a mouse) and a visible cue that more is
// to the right, which goes once the reader has scrolled to the end. Checked again on resize.
(function () {
  "use strict";
  const SELECTOR = "article pre, article .table-wrapper, article .math-wrapper";

  function update(box) {
    const scrolls = /auto|scroll/.test(getComputedStyle(box).overflowX) && box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("is-scrollable", scrolls);
    box.classList.toggle("is-scrolled-to-end", scrolls && box.scrollLeft + box.clientWidth >= box.scrollWidth - 1);
    if (scrolls && !box.hasAttribute("tabindex")) {
      box.tabIndex = 0;
      box.dataset.scrollCue = "";
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", box.matches("pre") ? "Code, scrolls sideways" : "Table, scrolls sideways");
    } else if (!scrolls && "scrollCue" in box.dataset) {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
      delete box.dataset.scrollCue;
    }
  }

  function updateAll() {
    document.querySelectorAll(SELECTOR).forEach(update);
  }

  document.addEventListener("scroll", (event) => {
    if (event.target instanceof Element && event.target.matches(SELECTOR)) update(event.target);
  }, true);
  let timer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(updateAll, 100);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", updateAll);
  else updateAll();
  window.addEventListener("load", updateAll); // images and fonts change widths
})();
