// Shared by the studio (Create) and a generation's page: asking for JSON, swapping in the
// fragments the server rendered with the pages' own templates, and the clocks of work in
// progress. No markup is built here: whatever is shown comes from a template.
(function () {
  "use strict";

  function fetchJSON(url, options) {
    var init = Object.assign({ credentials: "same-origin" }, options || {});
    init.headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.status = response.status;
          error.body = body;
          throw error;
        }
        return body;
      });
    });
  }

  // A form's own fields (its CSRF token among them), posted as the form would post them.
  function postForm(form) {
    return fetchJSON(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
    });
  }

  // One element made from server-rendered HTML.
  function fromHTML(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function replace(node, html) {
    var fresh = fromHTML(html);
    node.replaceWith(fresh);
    paint(fresh);
    return fresh;
  }

  function fill(container, html) {
    container.innerHTML = html;
    paint(container);
  }

  // Colours come as data (a style attribute would break the Content-Security-Policy).
  function paint(root) {
    root.querySelectorAll("[data-color]").forEach(function (node) {
      node.style.setProperty("--tile-color", node.dataset.color);
    });
  }

  // The clocks count on from the server's elapsed seconds, each from when it arrived.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-elapsed]").forEach(function (node) {
      if (!node.dataset.since) node.dataset.since = String(now - Number(node.dataset.elapsed) * 1000);
      var seconds = Math.max(0, Math.floor((now - Number(node.dataset.since)) / 1000));
      if (node.tagName === "PROGRESS") node.value = Math.min(seconds, Number(node.max));
      else node.textContent = seconds + " s";
    });
  }

  // 404: deleted, made private, or held for review since; asking again will not bring it back.
  function isGone(error) { return Boolean(error) && error.status === 404; }

  paint(document);
  tick();
  window.setInterval(tick, 1000);

  window.KontextLive = {
    fetchJSON: fetchJSON,
    fill: fill,
    isGone: isGone,
    postForm: postForm,
    replace: replace,
    fromHTML: fromHTML,
    paint: paint,
  };
})();
