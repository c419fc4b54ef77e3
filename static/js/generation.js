// A generation's page: follows its JSON form until it is finished, without reloading.
// Tiles of its batch, reveal buttons and copy buttons are tiles.js's, except this page's own
// tile in the batch strip: the page already fetches that JSON, so it fills that tile itself.
(function () {
  "use strict";
  var T = window.KontextTiles;
  var root = document.getElementById("generation");
  if (!root || !T) return;
  var url = root.dataset.jsonUrl;
  var badge = document.getElementById("status-badge");
  var statusText = document.getElementById("status-text");
  var errorBox = document.getElementById("error-box");
  var errorText = document.getElementById("error-text");
  var images = document.getElementById("images");
  var inference = document.getElementById("inference");
  var delay = 1000;
  var own = null;

  function figureFor(image, data) {
    var ratio = T.ratioClass(data);
    var alt = T.altText(data);
    var figure = T.el("figure", "output" + (image.blurred ? " is-blurred" : ""));
    figure.dataset.imageId = image.id;
    figure.dataset.moderation = image.moderation;
    if (image.url && image.blurred) {
      figure.appendChild(T.revealBox(image, ratio, alt));
    } else if (image.url) {
      var link = T.el("a");
      link.href = image.url;
      var img = T.el("img");
      img.src = image.url;
      img.width = image.width;
      img.height = image.height;
      img.alt = alt;
      link.appendChild(img);
      figure.appendChild(link);
    } else {
      var removed = T.el("div", "removed " + ratio);
      if (image.placeholder) removed.appendChild(T.placeholderImg(image.placeholder, "reveal-placeholder"));
      removed.appendChild(T.el("p", "", image.notice));
      figure.appendChild(removed);
    }
    var caption = T.el("figcaption", "", image.width + "×" + image.height);
    if (image.nsfw) caption.append(" · ", T.el("span", "badge badge-nsfw", "flagged NSFW"));
    if (image.moderation !== "visible") {
      caption.append(" · ", T.el("span", "badge badge-moderation-" + image.moderation, image.moderation));
    }
    if (image.download_url) {
      var download = T.el("a", "", "Download original");
      download.href = image.download_url;
      download.setAttribute("download", "");
      caption.append(" · ", download);
    }
    figure.appendChild(caption);
    return figure;
  }

  function render(data) {
    badge.replaceChildren(T.badge(data.status, data.status_label));
    root.dataset.status = data.status;
    if (own && (data.status !== own.dataset.status || data.finished)) T.fillTile(own, data);
    if (data.images.length || data.finished) {
      var waiting = document.getElementById("placeholder");
      if (waiting) waiting.remove();
    }
    data.images.forEach(function (image) {
      if (images.querySelector('[data-image-id="' + image.id + '"]')) return;
      images.appendChild(figureFor(image, data));
    });
    if (data.inference_ms) inference.textContent = (data.inference_ms / 1000).toFixed(1) + " s";
    if (data.error) {
      errorText.textContent = data.error;
      errorBox.hidden = false;
    }
    if (data.finished) {
      if (!data.images.length && data.status === "completed" && !document.getElementById("no-images")) {
        var none = T.el("p", "empty", "No image of this generation is available to you.");
        none.id = "no-images";
        images.appendChild(none);
      }
    }
    // A queued generation held back (account limits, the provider) says why and for how long.
    statusText.textContent = data.finished ? "" : data.waiting || "Working on it: this page updates by itself.";
  }

  function poll() {
    T.fetchJSON(url).then(function (data) {
      delay = 1000;
      render(data);
      if (!data.finished) window.setTimeout(poll, delay);
    }, function (error) {
      if (T.isGone(error)) {
        statusText.textContent = "This generation is no longer available to you.";
        return;
      }
      // Keep trying, more slowly, and say so: the generation goes on on the server.
      delay = Math.min(delay * 2, 15000);
      statusText.textContent = "Lost contact with the server; retrying…";
      window.setTimeout(poll, delay);
    });
  }

  if (T.inFlight(root.dataset.status)) {
    // One poller per generation: take this page's tile over from tiles.js.
    own = Array.prototype.filter.call(document.querySelectorAll(".batch .tile"), function (tile) {
      return tile.dataset.jsonUrl === url;
    })[0] || null;
    if (own) delete own.dataset.following;
    window.setTimeout(poll, 500);
  }
})();
