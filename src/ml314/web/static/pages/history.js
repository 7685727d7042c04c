/* History charts (uPlot, vendored): the bank's SOC (BMS beside the inverter's view), voltage with CVL/DVL,
   current with CCL/DCL, power, cell voltage and temperature spread, from GET /api/history (JSON columns). The
   time axis is date and clock (local time). Zooming re-reads the visible range at a finer step; the export links
   ask the same API for CSV or Parquet of the visible range. */
"use strict";
(() => {
  const { api, set } = ml;
  const CHARTS = [
    { title: "SOC (%)", series: [["soc_pct", "SOC (BMS)", "#1e88e5"], ["peer_soc_pct", "SOC (inverter's view)", "#8e24aa"]] },
    { title: "Voltage (V)", series: [["voltage_v", "voltage", "#43a047"], ["cvl_v", "CVL", "#e53935"], ["dvl_v", "DVL", "#fb8c00"]] },
    { title: "Current (A, + charging)", series: [["current_a", "current", "#3949ab"], ["ccl_a", "CCL", "#e53935"],
                                                 ["dcl_a", "DCL", "#fb8c00"]] },
    { title: "Power (W, + charging)", series: [["power_w", "power", "#00897b"]] },
    { title: "Cell voltage spread (V)", series: [["cell_max_v", "highest cell", "#d81b60"], ["cell_min_v", "lowest cell", "#1e88e5"]] },
    { title: "Temperature (\u00b0C)", series: [["cell_temp_max_c", "warmest cell", "#d81b60"], ["cell_temp_min_c", "coolest cell", "#1e88e5"],
                                              ["temperature_c", "bank", "#6d4c41"]] },
  ];
  const FIELDS = CHARTS.flatMap((c) => c.series.map((s) => s[0]));
  const plots = [];
  const sync = uPlot.sync("history");
  let view = { from: null, to: null, step: null };
  let following = true;  /* the last span up to now, re-read every 10 s; false once zoomed or a range given */
  const two = (n) => String(n).padStart(2, "0");
  function stamp(t) {  /* date and clock (local time) of a tick */
    const d = new Date(t * 1000);
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}\n${two(d.getHours())}:${two(d.getMinutes())}` +
      (d.getSeconds() ? `:${two(d.getSeconds())}` : "");
  }

  function exportLinks() {
    const q = (format) => "/api/history?" + new URLSearchParams({
      from: String(view.from), to: String(view.to), fields: FIELDS.join(","), step: String(view.step), format });
    document.getElementById("csv").href = q("csv");
    document.getElementById("parquet").href = q("parquet");
    set("shown", `${new Date(view.from * 1000).toLocaleString()} .. ${new Date(view.to * 1000).toLocaleString()}, ` +
      `step ${view.step} s`);
  }

  function draw(doc) {
    const t = doc.columns.t_s;
    const width = Math.max(400, document.getElementById("charts").clientWidth - 12);
    CHARTS.forEach((c, i) => {
      const data = [t, ...c.series.map(([f]) => doc.columns[f] || t.map(() => null))];
      if (plots[i]) { plots[i].setData(data); return; }
      const box = document.createElement("div");
      box.className = "chart";
      box.dataset.chart = c.series[0][0];
      box.innerHTML = `<h2>${c.title}</h2>`;
      document.getElementById("charts").appendChild(box);
      plots[i] = new uPlot({
        width, height: 220,
        cursor: { sync: { key: sync.key }, drag: { x: true, y: false } },
        scales: { x: { time: true, range: (u, lo, hi) => (view.from !== null ? [view.from, view.to] : [lo, hi]) } },
        series: [{ label: "time", value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" },
                 ...c.series.map(([, label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: false }))],
        axes: [{ values: (u, ticks) => ticks.map(stamp), space: 90, size: 50 }, {}],
        hooks: { setSelect: [(u) => {
          if (u.select.width < 2) return;
          const from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ width: 0, height: 0 }, false);
          load(Math.floor(from), Math.ceil(to));
        }] },
      }, data, box);
      box.addEventListener("dblclick", () => load(null, null));
    });
    document.body.dataset.points = String(t.length);
    document.body.dataset.loaded = String(Date.now());
  }

  async function load(from, to) {
    following = from === null;
    const q = new URLSearchParams({ fields: FIELDS.join(",") });
    if (from !== null) q.set("from", String(from));
    if (to !== null) q.set("to", String(to));
    if (from === null) {
      const span = Number(document.getElementById("span").value);
      const now = Date.now() / 1000;
      q.set("from", String(Math.floor(now - span)));
      q.set("to", String(Math.ceil(now)));
    }
    try {
      const doc = await api("GET", "/history?" + q.toString());
      view = { from: doc.from, to: doc.to, step: doc.step_s };
      draw(doc);
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
