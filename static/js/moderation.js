// The moderation queue and item pages: reveal on demand, keyboard decisions, bulk decisions.
// Decisions are posted with tiles.js's fetchJSON; each form's FormData carries its CSRF token.
(function () {
  "use strict";
  var T = window.KontextTiles;

  // Flagged images are fetched only when a moderator asks to see them.
  function reveal(media) {
    var real = media.querySelector(".mod-real");
    if (!real || media.classList.contains("revealed")) return;
    if (real.dataset.src) real.src = real.dataset.src;
    media.classList.add("revealed");
  }
  document.querySelectorAll(".mod-media").forEach(function (media) {
    ["mouseenter", "focus", "click"].forEach(function (name) {
      media.addEventListener(name, function () { reveal(media); });
    });
  });

  function typing(event) {
    var tag = (event.target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable;
  }
  function plainKey(event) {
    return !event.ctrlKey && !event.metaKey && !event.altKey && !typing(event);
  }
  // Every pending count on the page (the navigation's badge, the Queue tab, the summary)
  // follows the server's count after each decision.
  function showPending(count) {
    if (typeof count !== "number") return;
    document.querySelectorAll("[data-pending-count]").forEach(function (node) {
      node.textContent = String(count);
      var badge = node.closest(".count-badge, .nav-count");
      if (badge) badge.hidden = count === 0;
    });
  }
  function label(state) {
    return state === "approved" ? "Approved" : state === "rejected" ? "Rejected" : state;
  }

  // --- a single item's page -------------------------------------------------------------------
  var single = document.getElementById("moderation-item");
  if (single) {
    document.addEventListener("keydown", function (event) {
      if (!plainKey(event)) return;
      if (event.key === "a") { event.preventDefault(); document.getElementById("approve-button").click(); }
      else if (event.key === "r") { event.preventDefault(); document.getElementById("reject-button").click(); }
      else if (event.key === "j") {
        var skip = document.getElementById("skip-link");
        if (skip) { event.preventDefault(); skip.click(); }
      }
    });
    return;
  }

  // --- the queue ------------------------------------------------------------------------------
  var queue = document.getElementById("moderation-queue");
  if (!queue) return;
  var items = Array.prototype.slice.call(queue.querySelectorAll(".mod-item"));
  var bulkForm = document.getElementById("bulk-form");
  var bulkCount = document.getElementById("bulk-count");

  function selected() {
    return items.filter(function (item) {
      var box = item.querySelector("input[name=images]");
      return box && box.checked && !item.classList.contains("decided");
    });
  }
  var selectAll = document.getElementById("select-all");
  function undecidedBoxes() {
    return items.filter(function (item) { return !item.classList.contains("decided"); })
      .map(function (item) { return item.querySelector("input[name=images]"); })
      .filter(Boolean);
  }
  function updateCount() {
    if (!bulkCount) return;
    var boxes = undecidedBoxes();
    var count = selected().length;
    bulkCount.textContent = count + " of " + boxes.length + " selected";
    if (selectAll) {
      selectAll.checked = count > 0 && count === boxes.length;
      selectAll.indeterminate = count > 0 && count < boxes.length;
    }
  }
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      undecidedBoxes().forEach(function (box) { box.checked = selectAll.checked; });
      updateCount();
    });
  }
  queue.addEventListener("change", function (event) {
    if (event.target.name === "images") updateCount();
  });

  // Decided items dim in place rather than jump away, so the grid under the eye stays put.
  function markDecided(item, state) {
    item.classList.add("decided");
    item.dataset.moderation = state;
    var outcome = item.querySelector(".mod-outcome");
    if (outcome) outcome.textContent = label(state);
    var box = item.querySelector("input[name=images]");
    if (box) { box.checked = false; box.disabled = true; }
    item.querySelectorAll(".mod-actions button").forEach(function (button) { button.disabled = true; });
    updateCount();
  }
  function nextUndecided(from, step) {
    var index = items.indexOf(from);
    for (var i = index + step; i >= 0 && i < items.length; i += step) {
      if (!items[i].classList.contains("decided")) return items[i];
    }
    return null;
  }
  function showError(item, message) {
    var outcome = item.querySelector(".mod-outcome");
    if (outcome) outcome.textContent = message;
  }

  function decide(item, action) {
    var form = item.querySelector("form.mod-decide[action$='/" + action + "/']");
    if (!form || item.classList.contains("decided")) return;
    T.fetchJSON(form.getAttribute("action"), { method: "POST", body: new FormData(form) }).then(function (data) {
      markDecided(item, data.moderation);
      showPending(data.pending);
      var next = nextUndecided(item, 1) || nextUndecided(item, -1);
      if (next && document.activeElement && document.activeElement.closest(".mod-item") === item) next.focus();
    }).catch(function () {
      showError(item, "Could not save the decision; try again.");
    });
  }

  items.forEach(function (item) {
    item.querySelectorAll("form.mod-decide").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        decide(item, form.getAttribute("action").indexOf("/approve/") !== -1 ? "approve" : "reject");
      });
    });
    item.addEventListener("focus", function () {
      var media = item.querySelector(".mod-media");
      if (media) reveal(media);
    });
  });

  document.addEventListener("keydown", function (event) {
    if (!plainKey(event)) return;
    var current = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".mod-item") : null;
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      var target = current ? nextUndecided(current, event.key === "j" ? 1 : -1) : items.filter(function (i) { return !i.classList.contains("decided"); })[0];
      if (target) target.focus();
    } else if (current && (event.key === "a" || event.key === "r")) {
      event.preventDefault();
      decide(current, event.key === "a" ? "approve" : "reject");
    } else if (current && event.key === "x") {
      event.preventDefault();
      var box = current.querySelector("input[name=images]");
      if (box && !box.disabled) { box.checked = !box.checked; updateCount(); }
    } else if (current && event.key === "Enter" && event.target === current) {
      var open = current.querySelector(".mod-actions a");
      if (open) open.click();
    }
  });

  if (bulkForm) {
    bulkForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = selected();
      var action = event.submitter ? event.submitter.value : "approve";
      if (!chosen.length) { bulkCount.textContent = "Select images first (x or the checkboxes)."; return; }
      var verb = action === "approve" ? "Approve" : "Reject";
      if (!window.confirm(verb + " " + chosen.length + " image" + (chosen.length === 1 ? "" : "s") + "?")) return;
      var body = new FormData(bulkForm);
      body.set("action", action);
      // The count the moderator just confirmed; the server refuses the decision if it is off.
      body.set("confirm_count", String(chosen.length));
      // Not bulkForm.action: the buttons named "action" shadow that property (a RadioNodeList).
      T.fetchJSON(bulkForm.getAttribute("action"), { method: "POST", body: body }).then(function (data) {
        chosen.forEach(function (item) { markDecided(item, data.moderation); });
        showPending(data.pending);
        if (selectAll) selectAll.checked = false;
        bulkCount.textContent = data.changed + " " + label(data.moderation).toLowerCase();
      }).catch(function () {
        bulkCount.textContent = "Nothing changed: the decision could not be saved.";
      });
    });
  }
  updateCount();
})();
