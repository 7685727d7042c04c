"""The module's 5-inch touch LCD (manual 10.1) as one pure page model, drawn by the browser and by ``ml314 lcd``.

Pages: the main page with the fields of Table 10-1 (10.1.2), Settings, the cell voltages ("Settings" - "Voltage",
10.1.3), the temperatures ("Settings" - "Temperature", 10.1.4), and the working-protocol selection of 10.1.5:
Settings -> RS485 or CAN -> enter the PIN, press "√" -> pick a protocol of the registry's list for that port ->
"Back" to the main page; the change takes effect when the battery restarts ("restart required").

The model never checks the PIN: the device does. Picking a protocol makes a :class:`ProtocolRequest` (port,
protocol, the PIN typed) that the screen carries as its pending ``action``; the client sends it (``PUT
/api/protocols``) and feeds the device's :class:`ProtocolReply` back through :func:`step`. A refusal returns to the
PIN entry with the device's words; a lockout keeps "√" refused until the device's ``retry_after_s`` has passed.

Wake and dim (the manual: "press any key to wake up the screen"; it states no timeout): the screen is dark at power
on, a touch wakes it on the main page, and after :data:`DIM_AFTER_S` without a touch it dims to a short page (SOC
and state). The first touch on a dimmed screen only wakes it (it never presses the button under the finger), and a
wake always starts on the main page with the PIN entry forgotten.

Pure: the time is an argument (``now_s``, wall-clock seconds, used for the system-time field too), no I/O. Input
is a key string (:data:`TOUCH`, a button's ``key``, a digit) or a :class:`ProtocolReply`. Transitions are one table
of ordered rules per page, each with its reason (as in :mod:`ml314.bms.states`).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from ml314.domain.battery_status import BankStatus, ModuleStatus
from ml314.errors import InputError
from ml314.protocols.base import Transport
from ml314.protocols.registry import Entry, entries, resolve

__all__ = [
    "DIM_AFTER_S",
    "PAGES",
    "PIN_MAX_DIGITS",
    "PIN_MIN_DIGITS",
    "PROTOCOLS_PER_PAGE",
    "TOUCH",
    "TRANSITIONS",
    "LcdButton",
    "LcdInput",
    "LcdPage",
    "LcdRow",
    "LcdScreen",
    "LcdState",
    "PortProtocols",
    "ProtocolReply",
    "ProtocolRequest",
    "awake",
    "options",
    "render",
    "step",
]

#: seconds without a touch before the screen dims (the manual states none; a common figure for such panels)
DIM_AFTER_S = 60.0
#: the device PIN has 8 digits (storage/identity.py); the manual's legacy PIN 123456 has 6
PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 8
#: protocol choices shown at once (Table 10-3 has 15 CAN rows: two pages)
PROTOCOLS_PER_PAGE = 8
#: a touch on the glass outside any button
TOUCH = "touch"


class LcdPage(enum.Enum):
    MAIN = "main"
    SETTINGS = "settings"
    CELLS = "cells"
    TEMPERATURES = "temperatures"
    PIN = "pin"
    PROTOCOLS = "protocols"


@dataclass(frozen=True, slots=True)
class ProtocolRequest:
    """The pending action: "change the ``port`` protocol to ``protocol`` with PIN ``pin``" (``seq`` pairs it with
    its reply). ``protocol`` is the registry's name (``victron-can``), which ``PUT /api/protocols`` accepts."""

    seq: int
    port: Transport
    protocol: str
    pin: str

    def describe(self) -> str:
        return f"change the {self.port.value} protocol to {self.protocol} with PIN {'*' * len(self.pin)}"


@dataclass(frozen=True, slots=True)
class ProtocolReply:
    """The device's answer to request ``seq``: accepted (``can``/``rs485``: the selection for the next start) or
    refused (``message``: the device's words; ``retry_after_s`` > 0 when its PIN check is locked)."""

    seq: int
    accepted: bool
    message: str = ""
    retry_after_s: float = 0.0
    can: str | None = None
    rs485: str | None = None


LcdInput = str | ProtocolReply


@dataclass(frozen=True, slots=True)
class PortProtocols:
    """The protocols a port runs (or will run after a restart): registry names or any spelling ``resolve`` takes;
    None for a port that runs no protocol (the main page says "off")."""

    can: str | None = None
    rs485: str | None = None

    def of(self, port: Transport) -> str | None:
        return self.can if port is Transport.CAN else self.rs485


@dataclass(frozen=True, slots=True)
class LcdState:
    """Where the LCD of module ``module_id`` is: page, last touch, the PIN entry, the pending change."""

    module_id: int = 1
    page: LcdPage = LcdPage.MAIN
    last_touch_s: float | None = None  # None: dark since power on
    port: Transport | None = None  # the port whose protocol is being chosen
    digits: str = ""  # typed on the PIN page
    pin: str = ""  # confirmed with "√"; kept until the change is answered, Back, or the screen dims
    offset: int = 0  # first protocol shown
    pending: ProtocolRequest | None = None
    seq: int = 0
    notice: str = ""
    locked_until_s: float = 0.0  # the device said its PIN check is locked until then
    next_start: PortProtocols = PortProtocols()  # what the device accepted for its next start


@dataclass(frozen=True, slots=True)
class LcdRow:
    """One line: label, value, and a mark (``max``/``min`` cell, ``running``/``next start`` protocol, ``alarm``)."""

    label: str
    value: str
    mark: str = ""


@dataclass(frozen=True, slots=True)
class LcdButton:
    """A touch button: the key :func:`step` takes, its label, and whether it answers now."""

    key: str
    label: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class LcdScreen:
    """What the LCD shows now (both renderers draw exactly this)."""

    module_id: int
    page: LcdPage
    title: str
    rows: tuple[LcdRow, ...]
    buttons: tuple[LcdButton, ...]
    dimmed: bool = False
    notice: str = ""
    action: ProtocolRequest | None = None
    restart_required: bool = False
    off: bool = False  # the module's BMS is shut down: the LCD has no power and shows nothing


# ----------------------------------------------------------------------------------------------------- options


def options(port: Transport) -> tuple[Entry, ...]:
    """The protocols the LCD offers for ``port``: Table 10-3's column, then those reachable by name only."""
    rows = [e for e in entries() if e.transport is port]
    return tuple(sorted(rows, key=lambda e: (e.code == "", e.code)))


def _entry(spec: str | None) -> Entry | None:
    if not spec:
        return None
    try:
        return resolve(spec)
    except InputError:
        return None


def _shown(spec: str | None) -> str:
    """A protocol as the LCD names it: its P-code (``P14-PYL``), else its name."""
    e = _entry(spec)
    if e is None:
        return spec or "--"
    return e.code or e.name


def _same(a: str | None, b: str | None) -> bool:
    ea, eb = _entry(a), _entry(b)
    return ea is not None and ea == eb


def awake(state: LcdState, now_s: float) -> bool:
    """Whether the screen is lit (touched within :data:`DIM_AFTER_S`)."""
    return state.last_touch_s is not None and now_s - state.last_touch_s < DIM_AFTER_S


def _restart_required(state: LcdState, running: PortProtocols | None) -> bool:
    for port in Transport:
        chosen = state.next_start.of(port)
        if chosen and not _same(chosen, running.of(port) if running else None):
            return True
    return False


# ------------------------------------------------------------------------------------------------- transitions

Guard = Callable[[LcdState, str, float], bool]
Effect = Callable[[LcdState, str, float], LcdState]
Rule = tuple[str, Guard, Effect]


def _is(key: str) -> Guard:
    return lambda s, k, now: k == key


def _digit(s: LcdState, k: str, now: float) -> bool:
    return len(k) == 1 and k.isdigit() and len(s.digits) < PIN_MAX_DIGITS


def _go(page: LcdPage) -> Effect:
    return lambda s, k, now: replace(s, page=page, notice="" if s.pending is None else s.notice)


def _choose_port(s: LcdState, k: str, now: float) -> LcdState:
    return replace(s, page=LcdPage.PIN, port=Transport(k.upper()), digits="", pin="", notice="")


def _locked(s: LcdState, k: str, now: float) -> bool:
    return k == "ok" and now < s.locked_until_s


def _pin_short(s: LcdState, k: str, now: float) -> bool:
    return k == "ok" and len(s.digits) < PIN_MIN_DIGITS


def _confirm(s: LcdState, k: str, now: float) -> LcdState:
    current = s.next_start.of(s.port) if s.port else None
    return replace(s, page=LcdPage.PROTOCOLS, pin=s.digits, digits="", offset=_page_of(s.port, current), notice="")


def _page_of(port: Transport | None, spec: str | None) -> int:
    if port is None:
        return 0
    e = _entry(spec)
    rows = options(port)
    i = rows.index(e) if e in rows else 0
    return i - i % PROTOCOLS_PER_PAGE


def _pickable(s: LcdState, k: str, now: float) -> bool:
    if not k.startswith("pick:") or s.port is None or s.pending is not None:
        return False
    return any(e.name == k[5:] for e in options(s.port))


def _pick(s: LcdState, k: str, now: float) -> LcdState:
    assert s.port is not None
    request = ProtocolRequest(s.seq + 1, s.port, k[5:], s.pin)
    return replace(s, seq=s.seq + 1, pending=request, notice=f"sending: {s.port.value} protocol {_shown(k[5:])}")


def _busy(s: LcdState, k: str, now: float) -> bool:
    return k.startswith("pick:") and s.pending is not None


def _scroll(delta: int) -> Effect:
    def effect(s: LcdState, k: str, now: float) -> LcdState:
        n = len(options(s.port)) if s.port else 0
        offset = s.offset + delta * PROTOCOLS_PER_PAGE
        return replace(s, offset=offset if 0 <= offset < n else s.offset)

    return effect


def _can_scroll(delta: int) -> Guard:
    def guard(s: LcdState, k: str, now: float) -> bool:
        n = len(options(s.port)) if s.port else 0
        return k == ("down" if delta > 0 else "up") and 0 <= s.offset + delta * PROTOCOLS_PER_PAGE < n

    return guard


def _home(s: LcdState, k: str, now: float) -> LcdState:
    notice = s.notice if s.pending is not None else ""
    return replace(s, page=LcdPage.MAIN, port=None, digits="", pin="", offset=0, notice=notice)


_BACK_TO_SETTINGS: Rule = ("Back to Settings", _is("back"), _go(LcdPage.SETTINGS))

#: page -> ordered rules (first match wins): reason, guard(state, key, now), effect
TRANSITIONS: dict[LcdPage, tuple[Rule, ...]] = {
    LcdPage.MAIN: (("Settings opens the settings page", _is("settings"), _go(LcdPage.SETTINGS)),),
    LcdPage.SETTINGS: (
        ("Voltage shows the cell voltages (10.1.3)", _is("voltage"), _go(LcdPage.CELLS)),
        ("Temperature shows the temperatures (10.1.4)", _is("temperature"), _go(LcdPage.TEMPERATURES)),
        ("CAN asks for the PIN (10.1.5)", _is("can"), _choose_port),
        ("RS485 asks for the PIN (10.1.5)", _is("rs485"), _choose_port),
        ("Back to the main page", _is("back"), _home),
    ),
    LcdPage.CELLS: (_BACK_TO_SETTINGS,),
    LcdPage.TEMPERATURES: (_BACK_TO_SETTINGS,),
    LcdPage.PIN: (
        ("a digit of the PIN", _digit, lambda s, k, now: replace(s, digits=s.digits + k)),
        ("delete the last digit", _is("del"), lambda s, k, now: replace(s, digits=s.digits[:-1])),
        (
            "the device's PIN check is locked",
            _locked,
            lambda s, k, now: replace(s, notice=f"PIN locked for {math.ceil(s.locked_until_s - now)} s more"),
        ),
        (
            "too few digits for a PIN",
            _pin_short,
            lambda s, k, now: replace(s, notice=f"the PIN has {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits"),
        ),
        ("√ confirms the PIN: choose the protocol", _is("ok"), _confirm),
        (
            "Back to Settings",
            _is("back"),
            lambda s, k, now: replace(s, page=LcdPage.SETTINGS, port=None, digits="", notice=""),
        ),
    ),
    LcdPage.PROTOCOLS: (
        ("a change is already being sent", _busy, lambda s, k, now: s),
        ("a protocol is picked: the change goes to the device", _pickable, _pick),
        ("previous protocols", _can_scroll(-1), _scroll(-1)),
        ("next protocols", _can_scroll(+1), _scroll(+1)),
        ("Back to the main page (10.1.5 step 5)", _is("back"), _home),
    ),
}


def _wake(s: LcdState, now: float) -> LcdState:
    notice = s.notice if s.pending is not None else ""
    return replace(s, page=LcdPage.MAIN, last_touch_s=now, port=None, digits="", pin="", offset=0, notice=notice)


def _reply(s: LcdState, r: ProtocolReply, now: float) -> tuple[LcdState, str | None]:
    if s.pending is None or r.seq != s.pending.seq:
        return s, None
    port = s.pending.port
    if r.accepted:
        said = (r.can if port is Transport.CAN else r.rs485) or s.pending.protocol  # only the port it changed
        nxt = replace(s.next_start, **{"can" if port is Transport.CAN else "rs485": said})
        chosen = _shown(said)
        notice = f"{port.value} protocol {chosen} saved: restart required"
        return replace(s, pending=None, next_start=nxt, notice=notice, locked_until_s=0.0), "the device accepted"
    locked = now + r.retry_after_s if r.retry_after_s > 0 else s.locked_until_s
    page = LcdPage.PIN if s.page is LcdPage.PROTOCOLS else s.page
    refused = replace(s, pending=None, pin="", digits="", page=page, locked_until_s=locked, notice=r.message)
    return refused, "the device refused the PIN" if not r.retry_after_s else "the device's PIN check is locked"


def step(state: LcdState, event: LcdInput, now_s: float) -> tuple[LcdState, str | None]:
    """The state after ``event`` at ``now_s``, and the reason of the change (None: the input did nothing).

    A key or touch on a dark or dimmed screen only wakes it (on the main page); on a lit screen it keeps it lit
    and applies the page's first matching rule.
    """
    if isinstance(event, ProtocolReply):
        return _reply(state, event, now_s)
    if not awake(state, now_s):
        return _wake(state, now_s), "a touch wakes the screen"
    touched = replace(state, last_touch_s=now_s)
    for why, guard, effect in TRANSITIONS[state.page]:
        if guard(touched, event, now_s):
            return effect(touched, event, now_s), why
    return touched, None


# ------------------------------------------------------------------------------------------------------ render

_TEMPERATURE_LABELS = ("BMS board", "Cells 1-4", "Cells 5-8", "Cells 9-12", "Cells 13-16", "MOSFET")
_BACK = LcdButton("back", "Back")


def _v(x: float, fmt: str, unit: str) -> str:
    return "--" if not math.isfinite(x) else f"{x:{fmt}}{unit}"


def _find(bank: BankStatus | None, module: ModuleStatus | None, module_id: int) -> ModuleStatus | None:
    if module is not None:
        return module
    if bank is None:
        return None
    return next((m for m in bank.modules if m.address == module_id), None)


def _protocol_value(port: Transport, state: LcdState, running: PortProtocols | None) -> str:
    now = running.of(port) if running else None
    text = f"{port.value}: {'off' if running is not None and now is None else _shown(now)}"
    chosen = state.next_start.of(port)
    if chosen and not _same(chosen, now):
        text += f" -> {_shown(chosen)} (restart required)"
    return text


@dataclass(frozen=True, slots=True)
class _View:
    """What a page is drawn from."""

    state: LcdState
    module: ModuleStatus | None
    online: bool
    now_s: float
    running: PortProtocols | None
    utc_offset_s: float
    network: str | None = None  # the device's network mode as the app names it (None: not known)

    @property
    def status(self) -> str:
        m = self.module
        return "offline" if m is None or not self.online else m.state.capitalize()


Page = tuple[str, list[LcdRow], list[LcdButton]]


def _main(v: _View) -> Page:
    s, m, run = v.state, v.module, v.running
    clock = dt.datetime.fromtimestamp(v.now_s + v.utc_offset_s, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
    status = v.status
    rows = [
        LcdRow("Battery ID", str(s.module_id)),
        LcdRow("Battery status", status, "alarm" if m is not None and m.protections else ""),
        LcdRow("Battery SOC", f"SOC: {m.soc_pct:.0f}%" if m else "--"),
        LcdRow("Battery module voltage", _v(m.voltage_v, ".2f", "V") if m else "--"),
        LcdRow("Current", _v(m.current_a, ".1f", "A") if m else "--"),
        LcdRow("CAPACITY", _v(m.full_capacity_ah, ".0f", "Ah") if m else "--"),
        LcdRow("PROTOCOL", _protocol_value(Transport.CAN, s, run)),
        LcdRow("", _protocol_value(Transport.RS485, s, run)),
        LcdRow("System time", clock),
    ]
    if m is not None and (m.alarms or m.protections):
        names = sorted(a.value.replace("_", " ") for a in m.alarms | m.protections)
        rows.append(LcdRow("Alarm", ", ".join(names), "alarm"))
    return "Main page", rows, [LcdButton("settings", "Settings >")]


def _settings(v: _View) -> Page:
    m = v.module
    rows = [
        LcdRow("Serial", m.serial if m else "--"),
        LcdRow("SOH", _v(m.soh_pct, ".0f", "%") if m else "--"),
        LcdRow("Cycles", str(m.cycles) if m else "--"),
    ]
    if v.network is not None:  # the Smart Battery app's mode (manual 11): host network, Wi-Fi mode or AP mode
        rows.append(LcdRow("Network", v.network))
    keys = [("voltage", "Voltage"), ("temperature", "Temperature"), ("rs485", "RS485"), ("can", "CAN")]
    return "Settings", rows, [*(LcdButton(k, label) for k, label in keys), _BACK]


def _cells(v: _View) -> Page:
    m = v.module
    cells = m.cell_voltages_v if m else ()
    finite = [v for v in cells if math.isfinite(v)]
    hi, lo = (max(finite), min(finite)) if finite else (math.nan, math.nan)
    rows = []
    for i, u in enumerate(cells, start=1):
        mark = "max" if u == hi else "min" if u == lo else ""
        rows.append(LcdRow(f"Cell {i:02d}", _v(u, ".3f", "V"), mark))
    if finite:
        rows.append(LcdRow("Max - Min", f"{1000 * (hi - lo):.0f} mV"))
    return "Cell voltage", rows, [_BACK]


def _temperatures(v: _View) -> Page:
    m = v.module
    temps = m.temperatures_c if m else ()
    labels = _TEMPERATURE_LABELS if len(temps) == len(_TEMPERATURE_LABELS) else [f"T{i}" for i in range(len(temps))]
    rows = [LcdRow(label, _v(t, ".1f", " °C")) for label, t in zip(labels, temps, strict=True)]
    return "Temperature", rows, [_BACK]


def _pin(v: _View) -> Page:
    s, now_s = v.state, v.now_s
    port = s.port.value if s.port else "?"
    locked = now_s < s.locked_until_s
    rows = [LcdRow("PIN", "*" * len(s.digits) or "_")]
    if locked:
        rows.append(LcdRow("Locked", f"{math.ceil(s.locked_until_s - now_s)} s", "alarm"))
    digits = [LcdButton(str(d), str(d), len(s.digits) < PIN_MAX_DIGITS) for d in (*range(1, 10), 0)]
    ok = LcdButton("ok", "√", not locked and len(s.digits) >= PIN_MIN_DIGITS)
    return f"{port} protocol: enter PIN", rows, [*digits, LcdButton("del", "Del", bool(s.digits)), ok, _BACK]


def _protocols(v: _View) -> Page:
    s, run = v.state, v.running
    port = s.port or Transport.CAN
    every = options(port)
    shown = every[s.offset : s.offset + PROTOCOLS_PER_PAGE]
    now = run.of(port) if run else None
    chosen = s.next_start.of(port)
    rows = [LcdRow("Running", _shown(now)), LcdRow("Next start", _shown(chosen or now))]
    buttons = []
    for e in shown:
        mark = " (next start)" if _same(e.name, chosen) else " (running)" if _same(e.name, now) else ""
        label = f"{e.code or e.name} {e.brand}{mark}"
        buttons.append(LcdButton(f"pick:{e.name}", label, s.pending is None))
    buttons += [
        LcdButton("up", "Up", s.offset > 0),
        LcdButton("down", "Down", s.offset + PROTOCOLS_PER_PAGE < len(every)),
        _BACK,
    ]
    page = f"{s.offset // PROTOCOLS_PER_PAGE + 1}/{math.ceil(len(every) / PROTOCOLS_PER_PAGE)}"
    return f"{port.value} protocol ({page})", rows, buttons


#: page -> how it is drawn
PAGES: dict[LcdPage, Callable[[_View], Page]] = {
    LcdPage.MAIN: _main,
    LcdPage.SETTINGS: _settings,
    LcdPage.CELLS: _cells,
    LcdPage.TEMPERATURES: _temperatures,
    LcdPage.PIN: _pin,
    LcdPage.PROTOCOLS: _protocols,
}


def render(
    state: LcdState,
    bank: BankStatus | None,
    module: ModuleStatus | None,
    now_s: float,
    *,
    online: bool = True,
    running: PortProtocols | None = None,
    utc_offset_s: float = 0.0,
    powered: bool = True,
    network: str | None = None,
) -> LcdScreen:
    """The screen of ``state`` at ``now_s`` with the module's values (``module``, else found in ``bank`` by
    ``state.module_id``; None: shown as "--"), the protocols the ports run now, the clock's offset from UTC and the
    device's network mode (Settings; None: not shown).
    A module whose BMS is shut down (``powered`` False) has a blank LCD (manual 10.1.2: "when power is on")."""
    m = _find(bank, module, state.module_id)
    view = _View(state, m, online, now_s, running, utc_offset_s, network)
    restart = _restart_required(state, running)
    if not powered:
        return LcdScreen(state.module_id, state.page, "", (), (), dimmed=True, action=state.pending, off=True)
    if not awake(state, now_s):
        rows = [LcdRow("Battery SOC", f"SOC: {m.soc_pct:.0f}%" if m else "--"), LcdRow("Battery status", view.status)]
        title, buttons, dimmed = f"ML314 #{state.module_id}", [LcdButton(TOUCH, "Touch to wake")], True
    else:
        title, rows, buttons = PAGES[state.page](view)
        dimmed = False
    return LcdScreen(
        state.module_id,
        state.page,
        title,
        tuple(rows),
        tuple(buttons),
        dimmed=dimmed,
        notice=state.notice,
        action=state.pending,
        restart_required=restart,
    )
