// A generation's page: follows its JSON form until it (and its batch) is finished, without
// reloading. The status line and the images come rendered by the page's own templates.
(function () {
  "use strict";
  var L = window.KontextLive;
  var root = document.getElementById("generation");
  if (!root || !L) return;
  var url = root.dataset.jsonUrl;
  var progress = document.getElementById("generation-progress");
  var media = document.getElementById("generation-media");
  var statusText = document.getElementById("status-text");
  var inference = document.getElementById("inference");
  var delay = 1000;
  var shown = "";

  function render(data) {
    var parts = data.fragments;
    root.dataset.status = data.status;
    // The badge, the words and the placeholder come from one reading: all swapped at once.
    // Only a change is swapped in (and announced); the clock counts on by itself between.
    var said = [data.progress.status, data.progress.words, data.progress.typical].join("|");
    if (said !== shown || parts.media_key !== root.dataset.mediaKey) {
      shown = said;
      L.fill(progress, parts.progress);
    }
    if (parts.media_key !== root.dataset.mediaKey) {
      root.dataset.mediaKey = parts.media_key;
      L.fill(media, parts.media);
    }
    if (data.inference_ms) inference.textContent = (data.inference_ms / 1000).toFixed(1) + " s";
    // A generation held back says why in its progress line (its place in the waiting line).
    statusText.textContent = parts.finished || data.waiting ? "" : "Working on it: this page updates by itself.";
  }

  function poll() {
    L.fetchJSON(url).then(function (data) {
      delay = 1000;
      render(data);
      if (!data.fragments.finished) window.setTimeout(poll, delay);
    }, function (error) {
      if (L.isGone(error)) {
        statusText.textContent = "This generation is no longer available to you.";
        return;
      }
      // Keep trying, more slowly, and say so: the generation goes on on the server.
      delay = Math.min(delay * 2, 15000);
      statusText.textContent = "Lost contact with the server; retrying…";
      window.setTimeout(poll, delay);
    });
  }

  if (root.dataset.finished === "0") window.setTimeout(poll, 500);
})();
