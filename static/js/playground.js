// The studio: the form stays put and keeps its values; each Generate adds a job card (rendered
// by the server's template) on top of the list, and the cards in progress are refreshed from
// the server until done. Without this script the form posts and opens the generation's page.
(function () {
  "use strict";
  var L = window.KontextLive;
  var form = document.getElementById("generation-form");
  if (!form || !L) return;
  var prompt = form.elements.prompt;
  var button = document.getElementById("generate-button");
  var jobs = document.getElementById("jobs");
  var empty = document.getElementById("jobs-empty");
  var studioStatus = document.getElementById("studio-status");
  var formError = document.getElementById("form-error");
  var advanced = document.getElementById("advanced");
  var summary = document.getElementById("advanced-summary");
  var guidance = form.elements.guidance_scale;
  var guidanceValue = document.getElementById("guidance-value");
  var seed = form.elements.seed;
  var seedLock = document.getElementById("seed-lock");
  var seedRandom = document.getElementById("seed-random");
  var DRAFT = "kontext-studio-draft";

  // ---- The form ----------------------------------------------------------------------

  document.querySelectorAll(".example-prompt").forEach(function (example) {
    example.addEventListener("click", function () {
      prompt.value = example.dataset.prompt;
      prompt.dispatchEvent(new Event("input", { bubbles: true }));
      prompt.focus();
    });
  });

  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // The cost line follows the number of images: "3 images × $0.04 = $0.12".
  var costLine = document.getElementById("cost-line");
  var count = form.elements.num_images;
  function money(value) {
    // Two decimals unless the price has more (a fraction of a cent).
    var whole = Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;
    return "$" + (whole ? value.toFixed(2) : String(Math.round(value * 10000) / 10000));
  }
  function updateCost() {
    var price = Number(costLine.dataset.price);
    // The limits are the form field's, rendered on the input.
    var min = Number(count.min), max = Number(count.max);
    var raw = count.value.trim();
    var n = raw === "" ? 1 : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      costLine.textContent = "Choose " + min + " to " + max + " images.";
      return;
    }
    var total = document.createElement("strong");
    total.textContent = money(price * n);
    costLine.replaceChildren(n + (n === 1 ? " image" : " images") + " × " + money(price) + " = ", total);
  }

  function seedIsSet() { return seed.value.trim() !== "" && seed.value.trim() !== "-1"; }

  function updateAdvanced() {
    guidanceValue.value = guidance.value;
    summary.textContent = "guidance " + guidance.value + " · safety " +
      form.elements.safety_tolerance.value + " · seed " + (seedIsSet() ? seed.value.trim() : "random");
    seedLock.setAttribute("aria-pressed", seedIsSet() ? "true" : "false");
  }

  // Lock keeps one seed for every Generate (the latest job's, or a new one); Random empties it.
  seedLock.hidden = false;
  seedRandom.hidden = false;
  seedLock.addEventListener("click", function () {
    if (seedIsSet()) {
      seed.value = "";
    } else {
      var latest = jobs.querySelector(".job-card [data-job-settings] [name=seed]");
      seed.value = latest ? latest.value : String(Math.floor(Math.random() * 2147483647));
    }
    clearError(seed);
    updateAdvanced();
    saveDraft();
  });
  seedRandom.addEventListener("click", function () {
    seed.value = "";
    clearError(seed);
    updateAdvanced();
    saveDraft();
  });

  form.addEventListener("input", function (event) {
    if (event.target === count) updateCost();
    if (event.target.name) clearError(event.target);
    updateAdvanced();
    saveDraft();
  });
  form.addEventListener("change", function () { updateAdvanced(); saveDraft(); });

  // ---- Checks in the browser, in the server's words ----------------------------------

  function errorBox(control) { return document.getElementById(control.name + "-error"); }

  function showError(control, message) {
    var box = errorBox(control);
    box.textContent = message;
    box.hidden = false;
    var field = control.closest(".field");
    if (field) field.classList.add("has-error");
    form.querySelectorAll('[name="' + control.name + '"]').forEach(function (c) {
      c.setAttribute("aria-invalid", "true");
    });
  }

  function clearError(control) {
    var box = errorBox(control);
    if (!box || box.hidden) return;
    box.hidden = true;
    box.textContent = "";
    var field = control.closest(".field");
    if (field) field.classList.remove("has-error");
    form.querySelectorAll('[name="' + control.name + '"]').forEach(function (c) {
      c.removeAttribute("aria-invalid");
    });
  }

  // The messages are the form fields' own, rendered on each input by the server.
  function problem(control) {
    var v = control.validity;
    if (v.valueMissing || (control.required && control.value.trim() === "" && control.tagName === "TEXTAREA")) {
      return control.dataset.requiredMessage;
    }
    if (v.badInput || v.stepMismatch || v.typeMismatch) return control.dataset.invalidMessage;
    if (v.rangeOverflow || v.rangeUnderflow) return control.dataset.rangeMessage;
    if (v.tooLong) return control.dataset.invalidMessage;
    return "";
  }

  function checkInBrowser() {
    var first = null;
    Array.prototype.forEach.call(form.elements, function (control) {
      if (!control.name || control.type === "hidden" || !control.willValidate) return;
      var message = problem(control);
      if (message) {
        showError(control, message);
        if (!first) first = control;
      }
    });
    if (first) {
      if (advanced.contains(first)) advanced.open = true;
      first.focus();
      return false;
    }
    return true;
  }

  function showServerErrors(errors) {
    var first = null;
    Object.keys(errors).forEach(function (name) {
      var text = errors[name].join(" ");
      if (name === "__all__") {
        formError.textContent = text;
        formError.hidden = false;
        return;
      }
      var control = form.elements[name];
      if (control && control.length && !control.tagName) control = control[0];  // radios
      if (!control) return;
      showError(control, text);
      if (!first) first = control;
    });
    if (first) {
      if (advanced.contains(first)) advanced.open = true;
      first.focus();
    }
  }

  // ---- Sending -----------------------------------------------------------------------

  var busy = false;
  function setBusy(on) {
    busy = on;
    button.disabled = on;
    button.textContent = on ? "Sending…" : "Generate";
  }

  // Post a form (the studio's own, or a card's Rerun, Vary or Retry) and put its job on top.
  function submitJob(source) {
    // A second click (or Ctrl+Enter) while a request is on its way would create, and
    // charge, a second batch.
    if (busy) return;
    setBusy(true);
    formError.hidden = true;
    studioStatus.textContent = "";
    L.postForm(source).then(function (body) {
      addCard(body.job.html);
      studioStatus.textContent = "Sent: the new job is at the top of Your jobs.";
    }, function (error) {
      if (error.status === 400 && error.body && error.body.errors) {
        if (source === form) showServerErrors(error.body.errors);
        else {
          studioStatus.textContent = Object.keys(error.body.errors).map(function (name) {
            return error.body.errors[name].join(" ");
          }).join(" ");
        }
      } else if (error.status === 403) {
        studioStatus.textContent = "Your session has ended: reload the page and sign in again.";
      } else {
        studioStatus.textContent = "Could not reach the server; nothing was sent. Try again.";
      }
    }).then(function () { setBusy(false); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy || !checkInBrowser()) return;
    submitJob(form);
  });

  // ---- The cards ---------------------------------------------------------------------

  function addCard(html) {
    var card = L.fromHTML(html);
    var old = document.getElementById(card.id);
    if (old) old.remove();
    card.classList.add("is-new");
    jobs.prepend(card);
    L.paint(card);
    empty.hidden = true;
    // A new job is followed closely from the start, whatever the pace of the older ones.
    delay = 1000;
    follow(true);
  }

  jobs.addEventListener("submit", function (event) {
    var target = event.target;
    if (target.matches("[data-studio-submit]")) {
      event.preventDefault();
      submitJob(target);
    } else if (target.matches("[data-studio-favourite]")) {
      event.preventDefault();
      var card = target.closest(".job-card");
      L.postForm(target).then(function () { refresh([card.dataset.jobId], true); },
        function () { studioStatus.textContent = "Could not save the favourite; try again."; });
    }
  });

  // "Use settings": the card's Rerun form holds the job's settings; they go into the form.
  jobs.addEventListener("click", function (event) {
    var link = event.target.closest("[data-use-settings]");
    if (!link) return;
    event.preventDefault();
    var settings = link.closest(".job-card").querySelector("[data-job-settings]");
    Array.prototype.forEach.call(settings.querySelectorAll("input[type=hidden]"), function (input) {
      if (input.name === "csrfmiddlewaretoken") return;
      setValue(input.name, input.value);
    });
    updateCost();
    updateAdvanced();
    saveDraft();
    form.scrollIntoView({ block: "nearest" });
    prompt.focus();
  });

  function setValue(name, value) {
    var control = form.elements[name];
    if (!control) return;
    if (control instanceof RadioNodeList) {
      Array.prototype.forEach.call(control, function (radio) { radio.checked = radio.value === value; });
    } else {
      control.value = value;
    }
    clearError(control.length && !control.tagName ? control[0] : control);
  }

  var timer = null;
  var delay = 1000;
  function inFlight() {
    return Array.prototype.map.call(jobs.querySelectorAll('.job-card[data-finished="0"]'),
      function (card) { return card.dataset.jobId; });
  }

  function refresh(ids, always) {
    var query = ids.map(function (id) { return "id=" + encodeURIComponent(id); }).join("&");
    return L.fetchJSON(jobs.dataset.jobsUrl + "?" + query).then(function (body) {
      var seen = {};
      var changed = false;
      body.jobs.forEach(function (job) {
        seen[job.id] = true;
        var card = document.getElementById("job-" + job.id);
        if (!card) return;
        // Only a card that changed is redrawn: a revealed or focused one stays as it is.
        if (always || card.dataset.key !== job.key) {
          changed = true;
          var focused = card.contains(document.activeElement) && document.activeElement.textContent;
          var fresh = L.replace(card, job.html);
          if (focused) {
            var again = Array.prototype.filter.call(fresh.querySelectorAll("button, a"), function (n) {
              return n.textContent === focused;
            })[0];
            if (again) again.focus();
          }
        }
      });
      ids.forEach(function (id) {
        var card = document.getElementById("job-" + id);
        if (card && !seen[id]) {
          card.dataset.finished = "1";
          card.querySelector(".job-meta").textContent = "No longer available to you.";
        }
      });
      return changed;
    });
  }

  // One loop follows the cards in progress; a restart (a new job) ends the one before.
  var loop = 0;
  function follow(restart) {
    if (timer && !restart) return;
    if (timer) window.clearTimeout(timer);
    var mine = ++loop;
    timer = window.setTimeout(function run() {
      if (mine !== loop) return;
      var ids = inFlight();
      if (!ids.length) { timer = null; return; }
      refresh(ids, false).then(function (changed) {
        // Quick while things move; slower, up to 5 s, while a long wait goes on unchanged.
        delay = changed ? 1000 : Math.min(delay * 1.25, 5000);
        studioStatus.textContent = studioStatus.textContent.indexOf("Lost contact") === 0 ? "" : studioStatus.textContent;
      }, function () {
        delay = Math.min(delay * 2, 15000);
        studioStatus.textContent = "Lost contact with the server; retrying…";
      }).then(function () { if (mine === loop) timer = window.setTimeout(run, delay); });
    }, delay);
  }

  // ---- The draft: the form as it was left, back when Create is opened again ----------

  function saveDraft() {
    try {
      var values = {};
      new FormData(form).forEach(function (value, name) {
        if (name !== "csrfmiddlewaretoken") values[name] = String(value);
      });
      window.sessionStorage.setItem(DRAFT, JSON.stringify(values));
    } catch (e) { /* storage refused (private mode): the form simply starts fresh */ }
  }

  function restoreDraft() {
    // The server's values win: "use these settings" (?from=) and a form sent back with errors.
    if (new URLSearchParams(window.location.search).has("from")) return;
    if (form.querySelector(".field-error:not([hidden])") || !formError.hidden) return;
    var saved = null;
    try { saved = JSON.parse(window.sessionStorage.getItem(DRAFT) || "null"); } catch (e) { saved = null; }
    if (!saved) return;
    Object.keys(saved).forEach(function (name) { setValue(name, saved[name]); });
  }

  restoreDraft();
  updateCost();
  updateAdvanced();
  window.addEventListener("pageshow", function () { setBusy(false); });
  follow();
})();
