/* The maintenance page: the schedule of Table 12-3 with reminders and a form to record work done
   (/api/maintenance), per-cell health from the history with its charts (/api/cell-health, charts.js on uPlot),
   and the storage advice. */
"use strict";
(() => {
  const { api, esc } = ml;
  const day = (t) => (t === null || t === undefined ? "never" : new Date(t * 1000).toLocaleDateString());
  const msg = (text) => { document.getElementById("msg").textContent = text || ""; };
  const list = (id, lines, empty) => {
    document.getElementById(id).innerHTML = (lines.length ? lines : [empty]).map((l) => `<li>${esc(l)}</li>`).join("");
  };

  async function schedule() {
    let doc;
    try { doc = await api("GET", "/maintenance"); } catch (e) { msg(e.message); ml.conn("API: " + e.message, false); return; }
    ml.conn("connected", true);  /* this page reads the REST API only (no live stream) */
    list("reminders", doc.reminders, "nothing due within 14 days");
    document.querySelector("#schedule tbody").innerHTML = doc.items.map((it) => `
      <tr data-item="${esc(it.key)}" data-status="${esc(it.status)}">
        <td class="l" title="${esc(it.steps.join("\n"))}">${esc(it.name)}${it.guided ? " (ml314 maintenance test)" : ""}</td>
        <td class="l">${esc(it.interval)}</td><td class="l">${esc(day(it.last_done_s))}</td>
        <td class="l">${esc(day(it.due_s))}</td><td class="l">${esc(it.status)}</td>
        <td class="l"><input class="by" placeholder="by" style="width:6rem"> <input class="note" placeholder="note">
          <button class="done">done</button></td></tr>`).join("");
    list("storage", doc.storage.flat(), "-");
    document.body.dataset.items = String(doc.items.length);
  }

  document.querySelector("#schedule tbody").addEventListener("click", async (ev) => {
    if (!ev.target.classList.contains("done")) return;
    const row = ev.target.closest("tr");
    try {
      await api("POST", "/maintenance/done", { item: row.dataset.item, by: row.querySelector(".by").value,
                                               note: row.querySelector(".note").value });
      msg("recorded");
      await schedule();
    } catch (e) { msg(e.message); }
  });

  function chart(id, title, cells, field, modules) {
    const x = Array.from({ length: 16 }, (_, i) => i + 1);
    const series = modules.map((m, i) => ({
      label: `module ${m}`, module: i,
      values: x.map((c) => { const row = cells.find((r) => r.module_id === m && r.cell === c); return row ? row[field] : null; }),
    }));
    return { kind: "xy", id, title, xlabel: "cell", x, series };
  }

  async function health(ev) {
    if (ev) ev.preventDefault();
    const days = Number(document.getElementById("days").value) || 7;
    const module = document.getElementById("module").value;
    let doc;
    try { doc = await api("GET", `/cell-health?days=${days}` + (module ? `&module=${Number(module)}` : "")); } catch (e) { list("findings", [e.message], "-"); return; }
    list("findings", doc.findings, doc.cells.length ? "no cell stands out" : "no cell voltages in the history yet");
    document.getElementById("health-span").textContent = `${doc.span_days.toFixed(1)} days read`;
    const modules = [...new Set(doc.cells.map((c) => c.module_id))];
    const charts = doc.cells.length ? [
      chart("first_top", `Charges in which the cell reached ${doc.top_v} V first`, doc.cells, "first_at_top", modules),
      chart("lowest_bottom", `Discharges below ${doc.bottom_v} V in which the cell was lowest`, doc.cells, "lowest_at_bottom", modules),
      chart("resistance", "Resistance over the module's median cell (dV/dI at current steps)", doc.cells, "resistance_ratio", modules),
      chart("self_discharge", "Self-discharge over the typical 2 %/month (trend in plateau rests)", doc.cells, "self_discharge_ratio", modules),
    ] : [];
    mlCharts.render(document.getElementById("health-charts"), { utc: false, t: [], charts });
    document.body.dataset.findings = String(doc.findings.length);
  }

  document.getElementById("health-form").addEventListener("submit", health);
  schedule();
  health();
})();
