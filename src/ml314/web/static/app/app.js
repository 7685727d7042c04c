/* The Smart Battery app (manual 11): local mode (scan, pair, view, STA, AP), AP mode (log in on the device's AP),
   Wi-Fi mode (the cloud's). Vanilla JS on the device's API; no state of its own but the pairing tokens. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                                             "'": "&#39;" }[c]));
  const fmt = (x, d) => (x === null || x === undefined || Number.isNaN(x)) ? "-" : Number(x).toFixed(d);
  const S = { served: null, device: null, backend: null, timer: null, stack: [], scanning: false };

  async function req(method, path, body, headers) {
    const init = { method, headers: Object.assign({}, headers || {}), credentials: "same-origin" };
    if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
    const r = await fetch(path, init);
    let doc = null;
    try { doc = await r.json(); } catch (e) { doc = null; }
    if (!r.ok) {
      const err = (doc && doc.error) || { code: String(r.status), message: r.statusText };
      const e = new Error(err.message); e.status = r.status; e.error = err; throw e;
    }
    return doc;
  }

  // ------------------------------------------------------------------------------------------- screens
  function show(id, title, push = true) {
    if (push && S.screen && S.screen !== id) S.stack.push([S.screen, $("title").textContent]);
    for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== id;
    S.screen = id;
    $("title").textContent = title;
    $("back").hidden = S.stack.length === 0;
    document.body.dataset.screen = id;
    if (id !== "device" && id !== "sta") stopPolling();
    if (id !== "local") S.scanning = false;
  }
  $("back").onclick = () => { const [id, title] = S.stack.pop() || ["home", "Smart Battery"]; show(id, title, false);
                              if (id === "device") startPolling(); if (id === "local") scan(); };

  function confirmDialog(text) {
    return new Promise((resolve) => {
      const d = $("confirm");
      $("confirm-text").textContent = text;
      d.returnValue = "";
      d.onclose = () => resolve(d.returnValue === "yes");
      d.showModal();
    });
  }
  function msg(id, text, ok) { const m = $(id); m.textContent = text; m.className = "msg " + (ok ? "ok" : "bad"); }

  // ------------------------------------------------------------------------------------------- backends
  function localBackend(dev, token) {
    const base = `/api/app/devices/${encodeURIComponent(dev.serial)}`;
    const h = { "X-Pairing-Token": token };
    return { kind: "local", status: () => req("GET", base + "/status", undefined, h),
             system: () => req("GET", base + "/system", undefined, h),
             network: (c) => req("PUT", base + "/network", c, h) };
  }
  const directBackend = { kind: "ap", status: () => req("GET", "/api/device/network"),
                          system: async () => ({ bank: await req("GET", "/api/bank"),
                                                 modules: await req("GET", "/api/modules"),
                                                 diagnostics: await req("GET", "/api/diagnostics").catch(() => null) }),
                          network: (c) => req("PUT", "/api/device/network", c) };
  const tokenKey = (serial) => "ml314.pairing." + serial;

  // ------------------------------------------------------------------------------------------- local mode
  async function scan() {
    if (S.scanning) return;
    S.scanning = true;
    $("scan-state").textContent = "Searching for devices…";
    try {
      while (S.scanning && S.screen === "local") {
        const doc = await req("GET", "/api/app/devices?wait=2");
        const list = $("found");
        list.innerHTML = doc.devices.map((d) => `<li><button class="device" data-serial="${esc(d.serial)}">` +
          `<b>${esc(d.name)}</b><span>${esc(d.serial)} · ${esc(modeLabel(d.mode))} · ${esc(d.address)}</span>` +
          "</button></li>").join("");
        for (const b of list.querySelectorAll("button.device")) {
          const d = doc.devices.find((x) => x.serial === b.dataset.serial);
          b.onclick = () => openFound(d);
        }
        $("scan-state").textContent = doc.devices.length
          ? `${doc.devices.length} device(s) found (${doc.transport}). Tap one to connect.`
          : "No device found yet: still searching…";
        if (doc.devices.length) break;
      }
    } catch (e) {
      $("scan-state").textContent = "Search failed: " + e.message;
    } finally {
      S.scanning = false;
    }
  }
  const modeLabel = (m) => ({ host: "host network", sta: "Wi-Fi mode", ap: "AP mode" }[m] || m);

  async function openFound(dev) {
    S.device = dev;
    const token = localStorage.getItem(tokenKey(dev.serial));
    if (token) {
      try { await localBackend(dev, token).status(); return openDevice(localBackend(dev, token), dev.name); }
      catch (e) { if (e.status !== 401 && e.status !== 403) { $("scan-state").textContent = e.message; return; } }
      localStorage.removeItem(tokenKey(dev.serial));
    }
    show("pair", "Pair");
    $("pair-name").textContent = dev.name;
    $("pair-code").value = "";
    msg("pair-msg", "", true);
    try {
      const r = await req("POST", `/api/app/devices/${encodeURIComponent(dev.serial)}/pairing`,
                          { client: "Smart Battery app (" + (navigator.platform || "browser") + ")" });
      S.pairing = r.request;
      msg("pair-msg", `The device shows the code now (valid ${Math.round(r.expires_in_s)} s).`, true);
      $("pair-code").focus();
    } catch (e) { msg("pair-msg", e.message, false); }
  }

  $("pair-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const dev = S.device;
    try {
      const r = await req("POST", `/api/app/devices/${encodeURIComponent(dev.serial)}/pair`,
                          { request: S.pairing, code: $("pair-code").value.replace(/\s/g, "") });
      localStorage.setItem(tokenKey(dev.serial), r.token);
      S.stack = [["home", "Smart Battery"], ["local", "Local mode"]];
      openDevice(localBackend(dev, r.token), dev.name, false);
    } catch (e) { msg("pair-msg", "Refused: " + e.message, false); }
  };

  // ------------------------------------------------------------------------------------------- one device
  function openDevice(backend, name, push = true) {
    S.backend = backend;
    show("device", name, push);
    startPolling();
  }
  function stopPolling() { if (S.timer) { clearTimeout(S.timer); S.timer = null; } }
  function startPolling() {
    stopPolling();
    const tick = async () => {
      if (S.screen !== "device") return;
      try {
        const [status, system] = await Promise.all([S.backend.status(), S.backend.system()]);
        renderStatus(status); renderSystem(system);
      } catch (e) { $("alarms").className = "alerts bad"; $("alarms").textContent = "No answer: " + e.message; }
      if (S.screen === "device") S.timer = setTimeout(tick, 2000);
    };
    tick();
  }

  function renderStatus(st) {
    S.status = st;
    $("net-mode").textContent = st.mode_label;
    document.body.dataset.mode = st.mode;
    $("net-ssid").textContent = st.ssid ? st.ssid + (st.mode === "sta" ? " (joined)" : "") : "not configured";
    const c = st.cloud || {};
    $("net-cloud").textContent = !c.configured ? "no cloud link configured (ml314 run --mqtt)"
      : c.connected ? "connected to " + c.where
      : c.waiting_for_network ? "offline (AP mode: no way to the cloud)" : "connecting to " + c.where + "…";
    $("net-cloud").dataset.connected = c.connected ? "1" : "0";
    $("net-sim").textContent = st.simulated;
    $("btn-ap").disabled = !st.ap_available || st.mode === "ap";
    $("btn-ap").title = st.ap_available ? "" : "this device has no AP (ml314 run --ap HOST:PORT)";
  }

  function renderSystem(sys) {
    const b = sys.bank.bank;
    $("soc").textContent = fmt(b.soc_pct, 1) + " %";
    $("soc-ring").style.setProperty("--soc", String(Math.max(0, Math.min(100, b.soc_pct))));
    const p = b.voltage_v * b.current_a;
    $("power").textContent = (p >= 0 ? "+" : "") + fmt(p / 1000, 2) + " kW";
    $("power").title = p >= 0 ? "charging" : "discharging";
    $("voltage").textContent = fmt(b.voltage_v, 2) + " V";
    $("current").textContent = (b.current_a >= 0 ? "+" : "") + fmt(b.current_a, 1) + " A";
    $("temp").textContent = fmt(b.temperature_c, 1) + " °C";
    $("remaining").textContent = fmt(b.remaining_capacity_ah, 0) + " Ah";
    $("online").textContent = `${sys.bank.modules_online} / ${sys.bank.modules_total}`;
    const prot = b.protections || [], alarms = (b.alarms || []).filter((a) => !prot.includes(a));
    const faults = (sys.bank.faults || []).map((f) => f.kind);
    const all = [...prot, ...alarms, ...faults];
    $("alarms").className = "alerts" + (prot.length || faults.length ? " bad" : alarms.length ? " warn" : "");
    $("alarms").textContent = all.length ? all.join(", ") : "No alarms";
    const found = (sys.diagnostics || {}).findings || [];  // chapter 12: what is wrong and what to do
    $("findings").innerHTML = found.map((f) => `<li class="${esc(f.severity)}"><b>${esc(f.title)}</b>` +
      `<span>${esc(f.where)}</span><p>${esc(f.manual.solution)}</p></li>`).join("");
    $("findings").hidden = !found.length;
    $("modules").innerHTML = sys.modules.map((m) => {
      const s = m.module, bad = (s.protections || []).length || (s.alarms || []).length;
      return `<li class="${bad ? "alarm" : ""}"><b>#${m.id}</b><span>${fmt(s.soc_pct, 1)} %</span>` +
             `<span>${fmt(s.voltage_v, 2)} V</span><span>${fmt(s.current_a, 1)} A</span><span>${esc(s.state)}</span></li>`;
    }).join("");
  }

  $("btn-sta").onclick = () => {
    show("sta", "STA: Wi-Fi network");
    msg("sta-msg", "", true);
    $("sta-ssid").value = (S.status && S.status.ssid) || "";
  };
  $("sta-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const ssid = $("sta-ssid").value, password = $("sta-password").value;
    const bytes = new TextEncoder().encode(ssid).length;
    if (bytes < 1 || bytes > 32) return msg("sta-msg", "The network name has 1 to 32 bytes.", false);
    if (password.length < 8 || password.length > 63) return msg("sta-msg", "A WPA2 password has 8 to 63 characters.", false);
    if (!await confirmDialog(`Switch the device to Wi-Fi mode on "${ssid}"?`)) return;
    try {
      const st = await S.backend.network({ mode: "sta", ssid, password });
      $("sta-password").value = "";
      const [id, title] = S.stack.pop() || ["device", "Device"];
      show(id, title, false);
      renderStatus(st);
      startPolling();
    } catch (e) { msg("sta-msg", "Refused: " + e.message, false); }
  };

  $("btn-ap").onclick = async () => {
    const st = S.status || {};
    if (!await confirmDialog(`Switch the device to AP mode? Its network "${st.ap_ssid}" turns on and its cloud link goes offline.`)) return;
    try {
      const after = await S.backend.network({ mode: "ap" });
      renderStatus(after);
      showApAway(after);
    } catch (e) { $("alarms").className = "alerts bad"; $("alarms").textContent = "Refused: " + e.message; }
  };

  // ------------------------------------------------------------------------------------------- AP mode
  function showApAway(st) {
    show("ap", "AP mode");
    $("ap-away").hidden = false;
    $("ap-form").hidden = true;
    if (st && st.ap_ssid) $("ap-ssid").textContent = st.ap_ssid;
    $("ap-link").innerHTML = st && st.ap_address
      ? `The device's AP address: <a id="ap-url" href="${esc(st.ap_address)}/app/">${esc(st.ap_address)}/app/</a>` : "";
  }
  function showApLogin() {
    show("ap", "AP mode");
    $("ap-away").hidden = true;
    $("ap-form").hidden = false;
    $("ap-ssid2").textContent = S.served.name;
    $("ap-password").focus();
  }
  $("ap-form").onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await req("POST", "/api/ap/login", { password: $("ap-password").value });
      $("ap-password").value = "";
      S.stack = [["home", "Smart Battery"]];
      openDevice(directBackend, S.served.name, false);
    } catch (e) { msg("ap-msg", "Refused: " + e.message, false); }
  };

  // ------------------------------------------------------------------------------------------- home
  $("go-local").onclick = () => { show("local", "Local mode"); scan(); };
  $("rescan").onclick = () => scan();
  $("go-wifi").onclick = () => show("wifi", "Wi-Fi mode");
  $("go-ap").onclick = async () => {
    if (S.served && S.served.listener === "ap") {
      try { await directBackend.status(); return openDevice(directBackend, S.served.name); }
      catch (e) { return showApLogin(); }
    }
    showApAway(S.status && S.status.ap_ssid ? S.status : null);
  };

  async function init() {
    show("home", "Smart Battery", false);
    try {
      S.served = await req("GET", "/api/device");
      $("served").textContent = S.served.listener === "ap"
        ? `You are on ${S.served.name} (AP mode).`
        : `Served by ${S.served.name} (${S.served.serial}).`;
      document.body.dataset.listener = S.served.listener;
      $("go-ap").querySelector("span").textContent = `Connect to the device's own network "${S.served.name}"`;
      document.body.dataset.ready = "1";
      if (S.served.listener === "ap") $("go-ap").click();
    } catch (e) {
      $("served").textContent = e.error && e.error.code === "ap_off"
        ? "This device's AP is off: it is not in AP mode." : "The device does not answer: " + e.message;
      document.body.dataset.ready = "1";
    }
  }
  init();
})();
