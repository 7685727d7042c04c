// Smart Battery, Wi-Fi mode: one page, views by the URL's hash, every value from the cloud app's API (/api).
// The session is an HttpOnly cookie the page never sees; /api/me says whether one is open.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { user: null, device: null, timer: null };

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const err = (data && data.error) || { code: "http_" + r.status, message: r.statusText };
    const e = new Error(err.message);
    e.status = r.status;
    e.code = err.code;
    e.field = err.field;
    throw e;
  }
  return { status: r.status, data };
}

function notice(text, ok) {
  const n = $("#notice");
  n.textContent = text || "";
  n.hidden = !text;
  n.className = ok ? "ok" : "";
}

function show(view, title) {
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== "view-" + view; });
  $("#title").textContent = title || "Smart Battery";
  const inside = state.user !== null;
  $("#add").hidden = !(inside && view === "devices");
  $("#logout").hidden = !(inside && view === "devices");
  $("#back").hidden = !(inside && view !== "devices");
  if (state.timer) { clearInterval(state.timer); state.timer = null; }
}

const fmt = (v, digits, unit) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits) + (unit ? " " + unit : ""));
const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "never");

// ------------------------------------------------------------------------------------------ routing
async function route() {
  notice("");
  const hash = location.hash.replace(/^#\/?/, "");
  const [view, arg] = hash.split("/");
  if (state.user === null) {
    try { state.user = (await api("GET", "/api/me")).data.username; } catch (e) { state.user = null; }
  }
  if (state.user === null) {
    if (view === "register") return showRegister();
    return show("login", "Smart Battery");
  }
  if (view === "add") return showAdd();
  if (view === "device" && arg) return showDevice(decodeURIComponent(arg));
  return showDevices();
}

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

// ------------------------------------------------------------------------------------------ accounts
async function showRegister() {
  show("register", "Register");
  try { $("#policy").textContent = "Password: " + (await api("GET", "/api/policy")).data.password + "."; } catch (e) { /* shown on submit */ }
}

async function signIn(path, username, password) {
  try {
    const r = await api("POST", path, { username, password });
    state.user = r.data.username;
    go("#/devices");
  } catch (e) { notice(e.message); }
}

// ------------------------------------------------------------------------------------------ my devices
async function showDevices() {
  show("devices", "My devices");
  const list = $("#device-list");
  let devices = [];
  try { devices = (await api("GET", "/api/devices")).data.devices; } catch (e) { return notice(e.message); }
  list.replaceChildren(...devices.map(deviceItem));
  $("#no-devices").hidden = devices.length > 0;
}

function deviceItem(d) {
  const li = document.createElement("li");
  li.className = "device";
  li.dataset.serial = d.serial;
  const grow = document.createElement("div");
  grow.className = "grow";
  const b = document.createElement("b");
  b.textContent = d.name;
  const s = document.createElement("span");
  s.className = "muted";
  s.textContent = d.serial + (d.role === "owner" ? "" : " · installer until " + when(d.expires_s));
  grow.append(b, s);
  li.append(grow, Object.assign(document.createElement("span"), { textContent: "›" }));
  let timer = null;
  let long = false;
  li.addEventListener("pointerdown", () => {
    long = false;
    timer = setTimeout(() => { long = true; if (d.role === "owner") renamePrompt(d); }, 600);
  });
  const cancel = () => clearTimeout(timer);
  li.addEventListener("pointerup", cancel);
  li.addEventListener("pointerleave", cancel);
  li.addEventListener("contextmenu", (ev) => ev.preventDefault());
  li.addEventListener("click", () => { if (!long) go("#/device/" + encodeURIComponent(d.serial)); });
  return li;
}

async function renamePrompt(d) {
  const name = prompt("Rename " + d.serial, d.name);
  if (name === null) return;
  try {
    await api("PATCH", "/api/devices/" + encodeURIComponent(d.serial), { name });
    showDevices();
  } catch (e) { notice(e.message); }
}

// ------------------------------------------------------------------------------------------ "+": search and bind
function showAdd() {
  show("add", "Add a device");
  for (const id of ["#found", "#wifi-form", "#name-form"]) $(id).hidden = true;
  $("#search-form").hidden = false;
  $("#search-serial").value = "";
  $("#bind-code").value = "";
  $("#wifi-result").textContent = "";
}

async function search(serial) {
  notice("");
  try {
    const r = (await api("POST", "/api/search", { serial })).data;
    $("#found").hidden = false;
    $("#found-serial").textContent = r.serial;
    const st = $("#found-state");
    st.textContent = r.yours ? "yours already" : r.bindable ? "can be bound" : "bound to another account";
    st.className = "pill " + (r.bindable ? "bindable" : "taken");
    $("#bind-form").hidden = !r.bindable;
    state.device = r.serial;
  } catch (e) {
    $("#found").hidden = true;
    notice(e.message);
  }
}

async function bindDevice(code) {
  try {
    await api("POST", "/api/devices", { serial: state.device, claim_code: code });
    notice("Bound " + state.device + ".", true);
    $("#search-form").hidden = true;
    $("#found").hidden = true;
    $("#wifi-form").hidden = false;
  } catch (e) { notice(e.message); }
}

async function sendNetwork(serial, body, out) {
  out.textContent = "Sending…";
  try {
    const r = await api("POST", "/api/devices/" + encodeURIComponent(serial) + "/network", body);
    const res = r.data.result;
    out.textContent = res ? (res.ok ? "Done: " : "Refused: ") + res.message : "Sent, but the device has not answered: if it is offline it did not get it; try again once it is online.";
    return true;
  } catch (e) {
    out.textContent = "";
    notice(e.message);
    return false;
  }
}

// ------------------------------------------------------------------------------------------ the battery system
async function showDevice(serial) {
  show("device", "Battery system");
  state.device = serial;
  let d;
  try { d = (await api("GET", "/api/devices/" + encodeURIComponent(serial))).data; } catch (e) {
    notice(e.message);
    return;
  }
  $("#dev-name").textContent = d.name;
  $("#dev-serial").textContent = d.serial;
  $("#dev-role").textContent = d.role === "owner" ? "owner" : "installer (read only) until " + when(d.expires_s);
  $("#rename-input").value = d.name;
  $("#owner-tools").hidden = d.role !== "owner";
  $("#net-result").textContent = "";
  if (d.role === "owner") loadGrants(serial);
  await loadTelemetry(serial);
  state.timer = setInterval(() => loadTelemetry(serial), 5000);
}

async function loadTelemetry(serial) {
  const base = "/api/devices/" + encodeURIComponent(serial);
  let now = null;
  try { now = (await api("GET", base + "/now")).data; } catch (e) { if (e.status !== 404) notice(e.message); }
  const sample = now && now.sample;
  const status = (now && now.status) || {};
  const online = status.online === true || status.status === "online";
  const pill = $("#dev-online");
  pill.textContent = online ? "online" : "offline";
  pill.className = "pill " + (online ? "online" : "offline");
  $("#dev-seen").textContent = sample ? "Last sample " + when(sample.ts) : "No telemetry yet.";
  const bank = (sample && sample.bank) || {};
  $("#soc").textContent = fmt(bank.soc_pct, 1, "%");
  $("#power").textContent = fmt(bank.power_w, 0, "W");
  // positive while charging (the project's sign convention)
  $("#power-dir").textContent = bank.power_w > 1 ? "charging" : bank.power_w < -1 ? "discharging" : bank.power_w === undefined ? "" : "idle";
  $("#voltage").textContent = fmt(bank.voltage_v, 2, "V");
  $("#current").textContent = fmt(bank.current_a, 1, "A");
  $("#temperature").textContent = fmt(bank.temperature_c, 1, "°C");
  $("#soh").textContent = fmt(bank.soh_pct, 0, "%");
  const alarms = [...(bank.protections || []).map((a) => ["protection", a]), ...(bank.alarms || []).map((a) => ["warning", a])];
  $("#alarms").replaceChildren(...(alarms.length ? alarms : [["", "No alarms, no protections."]]).map(([level, text]) => {
    const li = document.createElement("li");
    li.className = level ? "level-" + level : "muted";
    li.textContent = (level ? level + ": " : "") + String(text).replaceAll("_", " ");
    return li;
  }));
  const rows = ((sample && sample.modules) || []).map((m) => {
    const tr = document.createElement("tr");
    const cells = m.cells_v || [];
    const spread = cells.length ? (Math.max(...cells) - Math.min(...cells)) * 1000 : null;
    for (const v of [m.n, m.state, fmt(m.soc_pct, 1, "%"), fmt(m.voltage_v, 2, "V"), fmt(m.current_a, 1, "A"),
      spread === null ? "–" : fmt(spread, 0, "mV Δ")]) {
      tr.append(Object.assign(document.createElement("td"), { textContent: v === undefined ? "–" : v }));
    }
    return tr;
  });
  $("#modules tbody").replaceChildren(...rows);
  await loadHistory(base);
  let events = [];
  try { events = (await api("GET", base + "/events?limit=20")).data.events; } catch (e) { events = []; }
  $("#events").replaceChildren(...(events.length ? events : [null]).map((ev) => {
    const li = document.createElement("li");
    if (!ev) { li.className = "muted"; li.textContent = "No events."; return li; }
    li.className = "level-" + (ev.level || "info");
    li.textContent = when(ev.ts) + " · " + (ev.message || ev.key || ev.event_kind || "event");
    return li;
  }));
}

// SOC of the last 24 h in 15 min steps, drawn as one polyline (0 % at the bottom, 100 % at the top)
async function loadHistory(base) {
  const svg = $("#soc-chart");
  const ns = "http://www.w3.org/2000/svg";
  const to = Date.now() / 1000;
  let rows = [];
  try { rows = (await api("GET", base + "/history?from=" + (to - 86400) + "&to=" + to + "&step=900")).data.rows; } catch (e) { rows = []; }
  rows = rows.filter((r) => r.soc_pct !== null);
  const grid = [0, 50, 100].map((p) => {
    const l = document.createElementNS(ns, "line");
    l.setAttribute("x1", "0"); l.setAttribute("x2", "300");
    l.setAttribute("y1", String(80 - p * 0.8)); l.setAttribute("y2", String(80 - p * 0.8));
    return l;
  });
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", rows.map((r) => ((r.ts - (to - 86400)) / 86400 * 300).toFixed(1) + "," + (80 - r.soc_pct * 0.8).toFixed(1)).join(" "));
  svg.replaceChildren(...grid, line);
  $("#soc-chart-note").textContent = rows.length ? rows.length + " points, " + fmt(Math.min(...rows.map((r) => r.soc_pct)), 0, "%") + " to " + fmt(Math.max(...rows.map((r) => r.soc_pct)), 0, "%") : "No history yet.";
}

async function loadGrants(serial) {
  let grants = [];
  try { grants = (await api("GET", "/api/devices/" + encodeURIComponent(serial) + "/access")).data.grants; } catch (e) { return; }
  $("#grants").replaceChildren(...(grants.length ? grants : [null]).map((g) => {
    const li = document.createElement("li");
    if (!g) { li.className = "muted"; li.textContent = "Only you."; return li; }
    const span = Object.assign(document.createElement("span"), { className: "grow", textContent: g.username + " until " + when(g.expires_s) });
    const btn = Object.assign(document.createElement("button"), { type: "button", textContent: "Revoke" });
    btn.addEventListener("click", async () => {
      try { await api("DELETE", "/api/devices/" + encodeURIComponent(serial) + "/access/" + encodeURIComponent(g.username)); } catch (e) { notice(e.message); }
      loadGrants(serial);
    });
    li.append(span, btn);
    return li;
  }));
}

// ------------------------------------------------------------------------------------------ wiring
function onSubmit(id, handler) {
  $(id).addEventListener("submit", (ev) => { ev.preventDefault(); handler(); });
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  onSubmit("#login-form", () => signIn("/api/login", $("#login-username").value, $("#login-password").value));
  onSubmit("#register-form", () => signIn("/api/register", $("#register-username").value, $("#register-password").value));
  $("#logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch (e) { /* gone anyway */ }
    state.user = null;
    go("#/login");
  });
  $("#add").addEventListener("click", () => go("#/add"));
  $("#back").addEventListener("click", () => go("#/devices"));
  onSubmit("#search-form", () => search($("#search-serial").value.trim()));
  onSubmit("#bind-form", () => bindDevice($("#bind-code").value.trim()));
  onSubmit("#wifi-form", async () => {
    const ssid = $("#wifi-ssid").value;
    if (ssid && !(await sendNetwork(state.device, { mode: "sta", ssid, password: $("#wifi-password").value }, $("#wifi-result")))) return;
    $("#wifi-form").hidden = true;
    $("#name-form").hidden = false;
  });
  $("#wifi-skip").addEventListener("click", () => { $("#wifi-form").hidden = true; $("#name-form").hidden = false; });
  onSubmit("#name-form", async () => {
    try {
      await api("PATCH", "/api/devices/" + encodeURIComponent(state.device), { name: $("#name-input").value });
      go("#/device/" + encodeURIComponent(state.device));
    } catch (e) { notice(e.message); }
  });
  onSubmit("#rename-form", async () => {
    try {
      const d = (await api("PATCH", "/api/devices/" + encodeURIComponent(state.device), { name: $("#rename-input").value })).data;
      $("#dev-name").textContent = d.name;
      notice("Renamed.", true);
    } catch (e) { notice(e.message); }
  });
  onSubmit("#net-form", () => sendNetwork(state.device, { mode: "sta", ssid: $("#net-ssid").value, password: $("#net-password").value }, $("#net-result")));
  $("#net-ap").addEventListener("click", () => {
    if (confirm("Switch the device to AP mode? It leaves your Wi-Fi and opens its own network, Smart Battery-XXXX.")) {
      sendNetwork(state.device, { mode: "ap" }, $("#net-result"));
    }
  });
  onSubmit("#grant-form", async () => {
    try {
      await api("POST", "/api/devices/" + encodeURIComponent(state.device) + "/access", { username: $("#grant-user").value, hours: Number($("#grant-hours").value) });
      $("#grant-user").value = "";
      loadGrants(state.device);
    } catch (e) { notice(e.message); }
  });
  onSubmit("#handover-form", async () => {
    const to = $("#handover-user").value;
    if (!confirm("Hand this device over to " + to + "? You lose access to it.")) return;
    try {
      await api("POST", "/api/devices/" + encodeURIComponent(state.device) + "/handover", { username: to });
      go("#/devices");
    } catch (e) { notice(e.message); }
  });
  $("#unbind").addEventListener("click", async () => {
    if (!confirm("Unbind this device? Binding it again needs its claim code.")) return;
    try {
      await api("DELETE", "/api/devices/" + encodeURIComponent(state.device));
      go("#/devices");
    } catch (e) { notice(e.message); }
  });
  route();
});
