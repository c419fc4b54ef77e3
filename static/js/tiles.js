// Shared by the gallery, a generation's page and the playground: gallery tiles that fill in
// as their generation finishes, blurred placeholders, click-to-reveal and copy buttons.
(function () {
  "use strict";
  var IN_FLIGHT = ["queued", "submitting", "processing", "downloading"];
  var NOTICES = { rejected: "Removed by a moderator", pending: "Awaiting review" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function inFlight(status) { return IN_FLIGHT.indexOf(status) !== -1; }

  // A blurred preview behind the real image: decorative, so hidden from assistive technology.
  function placeholderImg(src, className) {
    var img = el("img", className);
    img.src = src;
    img.alt = "";
    img.setAttribute("aria-hidden", "true");
    return img;
  }

  function spinner() {
    var node = el("span", "spinner");
    node.setAttribute("aria-hidden", "true");
    return node;
  }

  // The CSS class reserving a generation's aspect ratio, as the templates' ratio_class.
  function ratioClass(data) { return "ratio-" + data.aspect_ratio.replace(":", "x"); }

  function altText(data) { return data.prompt.slice(0, 120); }

  function fetchJSON(url, options) {
    var init = Object.assign({ credentials: "same-origin" }, options || {});
    init.headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    return fetch(url, init).then(function (response) {
      if (!response.ok) {
        var error = new Error("HTTP " + response.status);
        error.status = response.status;
        throw error;
      }
      return response.json();
    });
  }

  // 404: deleted, made private, or held for review since; asking again will not bring it back.
  function isGone(error) { return Boolean(error) && error.status === 404; }

  function badge(status, label) {
    var span = el("span", "badge badge-" + status, label || status);
    span.dataset.status = status;
    return span;
  }

  // The thumbnail hides its placeholder once it has decoded; until then the blur shows.
  function watchImage(img) {
    var frame = img.closest(".tile-frame, .reveal-box, .lightbox-frame");
    var done = function () {
      img.classList.add("is-loaded");
      if (frame) frame.classList.add("is-loaded");
    };
    if (img.complete && img.naturalWidth > 0) done();
    else img.addEventListener("load", done, { once: true });
  }

  function paintFrame(frame) {
    if (frame.dataset.color) frame.style.setProperty("--tile-color", frame.dataset.color);
    frame.querySelectorAll(".tile-image").forEach(function (img) {
      // Only an image still on its way fades in; one already decoded is simply there.
      if (!(img.complete && img.naturalWidth > 0)) frame.classList.add("is-loading");
      watchImage(img);
    });
  }

  function tileNotice(image) {
    return NOTICES[image.moderation] || "Flagged: open to reveal";
  }

  // Redraw a tile from its generation's JSON form; a blurred image's file is never fetched.
  function fillTile(tile, data) {
    tile.dataset.status = data.status;
    var frame = tile.querySelector(".tile-frame");
    var image = data.images[0];
    var parts = [];
    if (image) {
      if (image.color) frame.dataset.color = image.color;
      if (image.placeholder) parts.push(placeholderImg(image.placeholder, "tile-placeholder"));
      if (image.thumbnail_url && !image.blurred) {
        var thumb = el("img", "tile-image");
        thumb.alt = altText(data);
        thumb.decoding = "async";
        thumb.src = image.thumbnail_url;
        parts.push(thumb);
      } else {
        parts.push(el("span", "tile-notice", tileNotice(image)));
      }
    } else if (data.finished) {
      parts.push(el("span", "tile-empty", data.status === "completed" ? "No image" : data.status_label));
    } else {
      var waiting = el("span", "tile-empty");
      waiting.append(spinner(), " " + data.status_label + "…");
      parts.push(waiting);
    }
    frame.replaceChildren.apply(frame, parts);
    paintFrame(frame);
    var old = tile.querySelector(".tile-badges .badge[data-status]");
    if (old) {
      var fresh = badge(data.status, data.status_label);
      // Completed is the usual case: only the other states are worth a word on a tile.
      fresh.hidden = data.status === "completed";
      old.replaceWith(fresh);
    }
    tile.dispatchEvent(new CustomEvent("tile:updated", { bubbles: true, detail: data }));
  }

  // Follow one in-flight tile until its generation is finished, more slowly as time passes.
  // Whoever removes the tile's data-following marker takes the polling over.
  function follow(tile) {
    if (tile.dataset.following) return;
    tile.dataset.following = "1";
    var delay = 1500;
    function poll() {
      if (!tile.isConnected || !tile.dataset.following) return;
      fetchJSON(tile.dataset.jsonUrl).then(function (data) {
        if (data.status !== tile.dataset.status || data.finished) fillTile(tile, data);
        if (data.finished) { delete tile.dataset.following; return; }
        delay = Math.min(delay * 1.3, 10000);
        window.setTimeout(poll, delay);
      }, function (error) {
        if (isGone(error)) {
          delete tile.dataset.following;
          var frame = tile.querySelector(".tile-frame");
          frame.replaceChildren(el("span", "tile-empty", "No longer available"));
          return;
        }
        delay = Math.min(delay * 2, 30000);
        window.setTimeout(poll, delay);
      });
    }
    window.setTimeout(poll, delay);
  }

  function initTile(tile) {
    var frame = tile.querySelector(".tile-frame");
    if (frame) paintFrame(frame);
    if (inFlight(tile.dataset.status)) follow(tile);
  }

  function initTiles(root) {
    (root || document).querySelectorAll(".tile").forEach(initTile);
  }

  // A blurred image: its placeholder and a button; only the click fetches the real file.
  function revealBox(image, ratioClass, alt) {
    var box = el("div", "reveal-box " + (ratioClass || ""));
    if (image.placeholder) box.appendChild(placeholderImg(image.placeholder, "reveal-placeholder"));
    var button = el("button", "reveal-button");
    button.type = "button";
    button.dataset.src = image.url;
    button.dataset.width = image.width;
    button.dataset.height = image.height;
    button.dataset.alt = alt || "";
    button.append((image.notice || "Flagged by the API as possibly sensitive.") + " ");
    button.appendChild(el("strong", "", "Click to reveal"));
    box.appendChild(button);
    return box;
  }

  function reveal(button) {
    var box = button.closest(".reveal-box");
    var img = el("img", "revealed");
    img.src = button.dataset.src;
    if (button.dataset.width) img.width = Number(button.dataset.width);
    if (button.dataset.height) img.height = Number(button.dataset.height);
    img.alt = button.dataset.alt || "";
    img.tabIndex = -1;
    box.replaceWith(img);
    img.focus();
  }

  function copyText(text, button) {
    var label = button.dataset.label || button.textContent;
    var done = function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    };
    var fallback = function () {
      // Outside a secure context the clipboard API is missing: select the text instead.
      var area = el("textarea", "visually-hidden");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
      if (ok) done(); else window.prompt("Copy this:", text);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var revealButton = event.target.closest(".reveal-button");
    if (revealButton) { reveal(revealButton); return; }
    var copyButton = event.target.closest(".copy-button");
    if (copyButton && copyButton.dataset.copy !== undefined) {
      copyText(copyButton.dataset.copy, copyButton);
    }
  });

  window.KontextTiles = {
    el: el,
    altText: altText,
    badge: badge,
    fetchJSON: fetchJSON,
    fillTile: fillTile,
    follow: follow,
    initTile: initTile,
    initTiles: initTiles,
    inFlight: inFlight,
    isGone: isGone,
    placeholderImg: placeholderImg,
    ratioClass: ratioClass,
    revealBox: revealBox,
    spinner: spinner,
    watchImage: watchImage,
  };
  initTiles(document);
})();
