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

  // A log row's episode number.
  function number(row) {
    const cell = row.querySelector("td.number");
    return cell ? cell.textContent : null;
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
          over = true;
          stop();
        } else if (fresh) {
          // A call a person opened in the log stays open, by its
          // episode's number.
          const opened = new Set(
            Array.from(live.querySelectorAll("table.log tr"))
              .filter((row) => row.querySelector("details[open]"))
              .map((row) => number(row))
          );
          live.innerHTML = fresh.innerHTML;
          live.querySelectorAll("table.log tr").forEach((row) => {
            const call = row.querySelector("details");
            if (call && opened.has(number(row))) {
              call.open = true;
            }
          });
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

  // A browser holds six connections to a host over HTTP/1, across its
  // tabs, and each page following a run holds one: a page follows the
  // run only while it is shown, and lets go as a form of it is sent (the
  // post, and the page after it, must not wait behind the others).
  let source = null;
  // Whether the run has ended, or the page stopped following it.
  let over = false;

  function follow() {
    if (source || over) {
      return;
    }
    source = new EventSource(live.dataset.live);
    source.addEventListener("changed", refresh);
    source.addEventListener("ended", function () {
      over = true;
      stop();
    });
  }

  function stop() {
    if (source) {
      source.close();
      source = null;
    }
  }

  shown = ticketOf(live);
  if (!document.hidden) {
    follow();
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      stop();
    } else if (!over) {
      // What changed while it was hidden is fetched at once.
      follow();
      refresh();
    }
  });
  window.addEventListener("pagehide", stop);
  document.addEventListener("submit", stop);
  live.addEventListener("focusout", function () {
    if (again) {
      refresh();
    }
  });
})();
