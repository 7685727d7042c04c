/* History charts, drawn by the chart module the simulate report uses too (charts.js on the vendored uPlot): the
   bank's SOC (the BMS's estimate with its bound, beside the inverter's view), voltage with CVL/DVL, current with
   CCL/DCL, the bank's current split (each module's current), power, energy per day (kWh bars), cell voltage spread
   and temperatures, from GET /api/history (JSON columns) and /api/history/daily. The time axis is date and clock
   (local time, a dotted line at midnight). Zooming re-reads the visible range at a finer step; the export links ask
   the same API for CSV or Parquet of the visible range. */
"use strict";
(() => {
  const { api, set } = ml;
  const CHARTS = [
    { id: "soc", title: "SOC (%): the BMS's estimate and its bound, beside the inverter's view",
      series: [["soc_pct", "SOC (BMS)", "#1e88e5", 2], ["soc_lo", "BMS SOC - bound", "#90caf9", 1, [3, 3]],
               ["soc_hi", "BMS SOC + bound", "#90caf9", 1, [3, 3]], ["peer_soc_pct", "SOC (inverter's view)", "#8e24aa", 1.5]],
      bands: [{ series: [2, 1], fill: "rgba(30,136,229,0.15)" }] },
    { id: "voltage", title: "Voltage (V) with the charge and discharge voltage limits",
      series: [["voltage_v", "voltage", "#43a047", 2], ["cvl_v", "CVL", "#e53935", 1, [6, 3]], ["dvl_v", "DVL", "#fb8c00", 1, [6, 3]]] },
    { id: "current", title: "Current (A, + charging) with the charge and discharge current limits",
      series: [["current_a", "current", "#3949ab", 2], ["ccl_a", "CCL", "#e53935", 1, [6, 3]], ["dcl_neg", "-DCL", "#fb8c00", 1, [6, 3]]] },
    { id: "current_split" },  /* filled from module=all */
    { id: "power", title: "Power (W, + charging)", series: [["power_w", "power", "#00897b", 1.5]] },
    { id: "daily" },  /* filled from /api/history/daily */
    { id: "cell_spread", title: "Cell voltage spread (V)",
      series: [["cell_max_v", "highest cell", "#d81b60", 1.5], ["cell_min_v", "lowest cell", "#1e88e5", 1.5]] },
    { id: "temperature", title: "Temperature (\u00b0C)",
      series: [["cell_temp_max_c", "warmest cell", "#d81b60", 1.5], ["cell_temp_min_c", "coolest cell", "#1e88e5", 1.5],
               ["temperature_c", "bank", "#6d4c41", 1.5]] },
  ];
  const DERIVED = { soc_lo: ["soc_pct", "soc_bound_pct", -1], soc_hi: ["soc_pct", "soc_bound_pct", 1], dcl_neg: ["dcl_a", null, -1] };
  const FIELDS = [...new Set(CHARTS.flatMap((c) => (c.series || []).flatMap(([f]) => (DERIVED[f] ? DERIVED[f].filter((x) => typeof x === "string") : [f]))))];
  const container = document.getElementById("charts");
  let view = { from: null, to: null, step: null };
  let following = true;  /* the last span up to now, re-read every 10 s; false once zoomed or a range given */

  function exportLinks() {
    const q = (format) => "/api/history?" + new URLSearchParams({
      from: String(view.from), to: String(view.to), fields: FIELDS.join(","), step: String(view.step), format });
    document.getElementById("csv").href = q("csv");
    document.getElementById("parquet").href = q("parquet");
    set("shown", `${new Date(view.from * 1000).toLocaleString()} .. ${new Date(view.to * 1000).toLocaleString()}, ` +
      `step ${view.step} s`);
  }

  function column(doc, f) {
    const d = DERIVED[f], t = doc.columns.t_s;
    if (!d) return doc.columns[f] || t.map(() => null);
    const a = doc.columns[d[0]] || [], b = d[1] ? doc.columns[d[1]] || [] : null;
    return t.map((_, i) => (a[i] === null || a[i] === undefined ? null
      : b ? (b[i] === null || b[i] === undefined ? null : a[i] + d[2] * b[i]) : d[2] * a[i]));
  }

  /* each module's current on the bank's time buckets (the long format of module=all pivoted) */
  function split(doc, modules) {
    const at = new Map(doc.columns.t_s.map((t, i) => [t, i]));
    const ids = [...new Set(modules.columns.module_id)].sort((a, b) => a - b);
    const series = ids.map((id) => ({ label: `module ${id}`, module: id - 1, values: doc.columns.t_s.map(() => null) }));
    const index = new Map(ids.map((id, k) => [id, k]));
    modules.columns.t_s.forEach((t, i) => {
      const row = at.get(t);
      if (row !== undefined) series[index.get(modules.columns.module_id[i])].values[row] = modules.columns.current_a[i];
    });
    return { kind: "time", id: "current_split", title: "The bank's current split: each module's current (A)", series,
             note: ids.length ? "Modules that overlap differ in colour and dash; click a name in the legend to hide it." : "no module samples in this range" };
  }

  function daily(days) {
    return { kind: "bars", id: "daily", title: "Energy per day (kWh)", days: days.days,
             series: [{ label: "charged", color: "#2ca02c", values: days.charged_kwh },
                      { label: "discharged", color: "#d62728", values: days.discharged_kwh }] };
  }

  function draw(doc, modules, days) {
    const charts = CHARTS.map((c) => {
      if (c.id === "current_split") return split(doc, modules);
      if (c.id === "daily") return daily(days);
      return { kind: "time", id: c.id, title: c.title, bands: c.bands,
               series: c.series.map(([f, label, color, width, dash]) => ({ label, color, width, dash, values: column(doc, f) })) };
    });
    mlCharts.render(container, { utc: false, t: doc.columns.t_s, charts }, {
      onZoom: (from, to) => load(from, to),
      onReset: () => load(null, null),
      xRange: (lo, hi) => (view.from !== null ? [view.from, view.to] : [lo, hi]),
    });
    document.body.dataset.points = String(doc.columns.t_s.length);
    document.body.dataset.modules = String(new Set(modules.columns.module_id).size);
    document.body.dataset.days = String(days.days.length);
    document.body.dataset.loaded = String(Date.now());
  }

  async function load(from, to) {
    following = from === null;
    if (from === null) {
      const span = Number(document.getElementById("span").value);
      const now = Date.now() / 1000;
      from = Math.floor(now - span);
      to = Math.ceil(now);
    }
    const q = new URLSearchParams({ fields: FIELDS.join(","), from: String(from), to: String(to) });
    try {
      const doc = await api("GET", "/history?" + q.toString());
      const range = { from: String(doc.from), to: String(doc.to), step: String(doc.step_s) };
      const dayFrom = Math.min(doc.from, doc.to - 7 * 86400);  /* at least a week of bars */
      const [modules, days] = await Promise.all([
        api("GET", "/history?" + new URLSearchParams({ ...range, fields: "current_a", module: "all" })),
        api("GET", "/history/daily?" + new URLSearchParams({ from: String(dayFrom), to: String(doc.to),
                                                            utc_offset: String(-new Date().getTimezoneOffset()) })),
      ]);
      view = { from: doc.from, to: doc.to, step: doc.step_s };
      draw(doc, modules, days);
      exportLinks();
      set("msg", doc.columns.t_s.length ? "" : "no samples in this range yet");
    } catch (err) {
      set("msg", err.message);
    }
  }

  document.getElementById("range").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = document.getElementById("from").value, t = document.getElementById("to").value;
    if (f && t) load(Math.floor(new Date(f).getTime() / 1000), Math.ceil(new Date(t).getTime() / 1000));
    else load(null, null);
  });
  document.addEventListener("DOMContentLoaded", () => ml.conn("", true));
  load(null, null);
  setInterval(() => { if (following) load(null, null); }, 10000);
})();
