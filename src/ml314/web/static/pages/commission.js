/* Commissioning: the on-site steps ticked here (kept in this browser), the measured checks from GET /api/commission,
   refreshed every 5 s and on "Check again"; the installer report link carries the ticked steps. */
"use strict";
(() => {
  const { api, esc, fmt, set } = ml;
  const KEY = "ml314.commission.confirmed";
  let confirmed = new Set(JSON.parse(localStorage.getItem(KEY) || "[]"));
  let stepsDrawn = false;

  function confirmParam() { return [...confirmed].join(","); }

  function drawSteps(doc) {
    const byKey = Object.fromEntries(doc.checks.map((c) => [c.key, c]));
    document.getElementById("site").innerHTML = doc.site_steps.map((s) => {
      const c = byKey["site_" + s.key];
      return `<li><label><input type="checkbox" data-key="${esc(s.key)}"${confirmed.has(s.key) ? " checked" : ""}> ` +
        `<b>${esc(s.title)}</b></label> <small>(${esc(s.manual_ref)})</small><br>` +
        `<small>${esc(c ? c.instruction : "")}</small></li>`;
    }).join("");
    stepsDrawn = true;
  }

  function draw(doc) {
    if (!stepsDrawn) drawSteps(doc);
    const measured = doc.checks.filter((c) => !c.key.startsWith("site_"));
    document.querySelector("#checks tbody").innerHTML = measured.map((c) =>
      `<tr data-key="${esc(c.key)}" data-result="${esc(c.result)}"><td><span class="badge ${esc(c.result)}">` +
      `${esc(c.result.toUpperCase())}</span></td><td class="l"><b>${esc(c.title)}</b><br><small>` +
      `${esc(c.manual_ref)}</small></td><td class="l"><ul>${c.evidence.map((e) => `<li>${esc(e)}</li>`).join("")}` +
      `</ul>${c.result === "pass" ? "" : `<div class="ins">${esc(c.instruction)}</div>`}</td></tr>`).join("");
    document.getElementById("overall").innerHTML =
      `Result: <span class="badge ${esc(doc.result)}">${esc(doc.result.toUpperCase())}</span>`;
    set("counts", Object.entries(doc.counts).filter(([, n]) => n).map(([r, n]) => `${n} ${r}`).join(", "));
    document.querySelector("#heard tbody").innerHTML = ["can", "rs485"].map((port) => {
      const h = doc.heard[port];
      return `<tr><td class="l">${port.toUpperCase()}</td><td class="l">${esc(doc.protocols[port] || "none")}</td>` +
        `<td class="l">${h ? esc(h.named) : "not listened"}</td><td>${h ? h.heard : "-"}</td></tr>`;
    }).join("");
    document.querySelector("#modules tbody").innerHTML = doc.modules.map((m) =>
      `<tr><td>${m.position}</td><td>${m.id}</td><td class="l">${esc(m.serial)}</td>` +
      `<td class="l">${esc(m.firmware || "-")}</td><td>${fmt(m.soc_pct, 0)}</td><td>${fmt(m.soh_pct, 0)}</td>` +
      `<td>${m.cell_spread_v === null ? "-" : fmt(m.cell_spread_v * 1000, 0)}</td>` +
      `<td>${m.termination_on ? "ON" : "OFF"}</td><td class="l">${m.online ? "online" : "OFFLINE"}</td></tr>`).join("");
    document.getElementById("report").href = "/api/commission/report.html?confirm=" + encodeURIComponent(confirmParam());
    document.body.dataset.loaded = String(Date.now());
  }

  async function load() {
    try {
      draw(await api("GET", "/commission?confirm=" + encodeURIComponent(confirmParam())));
      set("msg", "");
    } catch (err) {
      set("msg", err.message);
    }
  }

  document.getElementById("site").addEventListener("change", (ev) => {
    const box = ev.target.closest("input[type=checkbox]");
    if (!box) return;
    if (box.checked) confirmed.add(box.dataset.key); else confirmed.delete(box.dataset.key);
    localStorage.setItem(KEY, JSON.stringify([...confirmed]));
    load();
  });
  document.getElementById("again").addEventListener("click", load);
  document.addEventListener("DOMContentLoaded", () => ml.conn("polling every 5 s", true));
  load();
  setInterval(load, 5000);
})();
