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
  // The call whose forms the person last saw, by its ticket.
  let shown = null;

  // The call the live part's decision forms decide, by their ticket;
  // none without forms.
  function ticketOf(part) {
    const field = part.querySelector('input[name="ticket"]');
    return field ? field.value : null;
  }

  // Another call waits where a person may be about to decide the one the
  // page showed (its forms may have gone meanwhile, the call decided
  // elsewhere): the new call's forms are not swapped in under their
  // pointer. What forms are left go dead (their ticket decides nothing
  // now), and the page says to load the new call. Built from text, never
  // markup.
  function moved() {
    live.querySelectorAll("button").forEach((button) => {
      button.disabled = true;
    });
    if (!document.querySelector("p.moved")) {
      const note = document.createElement("p");
      note.className = "moved";
      note.setAttribute("role", "alert");
      note.textContent = "The run has moved on: another call now waits. ";
      const reload = document.createElement("a");
      reload.href = window.location.pathname;
      reload.textContent = "Load it to read it before you decide.";
      note.appendChild(reload);
      live.prepend(note);
    }
  }

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
        const next = fresh ? ticketOf(fresh) : null;
        if (shown !== null && next !== null && next !== shown) {
          moved();
          source.close();
        } else if (fresh) {
          live.innerHTML = fresh.innerHTML;
          shown = next === null ? shown : next;
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

  shown = ticketOf(live);
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
