/* Shared by the PC-software pages: the nav bar, fetch helpers, the /api/live WebSocket, number formats. */
"use strict";
const ml = (() => {
  const PAGES = [["/", "Overview"], ["/panel", "Front panel"], ["/history", "History"], ["/events", "Event log"],
                 ["/diagnostics", "Diagnostics"], ["/settings", "Settings"], ["/lcd", "LCD"], ["/docs", "API"]];

  function nav() {
    const bar = document.getElementById("nav");
    if (!bar) return;
    const here = location.pathname;
    bar.innerHTML = "<strong>ML314-51.2-W08</strong>" + PAGES.map(([href, name]) =>
      `<a href="${href}"${href === here ? ' class="here"' : ""}>${name}</a>`).join("") +
      '<span id="conn" class="conn">connecting</span>';
  }

  function conn(text, ok) {
    const c = document.getElementById("conn");
    if (c) { c.textContent = text; c.className = "conn " + (ok ? "ok" : "bad"); }
  }

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
    const r = await fetch("/api" + path, init);
    let doc = null;
    try { doc = await r.json(); } catch (e) { doc = null; }
    if (!r.ok) {
      const err = (doc && doc.error) || { code: String(r.status), message: r.statusText, field: null };
      const e = new Error(err.message); e.status = r.status; e.error = err; throw e;
    }
    return doc;
  }

  /* /api/live: calls onMessage(msg) for each message; reconnects after a drop. */
  function live(onMessage, cells) {
    let ws = null;
    function open() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(`${proto}//${location.host}/api/live${cells ? "?cells=1" : ""}`);
      ws.onopen = () => conn("live", true);
      ws.onmessage = (m) => { try { onMessage(JSON.parse(m.data)); } catch (e) { console.error(e); } };
      ws.onclose = () => { conn("disconnected: retrying", false); setTimeout(open, 2000); };
    }
    open();
  }

  const fmt = (x, d) => (x === null || x === undefined || Number.isNaN(x)) ? "-" : Number(x).toFixed(d);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                                             "'": "&#39;" }[c]));
  function clock(wall_s) {
    return wall_s ? new Date(wall_s * 1000).toLocaleString() : "-";
  }
  function set(id, text) { const e = document.getElementById(id); if (e) e.textContent = text; }

  document.addEventListener("DOMContentLoaded", nav);
  return { api, live, fmt, esc, clock, set, conn };
})();
