// furo's two sidebars are both <aside> landmarks with no name, and the page's tools (view
// the source, the colour theme) sit outside every landmark: a screen reader's list of
// regions then shows two unnamed "complementary" ones and misses the tools (axe:
// landmark-unique, region). Name each.
(function () {
  "use strict";
  const names = {
    ".sidebar-drawer": "Site navigation",
    ".toc-drawer": "On this page",
    ".content-icon-container": "Page tools",
  };
  for (const [selector, name] of Object.entries(names)) {
    const element = document.querySelector(selector);
    if (!element) continue;
    if (!element.matches("aside, nav")) element.setAttribute("role", "region");
    element.setAttribute("aria-label", name);
  }
})();
