"""The lab-experiment language: battery-tester steps written as text.

    charge 0.5C to 3.65 V; rest 1 h; discharge 0.5C to 2.5 V
    discharge 50 A for 2 h
    charge 0.2C to 3.65 V then hold until 0.05C
    discharge 2 kW to 46 V
    repeat 3 { charge 0.5C to 3.65 V; discharge 0.5C to 2.5 V }

Steps are separated by ';' or newlines; '#' starts a comment. A voltage below 5 V is a cell limit
(the highest cell when charging, the lowest when discharging), 5 V and above the module terminal.
Charging is positive; "to" a voltage is a maximum when charging and a minimum when discharging.
A step ends at whichever of its voltage limit and duration comes first.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Literal

from ml314.errors import InputError

StepMode = Literal["current", "power", "rest"]

CELL_VOLTAGE_LIMIT_V = 5.0
MAX_VOLTAGE_V = 100.0
MAX_REPEAT = 10_000
MAX_STEPS = 1_000_000

# action -> sign of the current (+1 charging, -1 discharging, 0 rest)
ACTIONS: dict[str, int] = {"charge": 1, "discharge": -1, "rest": 0}
CLAUSES = ("to", "until", "for", "then", "hold")
# unit -> (quantity, factor to SI); the factor of "C" is the capacity in Ah, filled in at parse time.
UNITS: dict[str, tuple[str, float]] = {
    "C": ("current", math.nan),
    "A": ("current", 1.0),
    "mA": ("current", 1e-3),
    "W": ("power", 1.0),
    "kW": ("power", 1e3),
    "V": ("voltage", 1.0),
    "mV": ("voltage", 1e-3),
    "s": ("time", 1.0),
    "sec": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "hr": ("time", 3600.0),
    "d": ("time", 86400.0),
}
_UNITS_FOLDED = {unit.lower(): unit for unit in UNITS}
QUANTITY_UNITS: dict[str, str] = {
    "current": "C, A, mA",
    "power": "W, kW",
    "setpoint": "C, A, mA, W, kW",
    "voltage": "V, mV",
    "time": "s, min, h, d",
}

_TOKEN_RE = re.compile(
    r"(?P<space>[ \t\r]+)|(?P<comment>\#[^\n]*)|(?P<sep>[;\n])|(?P<open>\{)|(?P<close>\})"
    r"|(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+(?![A-Za-z]))?)|(?P<word>[A-Za-z_]+)|(?P<bad>.)"
)


@dataclass(frozen=True)
class LabStep:
    """One tester step. Exactly one of `current_a` / `power_w` is set unless `mode == "rest"`.

    `hold_voltage_until_current_a` (signed like `current_a`) asks for a constant-voltage phase at
    `until_voltage_v` after it is reached, ending when |current| falls below its magnitude.
    """

    mode: StepMode
    current_a: float | None = None
    power_w: float | None = None
    until_voltage_v: float | None = None
    voltage_is_cell: bool = False
    duration_s: float | None = None
    hold_voltage_until_current_a: float | None = None
    text: str = ""

    def to_text(self) -> str:
        """Canonical text in SI units that parses back to this step (with any capacity)."""
        if self.mode == "rest":
            return f"rest {self.duration_s!r} s"
        setpoint = self.current_a if self.mode == "current" else self.power_w
        assert setpoint is not None
        words = ["charge" if setpoint > 0 else "discharge"]
        words.append(f"{abs(setpoint)!r} {'A' if self.mode == 'current' else 'W'}")
        if self.until_voltage_v is not None:
            words.append(f"to {self.until_voltage_v!r} V")
        if self.hold_voltage_until_current_a is not None:
            words.append(f"then hold until {abs(self.hold_voltage_until_current_a)!r} A")
        if self.duration_s is not None:
            words.append(f"for {self.duration_s!r} s")
        return " ".join(words)


def format_experiment(steps: tuple[LabStep, ...]) -> str:
    """Steps as canonical text, one per line; `parse_experiment` reads it back."""
    return "\n".join(step.to_text() for step in steps)


def parse_experiment(text: str, capacity_ah: float = 314.0) -> tuple[LabStep, ...]:
    """Parse experiment text into steps, C-rates taken against `capacity_ah`.

    Raises `InputError` naming the step (number and text) for any bad input.
    """
    if not (math.isfinite(capacity_ah) and capacity_ah > 0.0):
        raise InputError(f"capacity {capacity_ah!r} Ah must be a positive number")
    parser = _Parser(text, _tokenize(text), capacity_ah)
    steps = parser.block(None)
    if not steps:
        raise InputError("experiment has no steps")
    return tuple(steps)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "bad"
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, match.group(), match.start(), match.end()))
    return tokens


def _kinds(quantity: str) -> tuple[str, ...]:
    """Unit kinds a quantity accepts: a setpoint is a current or a power."""
    return ("current", "power") if quantity == "setpoint" else (quantity,)


def _suggest(word: str, choices: dict[str, str]) -> str:
    """' (did you mean ...?)' for the closest of `choices` (folded spelling -> proper spelling), or ''."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.5)
    return f" (did you mean {choices[close[0]]!r}?)" if close else ""


class _Parser:
    """Recursive descent over tokens; `number` counts steps (and repeat headers) in text order."""

    def __init__(self, text: str, tokens: list[_Token], capacity_ah: float) -> None:
        self.text = text
        self.tokens = tokens
        self.pos = 0
        self.number = 0
        self.capacity_ah = capacity_ah

    def block(self, repeat: tuple[int, str] | None) -> list[LabStep]:
        """Steps up to the end of text (top level) or the '}' closing `repeat` (its number and text)."""
        steps: list[LabStep] = []
        while True:
            while self.pos < len(self.tokens) and self.tokens[self.pos].kind == "sep":
                self.pos += 1
            if self.pos == len(self.tokens):
                if repeat is not None:
                    raise InputError(f"step {repeat[0]} \"{repeat[1]}\": missing closing '}}'")
                return steps
            token = self.tokens[self.pos]
            if token.kind == "close":
                if repeat is None:
                    self.number += 1
                    raise InputError(f"step {self.number} \"}}\": '}}' without 'repeat N {{'")
                self.pos += 1
                return steps
            if token.kind == "word" and token.text.lower() == "repeat":
                steps.extend(self.repeat())
            else:
                steps.append(self.step())

    def repeat(self) -> list[LabStep]:
        self.number += 1
        number = self.number
        head = self.tokens[self.pos : self.pos + 3]
        head_text = " ".join(self.text[head[0].start : head[-1].end].split())
        count_token = head[1] if len(head) > 1 else None
        if count_token is None or count_token.kind != "number" or not count_token.text.isdigit():
            raise InputError(f"step {number} \"{head_text}\": expected 'repeat N {{ ... }}' with N a count")
        count = int(count_token.text)
        if not 1 <= count <= MAX_REPEAT:
            raise InputError(f'step {number} "{head_text}": repeat count {count} is not in 1..{MAX_REPEAT}')
        if len(head) < 3 or head[2].kind != "open":
            raise InputError(f"step {number} \"{head_text}\": expected '{{' after 'repeat {count}'")
        self.pos += 3
        body = self.block((number, head_text))
        if len(body) * count > MAX_STEPS:
            raise InputError(f'step {number} "{head_text}": expands to more than {MAX_STEPS} steps')
        return body * count

    def step(self) -> LabStep:
        first = self.pos
        while self.pos < len(self.tokens) and self.tokens[self.pos].kind not in ("sep", "close"):
            self.pos += 1
        self.number += 1
        tokens = self.tokens[first : self.pos]
        text = self.text[tokens[0].start : tokens[-1].end]
        return _StepParser(tokens, self.number, text, self.capacity_ah).parse()


class _StepParser:
    """Parses the tokens of one simple step."""

    def __init__(self, tokens: list[_Token], number: int, text: str, capacity_ah: float) -> None:
        self.tokens = tokens
        self.pos = 0
        self.number = number
        self.text = text
        self.capacity_ah = capacity_ah

    def fail(self, message: str) -> InputError:
        return InputError(f'step {self.number} "{self.text}": {message}')

    def next(self, expected: str) -> _Token:
        if self.pos == len(self.tokens):
            raise self.fail(f"expected {expected} at the end")
        token = self.tokens[self.pos]
        self.pos += 1
        if token.kind == "bad":
            raise self.fail(f"unexpected {token.text!r}")
        if token.kind == "open":
            raise self.fail("'{' may only follow 'repeat N'")
        return token

    def peek(self, want: str) -> bool:
        """Whether the next token is `want` (a word, consumed, or "number", not consumed)."""
        if self.pos == len(self.tokens):
            return False
        token = self.tokens[self.pos]
        if want == "number":
            return token.kind == "number"
        if token.kind == "word" and token.text.lower() == want:
            self.pos += 1
            return True
        return False

    def quantity(self, quantity: str, after: str) -> tuple[str, float]:
        """A positive number with a unit of `quantity` ("setpoint" = current or power): (kind, SI value)."""
        allowed = QUANTITY_UNITS[quantity]
        token = self.next(f"a number after {after!r}")
        if token.kind != "number":
            raise self.fail(f"expected a number after {after!r}, got {token.text!r}")
        value = float(token.text)
        if not (math.isfinite(value) and value > 0.0):
            why = " (the action gives the direction)" if quantity == "setpoint" else ""
            raise self.fail(f"{token.text} must be a positive number{why}")
        unit_token = self.next(f"a unit ({allowed}) after {token.text}")
        unit = _UNITS_FOLDED.get(unit_token.text.lower()) if unit_token.kind == "word" else None
        if unit is None:
            wanted_units = {u.lower(): u for u in UNITS if UNITS[u][0] in _kinds(quantity)}
            hint = _suggest(unit_token.text, wanted_units)
            raise self.fail(f"unknown unit {unit_token.text!r} after {token.text}{hint}; use {allowed}")
        kind, factor = UNITS[unit]
        if kind not in _kinds(quantity):
            raise self.fail(f"{token.text} {unit} is a {kind}; {after!r} takes a {quantity} ({allowed})")
        return kind, value * (self.capacity_ah if unit == "C" else factor)

    def parse(self) -> LabStep:
        action_token = self.next("an action")
        action = action_token.text.lower()
        if action_token.kind != "word" or action not in ACTIONS:
            hint = _suggest(action, {a: a for a in ACTIONS}) or f" (expected {', '.join(ACTIONS)} or repeat)"
            raise self.fail(f"unknown action {action_token.text!r}{hint}")
        sign = ACTIONS[action]
        mode: StepMode = "rest"
        setpoint = 0.0
        if sign:
            self.peek("at")
            kind, setpoint = self.quantity("setpoint", action)
            mode = "current" if kind == "current" else "power"
        clauses: dict[str, float] = {}
        if not sign and self.peek("number"):
            clauses["for"] = self.quantity("time", "rest")[1]  # "rest 1 h" reads as "rest for 1 h"
        while self.pos < len(self.tokens):
            clause_token = self.next("a clause")
            clause = clause_token.text.lower()
            if clause_token.kind != "word" or clause not in CLAUSES:
                hint = _suggest(clause, {c: c for c in CLAUSES}) or " (expected to, for or then hold)"
                raise self.fail(f"unexpected {clause_token.text!r}{hint}")
            if clause == "then" and not self.peek("hold"):
                raise self.fail("'then' must be followed by 'hold until <current>'")
            if clause in ("then", "hold"):
                clause = "hold"
                self.peek("until")
                _, value = self.quantity("current", "hold until")
            elif clause in ("to", "until"):
                clause = "to"
                _, value = self.quantity("voltage", clause_token.text)
            else:
                _, value = self.quantity("time", "for")
            if clause in clauses:
                raise self.fail(f"{clause_token.text!r} given twice")
            if not sign and clause != "for":
                raise self.fail("rest takes only a duration ('rest 1 h')")
            clauses[clause] = value
        return self.build(mode, sign * setpoint, clauses)

    def build(self, mode: StepMode, setpoint: float, clauses: dict[str, float]) -> LabStep:
        voltage_v = clauses.get("to")
        duration_s = clauses.get("for")
        hold_a = clauses.get("hold")
        if voltage_v is None and duration_s is None:
            example = "'rest 1 h'" if mode == "rest" else "'to 3.65 V' or 'for 2 h'"
            raise self.fail(f"needs a stop condition: {example}")
        if voltage_v is not None and voltage_v > MAX_VOLTAGE_V:
            limit = f"{MAX_VOLTAGE_V:g} V (below 5 V is a cell, from 5 V the module)"
            raise self.fail(f"voltage {voltage_v:g} V is above {limit}")
        if hold_a is not None:
            if voltage_v is None:
                raise self.fail("'hold' needs a voltage to hold at ('to 3.65 V then hold until 0.05C')")
            if mode == "current" and hold_a >= abs(setpoint):
                raise self.fail(f"hold ends at {hold_a:g} A, which must be below the step current")
        sign = 1.0 if setpoint > 0 else -1.0
        return LabStep(
            mode=mode,
            current_a=setpoint if mode == "current" else None,
            power_w=setpoint if mode == "power" else None,
            until_voltage_v=voltage_v,
            voltage_is_cell=voltage_v is not None and voltage_v < CELL_VOLTAGE_LIMIT_V,
            duration_s=duration_s,
            hold_voltage_until_current_a=None if hold_a is None else sign * hold_a,
            text=self.text,
        )
