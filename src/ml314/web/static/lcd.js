// Draws the LCD screen JSON of GET /api/lcd and posts touches to POST /api/lcd/keys: the page model lives on the
// server (ml314.hmi.lcd), this file only draws it. The nav bar back to the PC software is common.js's (the pages').
"use strict";
(function () {
  const KEYS = { Enter: "ok", Backspace: "del", Escape: "back", ArrowUp: "up", ArrowDown: "down",
                 PageUp: "up", PageDown: "down" };
  const params = new URLSearchParams(location.search);
  let moduleId = Number(params.get("module") || "1");
  let screen = null;
  let shownButtons = "";
  let shownRows = "";
  const $ = (id) => document.getElementById(id);
  const conn = (text, ok) => { if (typeof ml !== "undefined") ml.conn(text, ok); };  // common.js (the nav bar)

  function drawRows(list) {
    const signature = JSON.stringify(list);
    if (signature === shownRows) return;  // unchanged: keep the elements
    shownRows = signature;
    const rows = $("rows");
    rows.replaceChildren();
    for (const r of list) {
      const tr = document.createElement("tr");
      const label = document.createElement("td");
      label.className = "label";
      label.textContent = r.label;
      const value = document.createElement("td");
      value.className = "value" + (r.mark ? " mark-" + r.mark.replace(" ", "-") : "");
      value.textContent = r.value + (r.mark === "max" || r.mark === "min" ? " (" + r.mark + ")" : "");
      tr.append(label, value);
      rows.append(tr);
    }
  }

  function draw(s) {
    screen = s;
    const lcd = $("lcd");
    lcd.classList.toggle("dimmed", s.dimmed);
    lcd.dataset.page = s.page;
    $("title").textContent = s.title;
    drawRows(s.rows);
    let notice = s.notice;
    if (s.restart_required && !/restart/.test(notice)) notice += (notice ? "  " : "") + "[restart required]";
    if (s.off) notice = "the module is off (its BMS is shut down): the LCD is dark";
    $("notice").textContent = notice;
    const signature = JSON.stringify(s.buttons);
    if (signature === shownButtons) return;  // unchanged: keep the elements (a click in flight is not lost)
    shownButtons = signature;
    const buttons = $("buttons");
    buttons.replaceChildren();
    for (const b of s.buttons) {
      const el = document.createElement("button");
      el.type = "button";
      el.textContent = b.label;
      el.dataset.key = b.key;
      el.disabled = !b.enabled;
      el.addEventListener("click", (ev) => { ev.stopPropagation(); press(b.key); });
      buttons.append(el);
    }
  }

  let sent = 0;
  let drawn = 0;
  async function call(url, options) {
    const n = ++sent;
    try {
      const r = await fetch(url, options);
      const doc = await r.json();
      if (!r.ok) throw new Error(doc.error ? doc.error.message : "HTTP " + r.status);
      $("link").textContent = "";
      conn("live", true);
      if (n < drawn) return;  // an older answer (a poll overtaken by a touch) never undoes a newer screen
      drawn = n;
      draw(doc);
    } catch (e) {
      $("link").textContent = "link: " + e.message;
      conn("disconnected: retrying", false);
    }
  }

  // Touches are sent one after the other, in order (fast typing loses no digit); polls wait while any is queued.
  let queue = Promise.resolve();
  let queued = 0;
  function press(key) {
    const k = screen && screen.dimmed ? "touch" : key;
    queued += 1;
    queue = queue.then(() => call("/api/lcd/keys", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ module: moduleId, key: k }),
    })).finally(() => { queued -= 1; });
  }

  function poll() { if (!queued) call("/api/lcd?module=" + moduleId); }

  async function modules() {
    const select = $("module");
    try {
      const r = await fetch("/api/bank");
      const doc = await r.json();
      for (const m of doc.bank.modules) {
        const o = document.createElement("option");
        o.value = String(m.address);
        o.textContent = String(m.address);
        select.append(o);
      }
    } catch (e) { /* the LCD still draws; the selector stays empty */ }
    select.value = String(moduleId);
    select.addEventListener("change", () => {
      moduleId = Number(select.value);
      history.replaceState(null, "", "?module=" + moduleId);
      poll();
    });
  }

  $("lcd").addEventListener("click", () => { if (screen && screen.dimmed) press("touch"); });
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLSelectElement) return;
    let key = KEYS[ev.key] || (/^[0-9]$/.test(ev.key) ? ev.key : null);
    if (screen && screen.dimmed) key = "touch";
    if (key) { ev.preventDefault(); press(key); }
  });
  modules();
  poll();
  setInterval(poll, 1000);
})();
