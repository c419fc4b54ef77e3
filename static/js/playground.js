// The playground form: example prompts, Ctrl+Enter, and no double submission.
(function () {
  "use strict";
  var form = document.getElementById("generation-form");
  if (!form) return;
  var prompt = form.querySelector("[name=prompt]");
  var button = document.getElementById("generate-button");

  document.querySelectorAll(".example-prompt").forEach(function (example) {
    example.addEventListener("click", function () {
      prompt.value = example.dataset.prompt;
      prompt.focus();
    });
  });

  prompt.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // The cost line follows the number of images: "3 images × $0.04 = $0.12".
  var costLine = document.getElementById("cost-line");
  var count = form.querySelector("[name=num_images]");
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
  if (costLine && count) {
    count.addEventListener("input", updateCost);
    updateCost();
  }

  var busy = false;
  form.addEventListener("submit", function (event) {
    // A second click (or Ctrl+Enter) while the first request is on its way would create, and
    // charge, a second batch.
    if (busy) { event.preventDefault(); return; }
    busy = true;
    button.disabled = true;
    button.textContent = "Sending…";
  });
  window.addEventListener("pageshow", function () {
    busy = false;
    button.disabled = false;
    button.textContent = "Generate";
  });
})();
