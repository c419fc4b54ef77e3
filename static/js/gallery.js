// The team gallery: filters that keep their state in the URL, new work arriving on top,
// and a lightbox with the details beside the image (it never touches the playground form).
(function () {
  "use strict";
  var T = window.KontextTiles;
  var L = window.KontextLive;
  var grid = document.getElementById("gallery-grid");
  var form = document.getElementById("gallery-filters");
  if (!grid || !form || !T || !L) return;
  var announcer = document.getElementById("gallery-announcer");
  var NEW_WORK_EVERY = 10000;

  // ---- Filters -------------------------------------------------------------------------
  var more = document.getElementById("filters-more");
  var count = document.getElementById("filters-count");
  // A filter at its default (empty, unticked, or the newest-first order) changes nothing.
  function isDefault(field) {
    if (field.type === "checkbox") return !field.checked;
    return !field.value || (field.name === "sort" && field.value === "newest");
  }
  var active = 0;
  more.querySelectorAll("select, input").forEach(function (field) {
    if (!isDefault(field)) active += 1;
  });
  count.textContent = active ? "(" + active + " on)" : "";
  // The panel floats over the images: a click elsewhere or Escape folds it away.
  document.addEventListener("click", function (event) {
    if (more.open && !more.contains(event.target)) more.open = false;
  });
  more.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && more.open) { more.open = false; more.querySelector("summary").focus(); }
  });

  form.addEventListener("change", function (event) {
    // Dates wait for Apply: a date being typed is "changed" at every digit.
    if (event.target.matches("select, input[type=checkbox]")) form.requestSubmit();
  });
  form.addEventListener("submit", function () {
    // A short, shareable URL: empty filters and the default order are left out.
    form.querySelectorAll("input, select").forEach(function (field) {
      if (field.name && isDefault(field)) field.disabled = true;
    });
  });
  window.addEventListener("pageshow", function () {
    form.querySelectorAll("[disabled]").forEach(function (field) { field.disabled = false; });
  });

  // The Team/Mine tabs keep the other filters (a new view starts at its first page).
  document.querySelectorAll(".tabs .tab").forEach(function (tab) {
    var params = new URLSearchParams(window.location.search);
    ["after", "before", "partial"].forEach(function (name) { params.delete(name); });
    params.set("view", tab.dataset.view);
    tab.href = "?" + params.toString();
  });

  // ---- New work on top -----------------------------------------------------------------
  function say(text) {
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function prependNew(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    var meta = holder.content.querySelector(".tiles-page");
    var fresh = Array.prototype.filter.call(holder.content.querySelectorAll(".tile"), function (tile) {
      return !alreadyShown(tile);
    });
    if (meta && meta.dataset.topCursor) grid.dataset.topCursor = meta.dataset.topCursor;
    if (!fresh.length) return;
    var fragment = document.createDocumentFragment();
    fresh.forEach(function (tile) { tile.classList.add("is-new"); fragment.appendChild(tile); });
    grid.insertBefore(fragment, grid.firstChild);
    fresh.forEach(T.initTile);
    var empty = document.getElementById("gallery-empty");
    if (empty) empty.hidden = true;
    say(fresh.length === 1 ? "1 new generation at the top." : fresh.length + " new generations at the top.");
    updatePosition();
  }

  function pollNewWork() {
    if (document.hidden) { window.setTimeout(pollNewWork, NEW_WORK_EVERY); return; }
    var params = new URLSearchParams(grid.dataset.query);
    if (grid.dataset.topCursor) params.set("before", grid.dataset.topCursor);
    params.set("partial", "1");
    fetch("?" + params.toString(), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(prependNew)
      .catch(function () { /* the next round tries again */ })
      .then(function () { window.setTimeout(pollNewWork, NEW_WORK_EVERY); });
  }
  if (grid.dataset.live === "1") window.setTimeout(pollNewWork, NEW_WORK_EVERY);

  // ---- More pages as you scroll --------------------------------------------------------
  // The next page is the same server-rendered tiles the links lead to; the links stay for
  // anyone without the script, and hide while the script loads pages by itself.
  var pages = document.getElementById("gallery-pages");
  var moreStatus = document.getElementById("gallery-more");
  var loading = null;

  function hasMore() { return Boolean(grid.dataset.nextCursor); }

  function alreadyShown(tile) {
    if (grid.querySelector('.tile[data-generation-id="' + tile.dataset.generationId + '"]')) return true;
    // A batch is one tile: its other members on a later page are already represented.
    return Boolean(tile.dataset.batch) && Boolean(grid.querySelector('.tile[data-batch="' + tile.dataset.batch + '"]'));
  }

  function appendPage(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    var meta = holder.content.querySelector(".tiles-page");
    grid.dataset.nextCursor = meta ? meta.dataset.nextCursor || "" : "";
    var fresh = Array.prototype.filter.call(holder.content.querySelectorAll(".tile"), function (tile) {
      return !alreadyShown(tile);
    });
    var fragment = document.createDocumentFragment();
    fresh.forEach(function (tile) { fragment.appendChild(tile); });
    grid.appendChild(fragment);
    fresh.forEach(T.initTile);
    var older = pages && pages.querySelector('a[rel="next"]');
    if (older && hasMore()) {
      var params = new URLSearchParams(grid.dataset.query);
      params.set("after", grid.dataset.nextCursor);
      older.href = "?" + params.toString();
    } else if (older) {
      older.remove();
    }
    moreStatus.textContent = hasMore() ? "" : "That is everything.";
    moreStatus.hidden = hasMore();
    updatePosition();
    return fresh.length;
  }

  function loadNextPage() {
    if (!hasMore()) return Promise.resolve(0);
    if (loading) return loading;
    var params = new URLSearchParams(grid.dataset.query);
    params.set("after", grid.dataset.nextCursor);
    params.set("partial", "1");
    moreStatus.hidden = false;
    moreStatus.textContent = "Loading more…";
    loading = fetch("?" + params.toString(), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(appendPage, function () {
        moreStatus.textContent = "Could not load more; scroll again or use the page links.";
        if (pages) pages.hidden = false;
        return 0;
      })
      .then(function (added) { loading = null; return added; });
    return loading;
  }

  if (pages && "IntersectionObserver" in window) {
    var sentinel = document.createElement("div");
    sentinel.className = "gallery-sentinel";
    sentinel.setAttribute("aria-hidden", "true");
    grid.after(sentinel);
    var nextLink = pages.querySelector('a[rel="next"]');
    // Only the forward direction loads by itself; a page reached by "Newer" keeps its links.
    if (nextLink && !pages.querySelector('a[rel="prev"]')) pages.hidden = true;
    new IntersectionObserver(function (entries) {
      if (entries[0].isIntersecting && pages.hidden) loadNextPage();
    }, { rootMargin: "400px 0px" }).observe(sentinel);
  }

  // ---- Quick actions on a tile ---------------------------------------------------------
  function setTileFavourite(tile, on) {
    tile.dataset.favourite = on ? "1" : "0";
    var star = tile.querySelector(".badge-favourite");
    if (star) star.hidden = !on;
    var form = tile.querySelector(".tile-favourite");
    if (!form) return;
    form.elements.favourite.value = on ? "0" : "1";
    var button = form.querySelector("button");
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.title = on ? "Remove from favourites" : "Add to favourites";
    button.querySelector("[aria-hidden]").textContent = on ? "★" : "☆";
  }

  grid.addEventListener("submit", function (event) {
    var form = event.target.closest(".tile-favourite");
    if (!form) return;
    event.preventDefault();
    var tile = form.closest(".tile");
    var button = form.querySelector("button");
    button.disabled = true;
    T.fetchJSON(form.getAttribute("action"), { method: "POST", body: new FormData(form) })
      .then(function (answer) {
        setTileFavourite(tile, answer.favourite);
        if (dialog.open && tile === current) renderFavourite(answer.favourite);
        say(answer.favourite ? "Added to favourites." : "Removed from favourites.");
      }, function () { say("Could not change the favourite; try again."); })
      .then(function () { button.disabled = false; button.focus(); });
  });

  // ---- Lightbox ------------------------------------------------------------------------
  var dialog = document.getElementById("lightbox");
  var media = document.getElementById("lightbox-media");
  var title = document.getElementById("lightbox-title");
  var position = document.getElementById("lightbox-position");
  var prompt = document.getElementById("lightbox-prompt");
  var params = document.getElementById("lightbox-params");
  var errorBox = document.getElementById("lightbox-error");
  var help = document.getElementById("lightbox-help");
  var keysButton = document.getElementById("lightbox-keys");
  var prevButton = document.getElementById("lightbox-prev");
  var nextButton = document.getElementById("lightbox-next");
  var favouriteForm = document.getElementById("lightbox-favourite");
  var links = {
    remix: document.getElementById("lightbox-remix"),
    newSeed: document.getElementById("lightbox-new-seed"),
    open: document.getElementById("lightbox-open"),
    download: document.getElementById("lightbox-download"),
  };
  var copySeed = document.getElementById("lightbox-copy-seed");
  var copyParameters = document.getElementById("lightbox-copy-parameters");
  var loadingBox = document.getElementById("lightbox-loading");
  var current = null;
  var shownId = null;
  var request = 0;

  function tiles() { return Array.prototype.slice.call(grid.querySelectorAll(".tile")); }

  function shortPrompt(text) {
    var words = text.replace(/\s+/g, " ").trim();
    return words.length > 80 ? words.slice(0, 79) + "…" : words || "Untitled";
  }

  // The image side and the details come rendered by the server's templates
  // (?fragments=lightbox): this script builds none of that markup.
  function lightboxURL(tile) { return tile.dataset.jsonUrl + "?fragments=lightbox"; }

  function renderMedia(data) {
    L.fill(media, data.fragments.lightbox_media);
    media.querySelectorAll(".lightbox-image").forEach(T.watchImage);
  }

  function render(data, tile) {
    var sameGeneration = shownId === data.id;
    shownId = data.id;
    title.textContent = shortPrompt(data.prompt);
    prompt.textContent = data.prompt;
    // The heading already says a short prompt in full.
    prompt.hidden = title.textContent === data.prompt.replace(/\s+/g, " ").trim();
    errorBox.hidden = !data.error;
    errorBox.textContent = data.error || "";
    // A re-render of the same generation keeps a revealed image revealed.
    if (!sameGeneration || !media.querySelector(".revealed")) renderMedia(data);

    L.fill(params, data.fragments.lightbox_details);

    links.remix.href = data.remix_url;
    links.newSeed.href = data.remix_url + "&seed=new";
    links.open.href = data.detail_url;
    var download = data.images.length ? data.images[0].download_url : null;
    links.download.hidden = !download;
    if (download) links.download.href = download;
    copySeed.dataset.copy = String(data.seed);
    copyParameters.dataset.copy = data.parameters_text;
    renderFavourite(tile.dataset.favourite === "1");
    favouriteForm.action = tile.dataset.favouriteUrl;
  }

  function renderFavourite(on) {
    var button = favouriteForm.querySelector("button");
    favouriteForm.elements.favourite.value = on ? "0" : "1";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "★ Favourite" : "☆ Favourite";
    button.title = on ? "Remove from favourites" : "Add to favourites";
  }

  function updatePosition() {
    if (!current) return;
    var all = tiles();
    var index = all.indexOf(current);
    // "+" while more pages wait: → at the last tile loads them.
    position.textContent = (index + 1) + " of " + all.length + (hasMore() ? "+" : "");
    prevButton.disabled = index <= 0;
    nextButton.disabled = index === -1 || (index >= all.length - 1 && !hasMore());
  }

  function show(tile) {
    current = tile;
    updatePosition();
    var ticket = ++request;
    if (shownId !== Number(tile.dataset.generationId)) {
      title.textContent = "Loading…";
      prompt.textContent = tile.querySelector(".tile-prompt").textContent;
      params.replaceChildren();
      media.replaceChildren(loadingBox.content.cloneNode(true));
      shownId = null;
    }
    T.fetchJSON(lightboxURL(tile)).then(function (data) {
      if (ticket === request) render(data, tile);
    }, function () {
      if (ticket !== request) return;
      errorBox.hidden = false;
      errorBox.textContent = "Could not load this generation. Open its page instead.";
      links.open.href = tile.dataset.jsonUrl;
    });
  }

  function open(tile) {
    show(tile);
    if (!dialog.open) dialog.showModal();
    title.focus();
  }

  function move(step) {
    var all = tiles();
    var index = all.indexOf(current);
    var next = all[index + step];
    if (next) { show(next); return; }
    // Past the last tile: the next page continues the sequence across the boundary.
    if (step > 0 && hasMore()) {
      var from = current;
      loadNextPage().then(function () {
        if (current !== from) return;
        var after = tiles()[tiles().indexOf(from) + 1];
        if (after) show(after);
      });
    }
  }

  var infoButton = document.getElementById("lightbox-info");
  var details = document.getElementById("lightbox-details");
  function toggleDetails(force) {
    var visible = force === undefined ? details.hidden : force;
    details.hidden = !visible;
    details.parentElement.classList.toggle("details-hidden", !visible);
    infoButton.setAttribute("aria-expanded", visible ? "true" : "false");
  }
  infoButton.addEventListener("click", function () { toggleDetails(); });

  function toggleHelp(force) {
    var visible = force === undefined ? help.hidden : force;
    help.hidden = !visible;
    keysButton.setAttribute("aria-expanded", visible ? "true" : "false");
  }

  grid.addEventListener("click", function (event) {
    var link = event.target.closest(".tile-link");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    open(link.closest(".tile"));
  });

  // A tile that fills in while it is shown fills in the lightbox too.
  grid.addEventListener("tile:updated", function (event) {
    // Its JSON carries no lightbox fragments: ask again for the rendered ones.
    if (dialog.open && event.target === current) show(current);
  });

  dialog.addEventListener("keydown", function (event) {
    if (event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "ArrowRight") { event.preventDefault(); move(1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); move(-1); }
    else if (event.key === "?") { event.preventDefault(); toggleHelp(); }
    else if (event.key === "i") { event.preventDefault(); toggleDetails(); }
  });
  // A click on the backdrop (the dialog itself, outside its inner box) closes it.
  dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", function () {
    toggleHelp(false);
    request += 1;
    if (current && current.isConnected) {
      var link = current.querySelector(".tile-link");
      link.focus();
      current.scrollIntoView({ block: "nearest" });
    }
  });
  prevButton.addEventListener("click", function () { move(-1); });
  nextButton.addEventListener("click", function () { move(1); });
  keysButton.addEventListener("click", function () { toggleHelp(); });
  document.getElementById("lightbox-close").addEventListener("click", function () { dialog.close(); });

  // Swipe left or right on a touch screen.
  var touchX = null;
  media.addEventListener("touchstart", function (event) { touchX = event.changedTouches[0].clientX; }, { passive: true });
  media.addEventListener("touchend", function (event) {
    if (touchX === null) return;
    var dx = event.changedTouches[0].clientX - touchX;
    touchX = null;
    if (Math.abs(dx) > 60) move(dx < 0 ? 1 : -1);
  });

  favouriteForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var tile = current;
    var button = favouriteForm.querySelector("button");
    button.disabled = true;
    T.fetchJSON(favouriteForm.action, { method: "POST", body: new FormData(favouriteForm) })
      .then(function (answer) {
        setTileFavourite(tile, answer.favourite);
        if (tile === current) renderFavourite(answer.favourite);
        say(answer.favourite ? "Added to favourites." : "Removed from favourites.");
      }, function () { say("Could not change the favourite; try again."); })
      .then(function () { button.disabled = false; });
  });
})();
