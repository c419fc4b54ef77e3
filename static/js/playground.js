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

  form.addEventListener("submit", function () {
    // A second click while the first request is on its way would create a second image.
    button.disabled = true;
    button.textContent = "Sending…";
  });
  window.addEventListener("pageshow", function () {
    button.disabled = false;
    button.textContent = "Generate";
  });
})();
