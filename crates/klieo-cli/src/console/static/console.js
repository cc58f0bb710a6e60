// The klieo console's only script: a run's page follows the run. The
// server says when the run changed (server-sent events); the page then
// asks for itself again and swaps in its live part. What it swaps in is
// the server's own escaped HTML: no text from a model or a tool is ever
// turned into markup here.
"use strict";

(function () {
  const live = document.querySelector("[data-live]");
  if (!live || !live.dataset.live || !window.EventSource) {
    return;
  }
  const source = new EventSource(live.dataset.live);
  let fetching = false;
  source.addEventListener("changed", async function () {
    if (fetching) {
      return;
    }
    fetching = true;
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.querySelector("[data-live]");
        if (fresh) {
          live.innerHTML = fresh.innerHTML;
        }
      }
    } finally {
      fetching = false;
    }
  });
  source.addEventListener("ended", function () {
    source.close();
  });
})();
