/* Front panel: each module's RUN / ALM / SOC1..4 LEDs with the flash patterns of Table 6-4, ON/OFF, RESET,
   breaker and the 8 DIP switches, live over /api/live. A LED's pattern and period come from the API; the page
   flashes it between two messages on the clock of the last message (phase = simulated t_s modulo the period). */
"use strict";
(() => {
  const { api, esc, set } = ml;
  const cards = [];  /* per chain index: { el, m } */
  let anchor = { t_s: 0, at: performance.now() / 1000, speed: 1 };

  function simNow() { return anchor.t_s + (performance.now() / 1000 - anchor.at) * anchor.speed; }

  /* whether a LED with this pattern is lit at simulated time t (manual 6.4 notes) */
  function litAt(p, t, faultStart) {
    if (p.pattern === "ON") return true;
    if (!p.period_s) return false;
    if (p.burst) {
      const since = t - (faultStart || 0);
      const inCycle = ((since % p.cycle_s) + p.cycle_s) % p.cycle_s;
      if (inCycle >= p.burst * p.period_s) return false;
      return inCycle % p.period_s < p.on_s;
    }
    return ((t % p.period_s) + p.period_s) % p.period_s < p.on_s;
  }

  function ledHtml(kind, label) {
    return `<span class="led ${kind}" data-led="${label}"><i></i>${label}</span>`;
  }

  function build(i) {
    const el = document.createElement("section");
    el.className = "module";
    el.dataset.index = i;
    el.innerHTML = `<h3><span class="name">Module</span><small class="link"></small></h3>
      <div class="leds">${ledHtml("run", "RUN")}${ledHtml("alm", "ALM")}
        ${[1, 2, 3, 4].map((k) => ledHtml("soc", "SOC" + k)).join("")}</div>
      <div class="status"></div>
      <div class="controls">
        <button class="power" title="ON/OFF: starts a BMS that is off or asleep">ON/OFF</button>
        <button class="power-long" title="ON/OFF held 3 s: shuts the BMS down">ON/OFF (hold 3 s)</button>
        <button class="reset" title="RESET: restart the BMS, which reads the DIP switches">RESET</button>
        <button class="breaker">Breaker</button>
        <a class="lcd" href="/lcd">LCD</a>
      </div>
      <div class="dipline"><span>DIP</span><span class="dip">${[1, 2, 3, 4, 5, 6, 7, 8].map((k) =>
        `<button data-switch="${k - 1}" title="switch ${k}">${k}</button>`).join("")}</span>
        <span class="dip-id"></span></div>`;
    el.addEventListener("click", (ev) => act(i, ev.target));
    document.getElementById("modules").appendChild(el);
    return { el, m: null };
  }

  async function act(i, target) {
    const m = cards[i].m;
    if (!m) return;
    try {
      if (target.matches("button.power")) await api("POST", "/buttons/power", { module: m.id });
      else if (target.matches("button.power-long")) await api("POST", "/buttons/power", { module: m.id, long: true });
      else if (target.matches("button.reset")) await api("POST", "/buttons/reset", { module: m.id });
      else if (target.matches("button.breaker")) await api("POST", "/breaker", { module: m.id, closed: !m.breaker_closed });
      else if (target.matches(".dip button")) {
        const switches = (m.dip_pending || m.dip).slice();
        const k = Number(target.dataset.switch);
        switches[k] = !switches[k];
        await api("PUT", `/modules/${m.id}/dip`, { switches });
      } else return;
      set("msg", "");
    } catch (err) {
      set("msg", err.message);
    }
  }

  function update(card, m) {
    card.m = m;
    const el = card.el, L = m.leds;
    el.dataset.id = m.id;
    el.querySelector(".name").textContent = `Module ${m.id}`;
    el.querySelector(".link").textContent = `${m.link_state}${m.powered ? "" : ", off"}`;
    const code = L.fault_code ? ` <span class="code">fault code ${esc(L.fault_code)}</span>` : "";
    el.querySelector(".status").innerHTML = `${esc(L.status)} / ${esc(L.condition)}${code}<br>` +
      `<small class="legend">RUN ${esc(L.run.pattern)}, ALM ${esc(L.alm.pattern)}, SOC ${esc(L.soc_show)}; ` +
      `state ${esc(m.module.state)}, SOC ${ml.fmt(m.module.soc_pct, 0)} %</small>`;
    for (const [name, p] of [["RUN", L.run], ["ALM", L.alm]]) {
      const led = el.querySelector(`[data-led="${name}"]`);
      led.dataset.pattern = p.pattern;
      led.dataset.period = p.period_s === null ? "" : String(p.period_s);
      led.dataset.onS = p.on_s === null ? "" : String(p.on_s);
      led.title = `${name}: ${p.pattern}` + (p.period_s ? ` (period ${p.period_s} s, on ${p.on_s} s)` : "");
    }
    L.soc.forEach((on, k) => el.querySelector(`[data-led="SOC${k + 1}"]`).classList.toggle("on", on));
    const b = el.querySelector("button.breaker");
    b.textContent = m.breaker_closed ? "Breaker: closed" : "Breaker: open";
    b.className = "breaker " + (m.breaker_closed ? "on" : "off");
    el.querySelector("a.lcd").href = `/lcd?module=${m.id}`;
    const shown = m.dip_pending || m.dip;
    el.querySelectorAll(".dip button").forEach((s, k) => {
      s.classList.toggle("on", shown[k]);
      s.classList.toggle("pending", m.dip_pending !== null && m.dip_pending[k] !== m.dip[k]);
    });
    el.querySelector(".dip-id").innerHTML = m.dip_pending
      ? `ID ${m.id} <span class="pending-note">-> ${m.dip_id} at RESET</span>` : `ID ${m.dip_id}`;
  }

  function flash() {
    const t = simNow();
    for (const card of cards) {
      const m = card.m;
      if (!m) continue;
      for (const [name, p] of [["RUN", m.leds.run], ["ALM", m.leds.alm]]) {
        card.el.querySelector(`[data-led="${name}"]`).classList.toggle("on", litAt(p, t, m.leds.fault_started_s));
      }
    }
    requestAnimationFrame(flash);
  }

  let last = null;
  function show(msg) {
    const now = performance.now() / 1000;
    const speed = last && msg.t_s > last.t_s ? Math.max(0.1, (msg.t_s - last.t_s) / Math.max(0.2, now - last.at)) : 1;
    last = { t_s: msg.t_s, at: now };
    anchor = { t_s: msg.t_s, at: now, speed };
    msg.modules.forEach((m, i) => { if (!cards[i]) cards[i] = build(i); update(cards[i], m); });
    document.body.dataset.seq = msg.seq;
  }

  async function ports() {
    try {
      const doc = await api("GET", "/bank");
      document.getElementById("ports").innerHTML = doc.links.map((h) =>
        `<span class="port ${h.lost ? "down" : "up"}" title="in ${h.frames_in}, out ${h.frames_out}">${esc(h.link)}` +
        `${h.lost ? " (lost)" : ""}</span>`).join("");
    } catch (err) { /* the bank is starting */ }
  }

  ml.live(show, false);
  ports();
  setInterval(ports, 3000);
  requestAnimationFrame(flash);
})();
