// Shared by the gallery, a generation's page and the playground: gallery tiles that fill in
// as their generation finishes, blurred placeholders, click-to-reveal and copy buttons.
(function () {
  "use strict";
  var IN_FLIGHT = ["queued", "submitting", "processing", "downloading"];

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function inFlight(status) { return IN_FLIGHT.indexOf(status) !== -1; }

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

  // Redraw a tile from the card its generation's JSON carries (?fragments=tile), rendered by
  // the gallery's own tile template: its frame and status badge are swapped in, the rest of
  // the tile (its links, its quick actions) stays. A blurred image's file is never fetched.
  function fillTile(tile, data) {
    var holder = document.createElement("template");
    holder.innerHTML = data.fragments.tile.trim();
    var card = holder.content.querySelector(".tile");
    tile.dataset.status = data.status;
    var frame = tile.querySelector(".tile-frame");
    var freshFrame = card.querySelector(".tile-frame");
    frame.replaceWith(freshFrame);
    paintFrame(freshFrame);
    var old = tile.querySelector(".tile-badges .badge[data-status]");
    var freshBadge = card.querySelector(".tile-badges .badge[data-status]");
    if (old && freshBadge) old.replaceWith(freshBadge);
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
      fetchJSON(tile.dataset.jsonUrl + "?fragments=tile").then(function (data) {
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
    fetchJSON: fetchJSON,
    fillTile: fillTile,
    follow: follow,
    initTile: initTile,
    initTiles: initTiles,
    inFlight: inFlight,
    isGone: isGone,
    watchImage: watchImage,
  };
  initTiles(document);
})();
