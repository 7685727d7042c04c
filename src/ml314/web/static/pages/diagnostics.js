/* Diagnostics: GET /api/diagnostics every 3 s, one card per finding (evidence, analysis, solution, steps). */
"use strict";
(() => {
  const { api, esc, fmt, set } = ml;

  function evidence(e) {
    const v = typeof e.value === "number" ? fmt(e.value, 2) : esc(e.value);
    const unit = e.unit ? " " + esc(e.unit) : "";
    const level = e.threshold === null ? "" : ` (level ${fmt(e.threshold, 3)}${unit})`;
    const when = e.t_s === null ? "" : ` at t ${fmt(e.t_s, 0)} s`;
    return `<li>${esc(e.what)}: <b>${v}${unit}</b>${level}${when}</li>`;
  }

  function card(f) {
    const steps = f.steps.length ? "<ol>" + f.steps.map((s) => `<li>${esc(s)}</li>`).join("") + "</ol>" : "";
    return `<section class="finding level-${esc(f.severity)}" data-code="${esc(f.code)}">` +
      `<h2>${esc(f.where)}: ${esc(f.title)} <small>[${esc(f.manual.ref)}]</small></h2>` +
      `<ul>${f.evidence.map(evidence).join("")}</ul>` +
      `<p><b>Analysis</b> (${esc(f.manual.ref)}): ${esc(f.manual.analysis)}</p>` +
      `<p><b>Solution</b>: ${esc(f.manual.solution)}</p>${steps}</section>`;
  }

  async function load() {
    try {
      const doc = await api("GET", "/diagnostics");
      set("summary", doc.problem ? `${doc.count} finding(s) at t ${fmt(doc.t_s, 0)} s` :
        `no finding at t ${fmt(doc.t_s, 0)} s`);
      document.getElementById("findings").innerHTML = doc.findings.map(card).join("");
      set("rules", `rules checked: ${doc.rules.join(", ")}`);
      document.body.dataset.loaded = String(Date.now());
    } catch (err) {
      set("summary", err.status === 404 ? "no diagnostics here: they run on ml314 run (this server does not serve " +
        "/api/diagnostics)" : err.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => ml.conn("polling every 3 s", true));
  load();
  setInterval(load, 3000);
})();
