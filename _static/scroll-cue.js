// Content wider than the column scrolls inside its own box: such a box gets keyboard focus
// (a scrollable region must be reachable without a mouse) and a visible cue that more is
// to the right, which goes once the reader has scrolled to the end. Checked again on resize.
(function () {
  "use strict";
  const SELECTOR = "article pre, article .table-wrapper, article .math-wrapper";

  // Each region's name is its own (axe: landmark-unique): "Code 3 of 7, scrolls sideways".
  function label(box) {
    const [kind, name] = [["pre", "Code"], [".table-wrapper", "Table"], [".math-wrapper", "Formula"]]
      .find(([selector]) => box.matches(selector));
    const all = Array.from(document.querySelectorAll(SELECTOR)).filter((other) => other.matches(kind));
    return `${name} ${all.indexOf(box) + 1} of ${all.length}, scrolls sideways`;
  }

  function update(box) {
    const scrolls = /auto|scroll/.test(getComputedStyle(box).overflowX) && box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("is-scrollable", scrolls);
    box.classList.toggle("is-scrolled-to-end", scrolls && box.scrollLeft + box.clientWidth >= box.scrollWidth - 1);
    if (scrolls && !box.hasAttribute("tabindex")) {
      box.tabIndex = 0;
      box.dataset.scrollCue = "";
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", label(box));
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
