// A generation's page: follows its JSON form until it is finished, without reloading.
(function () {
  "use strict";
  var root = document.getElementById("generation");
  if (!root) return;
  var url = root.dataset.jsonUrl;
  var badge = document.getElementById("status-badge");
  var statusText = document.getElementById("status-text");
  var errorBox = document.getElementById("error-box");
  var errorText = document.getElementById("error-text");
  var images = document.getElementById("images");
  var delay = 1000;
  var shown = {};

  images.querySelectorAll("img").forEach(function (img) { shown[img.getAttribute("src")] = true; });

  function renderBadge(data) {
    var span = document.createElement("span");
    span.className = "badge badge-" + data.status;
    span.dataset.status = data.status;
    span.textContent = data.status_label || data.status;
    badge.replaceChildren(span);
    root.dataset.status = data.status;
  }

  function renderImage(image) {
    if (shown[image.url]) return;
    shown[image.url] = true;
    var placeholder = document.getElementById("placeholder");
    if (placeholder) placeholder.remove();
    var figure = document.createElement("figure");
    figure.className = "output";
    var link = document.createElement("a");
    link.href = image.url;
    var img = document.createElement("img");
    img.src = image.url;
    img.width = image.width;
    img.height = image.height;
    img.alt = document.querySelector(".prompt-text").textContent.slice(0, 120);
    link.appendChild(img);
    var caption = document.createElement("figcaption");
    caption.textContent = image.width + "×" + image.height + (image.nsfw ? " · flagged NSFW" : "") + " · ";
    var download = document.createElement("a");
    download.href = image.download_url;
    download.setAttribute("download", "");
    download.textContent = "Download original";
    caption.appendChild(download);
    figure.append(link, caption);
    images.appendChild(figure);
  }

  function render(data) {
    renderBadge(data);
    data.images.forEach(renderImage);
    if (data.error) {
      errorText.textContent = data.error;
      errorBox.hidden = false;
      var placeholder = document.getElementById("placeholder");
      if (placeholder) placeholder.remove();
    }
    statusText.textContent = data.finished ? "" : "Working on it: this page updates by itself.";
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        delay = 1000;
        render(data);
        if (!data.finished) window.setTimeout(poll, delay);
      })
      .catch(function () {
        // Keep trying, more slowly, and say so: the generation goes on on the server.
        delay = Math.min(delay * 2, 15000);
        statusText.textContent = "Lost contact with the server; retrying…";
        window.setTimeout(poll, delay);
      });
  }

  var copy = document.getElementById("copy-seed");
  if (copy) {
    copy.addEventListener("click", function () {
      var text = copy.dataset.copy;
      var done = function () { copy.textContent = "Copied"; window.setTimeout(function () { copy.textContent = "Copy seed"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { window.prompt("Seed:", text); });
      } else {
        window.prompt("Seed:", text);
      }
    });
  }

  if (root.dataset.status && ["completed", "failed", "timed_out"].indexOf(root.dataset.status) === -1) {
    window.setTimeout(poll, 500);
  }
})();
