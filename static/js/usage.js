// The usage page: bar lengths come from data-share (0..1) set by the template.
(function () {
  "use strict";
  document.querySelectorAll("[data-share]").forEach(function (bar) {
    var share = Math.max(0, Math.min(1, Number(bar.dataset.share) || 0));
    bar.style.setProperty("--share", String(share));
  });
})();
