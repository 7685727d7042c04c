/* Overview: bank tiles, alarms first, module table, 16 x 16 cell heat-map; all from /api/live (cells on). */
"use strict";
(() => {
  const { fmt, esc, set } = ml;

  function alerts(msg) {
    const box = document.getElementById("alerts");
    const items = [];
    for (const f of msg.faults) items.push(["bad", `fault ${f.kind}${f.module_id !== null && f.module_id !== undefined ? " (module " + f.module_id + ")" : ""}: ${f.details}`]);
    for (const p of msg.bank.protections || []) items.push(["bad", `protection: ${p}`]);
    for (const a of msg.bank.alarms || []) items.push(["warn", `alarm: ${a}`]);
    for (const m of msg.modules) {
      for (const p of m.module.protections) items.push(["bad", `module ${m.id} protection: ${p}`]);
      for (const a of m.module.alarms) items.push(["warn", `module ${m.id} alarm: ${a}`]);
      if (!m.online) items.push(["warn", `module ${m.id} ${m.link_state}`]);
    }
    const worst = items.some(([k]) => k === "bad") ? "bad" : items.length ? "warn" : "";
    box.className = "alerts " + worst;
    box.innerHTML = items.length ? items.map(([, t]) => esc(t)).join("<br>") : "No alarms, no faults.";
  }

  function modules(msg) {
    document.querySelector("#modules tbody").innerHTML = msg.modules.map((m) => {
      const s = m.module;
      const bad = [...s.protections, ...s.alarms];
      const cls = !m.online ? "offline" : bad.length ? "alarm" : "";
      return `<tr class="${cls}" data-id="${m.id}"><td class="l">${m.id}</td><td class="l">${esc(m.link_state)}</td>` +
        `<td>${fmt(s.soc_pct, 1)}</td><td>${fmt(s.voltage_v, 2)}</td><td>${fmt(s.current_a, 1)}</td>` +
        `<td>${fmt(Math.max(...s.temperatures_c), 1)}</td><td class="l">${esc(s.state)}</td>` +
        `<td class="l">${bad.length ? esc(bad.join(", ")) : "-"}</td></tr>`;
    }).join("");
  }

  function colour(v, lo, hi) {
    const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;  /* blue (low) .. red (high) */
    return `hsl(${Math.round(220 - 220 * t)}, 65%, 38%)`;
  }

  function heat(msg) {
    const rows = msg.modules.map((m) => m.module.cell_voltages_v);
    const all = rows.flat();
    if (!all.length) return;
    const lo = Math.min(...all), hi = Math.max(...all);
    let maxAt = null, minAt = null;
    rows.forEach((cells, i) => cells.forEach((v, j) => {
      if (maxAt === null && v === hi) maxAt = [i, j];
      if (minAt === null && v === lo) minAt = [i, j];
    }));
    const n = Math.max(...rows.map((r) => r.length));
    let html = "<tr><th></th>" + Array.from({ length: n }, (_, j) => `<th>${j + 1}</th>`).join("") + "</tr>";
    rows.forEach((cells, i) => {
      html += `<tr><th>M${msg.modules[i].id}</th>` + cells.map((v, j) => {
        const mark = maxAt && maxAt[0] === i && maxAt[1] === j ? "max" : minAt && minAt[0] === i && minAt[1] === j ? "min" : "";
        return `<td class="${mark}" style="background:${colour(v, lo, hi)}" title="module ${msg.modules[i].id} cell ${j + 1}">` +
          `${fmt(v, 3)}</td>`;
      }).join("") + "</tr>";
    });
    document.getElementById("heat").innerHTML = html;
    const name = (at) => `module ${msg.modules[at[0]].id} cell ${at[1] + 1}`;
    set("extremes", `Highest ${fmt(hi, 3)} V (${name(maxAt)}), lowest ${fmt(lo, 3)} V (${name(minAt)}), ` +
      `spread ${fmt((hi - lo) * 1000, 0)} mV.`);
  }

  function show(msg) {
    const b = msg.bank;
    set("clock", `${ml.clock(msg.wall_s)} (simulated ${fmt(msg.t_s, 0)} s)`);
    set("soc", `${fmt(b.soc_pct, 1)} %`);
    set("voltage", `${fmt(b.voltage_v, 2)} V`);
    set("current", `${fmt(b.current_a, 1)} A`);
    set("power", `${fmt(b.voltage_v * b.current_a / 1000, 2)} kW`);
    set("cvl", `${fmt(b.limits.cvl_v, 1)} V`);
    set("ccl", `${fmt(b.limits.ccl_a, 0)} A`);
    set("dcl", `${fmt(b.limits.dcl_a, 0)} A`);
    set("online", `${msg.modules_online} / ${msg.modules_total}`);
    document.body.dataset.seq = msg.seq;
    alerts(msg);
    modules(msg);
    heat(msg);
  }

  ml.live(show, true);
})();
