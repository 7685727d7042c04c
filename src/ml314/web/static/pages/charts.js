/* The charts of the PC software's history page and of the `ml314 simulate` report: one module on uPlot (vendored,
   no CDN). A document { utc, t, charts: [...] } names each chart's kind:
     time  - lines over t (epoch seconds): date and clock on the axis, a dotted line at each midnight, drag to zoom
             (double-click: back), click a legend name to hide that line; bands fill between two series (an SOC and
             its bound); a series with "module": i takes module i's colour and dash (moduleStyle), so modules that
             overlap stay told apart.
     bars  - energy per day: one group of bars per day ("days": the epoch second each day starts).
     xy    - lines over another x ("x", ascending; null where a series has no point): voltage against Ah.
   The report draws in UTC (the simulated clock); the history page in the browser's local time. */
"use strict";
const mlCharts = (() => {
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf"];
  const DASHES = [[], [8, 3], [2, 3], [10, 3, 2, 3]];
  const DAY_S = 86400;
  /* module i (0-based): colour i mod 10 and dash i mod 4, so no two of 16 modules share both */
  const moduleStyle = (i) => ({ color: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length] });
  const two = (n) => String(n).padStart(2, "0");

  function fields(t, utc) {
    const d = new Date(t * 1000);
    return utc ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
               : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  }
  const date = (t, utc) => { const f = fields(t, utc); return `${f[0]}-${two(f[1])}-${two(f[2])}`; };
  /* date and clock of a time (a line break between them on an axis) */
  function stamp(t, utc, sep = "\n") {
    const f = fields(t, utc);
    return `${f[0]}-${two(f[1])}-${two(f[2])}${sep}${two(f[3])}:${two(f[4])}` + (f[5] ? `:${two(f[5])}` : "");
  }
  /* the midnights after lo up to hi (local midnights follow the calendar through daylight-saving changes) */
  function midnights(lo, hi, utc) {
    const out = [];
    const d = new Date(lo * 1000);
    if (utc) d.setUTCHours(24, 0, 0, 0); else d.setHours(24, 0, 0, 0);
    while (d.getTime() / 1000 <= hi && out.length < 1000) {
      out.push(d.getTime() / 1000);
      if (utc) d.setUTCDate(d.getUTCDate() + 1); else d.setDate(d.getDate() + 1);
    }
    return out;
  }
  function number(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "-";
    const a = Math.abs(v);
    return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
  }
  function dayLines(utc) {
    return { hooks: { draw: [(u) => {
      const { ctx, bbox } = u;
      ctx.save();
      ctx.strokeStyle = "rgba(0,0,0,0.35)";
      ctx.lineWidth = 1;
      ctx.setLineDash([3, 4]);
      for (const m of midnights(u.scales.x.min, u.scales.x.max, utc)) {
        const x = Math.round(u.valToPos(m, "x", true)) + 0.5;
        ctx.beginPath(); ctx.moveTo(x, bbox.top); ctx.lineTo(x, bbox.top + bbox.height); ctx.stroke();
      }
      ctx.restore();
    }] } };
  }
  function lineSeries(s) {
    const style = s.module !== undefined ? moduleStyle(s.module) : { color: s.color || "#333", dash: [] };
    return { label: s.label, stroke: style.color, dash: s.dash || style.dash, width: s.width || 1.5,
             spanGaps: false, points: { show: false }, value: (u, v) => number(v) };
  }

  /* grouped bars: series k of n is drawn beside the others, around each day's centre */
  function groupedBars(k, n) {
    return (u, si) => {
      const path = new Path2D();
      const xs = u.data[0], ys = u.data[si];
      const pxPerS = (u.valToPos(u.scales.x.max, "x", true) - u.valToPos(u.scales.x.min, "x", true)) /
        Math.max(1, u.scales.x.max - u.scales.x.min);
      const bw = Math.max(1, pxPerS * DAY_S * 0.8 / n);
      const y0 = u.valToPos(0, "y", true);
      for (let i = 0; i < xs.length; i++) {
        if (ys[i] === null || ys[i] === undefined) continue;
        const x = u.valToPos(xs[i], "x", true) + (k - (n - 1) / 2) * bw - bw / 2;
        const y = u.valToPos(ys[i], "y", true);
        path.rect(x, Math.min(y, y0), bw * 0.92, Math.max(1, Math.abs(y0 - y)));
      }
      return { stroke: path, fill: path };
    };
  }

  function timeOpts(spec, ctx) {
    const utc = ctx.utc;
    const opts = {
      series: [{ label: "time", value: (u, v) => (v === null ? "-" : stamp(v, utc, " ")) }, ...spec.series.map(lineSeries)],
      scales: { x: { time: true } },
      axes: [{ values: (u, ticks) => ticks.map((v) => stamp(v, utc)), space: 90, size: 50 }, { size: 60 }],
      bands: (spec.bands || []).map((b) => ({ series: [b.series[0] + 1, b.series[1] + 1], fill: b.fill })),
      cursor: { sync: { key: ctx.sync.key }, drag: { x: true, y: false, setScale: !ctx.onZoom } },
      plugins: [dayLines(utc)],
      hooks: { setSelect: [], setScale: [] },
    };
    if (utc) opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
    if (ctx.xRange) opts.scales.x.range = (u, lo, hi) => ctx.xRange(lo, hi);
    if (ctx.onZoom) {
      opts.hooks.setSelect.push((u) => {
        if (u.select.width < 2) return;
        const from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ width: 0, height: 0 }, false);
        ctx.onZoom(Math.floor(from), Math.ceil(to));
      });
    } else {
      opts.hooks.setScale.push((u, key) => {  /* zoom every time chart of the page together */
        if (key !== "x" || ctx.zooming) return;
        ctx.zooming = true;
        for (const other of ctx.timePlots) {
          if (other !== u) other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
        }
        ctx.zooming = false;
      });
    }
    return [opts, [ctx.t, ...spec.series.map((s) => s.values)]];
  }

  function barOpts(spec, ctx) {
    const n = spec.series.length;
    const x = spec.days.map((d) => d + DAY_S / 2);
    const lo = x.length ? x[0] - DAY_S / 2 : 0, hi = x.length ? x[x.length - 1] + DAY_S / 2 : DAY_S;
    const opts = {
      series: [{ label: "day", value: (u, v) => (v === null ? "-" : date(v, ctx.utc)) },
               ...spec.series.map((s, k) => ({ label: s.label, stroke: s.color, fill: s.color + "cc", width: 1,
                                                paths: groupedBars(k, n), points: { show: false },
                                                value: (u, v) => (v === null ? "-" : `${number(v)} kWh`) }))],
      scales: { x: { time: true, range: () => [lo, hi] }, y: { range: (u, a, b) => [0, Math.max(b, 0.001) * 1.1] } },
      axes: [{ values: (u, ticks) => ticks.map((v) => date(v, ctx.utc)), space: 80,
               splits: () => { const step = Math.ceil(x.length / 14); return x.filter((_, i) => i % step === 0); } },
             { size: 60 }],
      cursor: { drag: { x: false, y: false } },
    };
    if (ctx.utc) opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
    return [opts, [x, ...spec.series.map((s) => s.values)]];
  }

  function xyOpts(spec) {
    const opts = {
      series: [{ label: spec.xlabel || "x", value: (u, v) => number(v) },
               ...spec.series.map((s) => ({ ...lineSeries(s), spanGaps: true }))],
      scales: { x: { time: false } },
      axes: [{ label: spec.xlabel || "", size: 50 }, { size: 60 }],
      cursor: { drag: { x: true, y: false } },
    };
    return [opts, [spec.x, ...spec.series.map((s) => s.values)]];
  }

  const KINDS = { time: timeOpts, bars: barOpts, xy: xyOpts };
  const signature = (spec) => spec.kind + "|" + spec.series.map((s) => s.label).join("|");

  /* Draw (or update in place) every chart of `doc` into `container`. opts: { onZoom(from, to), xRange(lo, hi),
     onReset() } for a page that re-reads its data when zoomed; without them the charts zoom in place together. */
  function render(container, doc, opts = {}) {
    const state = container._mlCharts || (container._mlCharts = { plots: {}, sync: uPlot.sync("ml314-" + Math.random()) });
    const ctx = { utc: !!doc.utc, t: doc.t, sync: state.sync, onZoom: opts.onZoom, xRange: opts.xRange,
                  timePlots: [], zooming: false };
    const width = Math.max(400, container.clientWidth - 12);
    const keep = new Set();
    for (const spec of doc.charts) {
      keep.add(spec.id);
      const [uopts, data] = KINDS[spec.kind](spec, ctx);
      let entry = state.plots[spec.id];
      if (entry && entry.signature === signature(spec)) {
        entry.plot.setData(data);
      } else {
        if (entry) { entry.plot.destroy(); entry.box.remove(); }
        const box = document.createElement("div");
        box.className = "chart";
        box.dataset.chart = spec.id;
        box.dataset.kind = spec.kind;
        const h = document.createElement("h2");
        h.textContent = spec.title;
        box.appendChild(h);
        container.appendChild(box);
        const plot = new uPlot({ width, height: spec.kind === "bars" ? 200 : 230, ...uopts }, data, box);
        if (opts.onReset && spec.kind === "time") box.addEventListener("dblclick", () => opts.onReset());
        entry = state.plots[spec.id] = { plot, box, signature: signature(spec) };
      }
      let note = entry.box.querySelector("p.note");
      if (spec.note) {
        if (!note) { note = document.createElement("p"); note.className = "note"; entry.box.appendChild(note); }
        note.textContent = spec.note;
      } else if (note) note.remove();
      if (spec.kind === "time") ctx.timePlots.push(entry.plot);
    }
    for (const id of Object.keys(state.plots)) {
      if (!keep.has(id)) { state.plots[id].plot.destroy(); state.plots[id].box.remove(); delete state.plots[id]; }
    }
    return state.plots;
  }

  return { moduleStyle, stamp, date, midnights, render, PALETTE, DASHES };
})();
