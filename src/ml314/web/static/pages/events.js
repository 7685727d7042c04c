/* Event log: filter (module, kind, unacknowledged), newest first, acknowledge by POST /api/events/{id}/ack. */
"use strict";
(() => {
  const { api, esc, fmt, set } = ml;

  function query() {
    const q = new URLSearchParams({ limit: "500" });
    const module = document.getElementById("f-module").value;
    const kind = document.getElementById("f-kind").value;
    if (module !== "") q.set("module", module);
    if (kind) q.set("kind", kind);
    if (document.getElementById("f-unack").checked) q.set("unacknowledged", "true");
    return q.toString();
  }

  async function load() {
    try {
      const doc = await api("GET", "/events?" + query());
      const rows = doc.events.slice().reverse();
      document.querySelector("#events tbody").innerHTML = rows.map((e) =>
        `<tr class="level-${esc(e.level)}" data-id="${e.id}"><td>${e.id}</td><td>${fmt(e.t_s, 0)}</td>` +
        `<td>${e.module_id}</td><td class="l">${esc(e.kind)}</td><td class="l">${esc(e.level)}</td>` +
        `<td class="l">${esc(e.message)}</td><td class="l">` +
        (e.acknowledged ? "yes" : `<button class="ack" data-id="${e.id}">Acknowledge</button>`) + "</td></tr>").join("");
      set("count", `${doc.count} events`);
      document.body.dataset.loaded = String(Date.now());
    } catch (err) {
      set("msg", err.message);
    }
  }

  document.getElementById("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  document.getElementById("events").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.ack");
    if (!b) return;
    try {
      await api("POST", `/events/${b.dataset.id}/ack`);
      set("msg", `event ${b.dataset.id} acknowledged`);
    } catch (err) {
      set("msg", err.message);
    }
    load();
  });
  document.addEventListener("DOMContentLoaded", () => ml.conn("polling every 5 s", true));
  load();
  setInterval(load, 5000);
})();
