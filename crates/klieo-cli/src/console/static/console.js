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
  let fetching = false;
  let again = false;

  // A person filling in a form of the live part (a reason, a result)
  // keeps it: the swap waits until they leave it.
  function busy() {
    return Array.from(live.querySelectorAll("input, textarea")).some(
      (field) => field === document.activeElement || field.value !== field.defaultValue
    );
  }

  async function refresh() {
    if (fetching || busy()) {
      again = true;
      return;
    }
    fetching = true;
    again = false;
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
      // A change that came while this one was fetched is fetched too.
      if (again) {
        refresh();
      }
    }
  }

  const source = new EventSource(live.dataset.live);
  source.addEventListener("changed", refresh);
  source.addEventListener("ended", function () {
    source.close();
  });
  live.addEventListener("focusout", function () {
    if (again) {
      refresh();
    }
  });
})();
