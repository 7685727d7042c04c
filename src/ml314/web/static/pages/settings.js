/* Settings: protocol selection (PUT /api/protocols) and the parameter set (GET/PUT /api/parameters), PIN-gated. */
"use strict";
(() => {
  const { api, esc, set } = ml;

  function say(id, text, ok) {
    const e = document.getElementById(id);
    e.textContent = text;
    e.className = "msg " + (ok ? "ok" : "bad");
  }

  async function protocols() {
    const doc = await api("GET", "/protocols");
    for (const port of ["can", "rs485"]) {
      set(`sel-${port}`, `${doc[port].code} (${doc[port].name})`);
      set(`run-${port}`, doc.running[port] || "off");
      const options = doc.available.filter((e) => e.transport.toLowerCase() === port);
      document.getElementById(port).innerHTML = options.map((e) =>
        `<option value="${esc(e.name)}"${e.name === doc[port].name ? " selected" : ""}>${esc(e.code)} ${esc(e.brand)}</option>`).join("");
    }
  }

  async function parameters() {
    const doc = await api("GET", "/parameters");
    set("param-name", doc.name);
    set("param-source", doc.source);
    document.getElementById("param-text").value = doc.text;
  }

  document.getElementById("proto-apply").addEventListener("click", async () => {
    const body = { pin: document.getElementById("proto-pin").value,
                   can: document.getElementById("can").value, rs485: document.getElementById("rs485").value };
    try {
      const r = await api("PUT", "/protocols", body);
      say("proto-msg", `CAN ${r.can}, RS485 ${r.rs485}` + (r.restart_required ? ": restart required" : ": no change"), true);
      await protocols();
    } catch (err) {
      say("proto-msg", `refused: ${err.message}`, false);
    }
  });

  document.getElementById("param-apply").addEventListener("click", async () => {
    const body = { pin: document.getElementById("param-pin").value, text: document.getElementById("param-text").value };
    try {
      const r = await api("PUT", "/parameters", body);
      say("param-msg", `installed "${r.name}"` + (r.restart_required ? ": restart required" : ""), true);
      await parameters();
    } catch (err) {
      say("param-msg", `refused: ${err.message}` + (err.error && err.error.field ? ` (${err.error.field})` : ""), false);
    }
  });

  document.addEventListener("DOMContentLoaded", () => ml.conn("", true));
  Promise.all([protocols(), parameters()]).then(() => { document.body.dataset.loaded = "1"; })
    .catch((err) => say("proto-msg", err.message, false));
})();
