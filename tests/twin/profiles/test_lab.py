"""The lab-experiment language: every documented form parses; every mistake names its step."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.errors import InputError
from ml314.twin.profiles import LabStep, format_experiment, parse_experiment


def test_charge_rest_discharge() -> None:
    steps = parse_experiment("charge 0.5C to 3.65 V; rest 1 h; discharge 0.5C to 2.5 V")
    assert steps == (
        LabStep(
            "current",
            current_a=157.0,
            until_voltage_v=3.65,
            voltage_is_cell=True,
            text="charge 0.5C to 3.65 V",
        ),
        LabStep("rest", duration_s=3600.0, text="rest 1 h"),
        LabStep(
            "current",
            current_a=-157.0,
            until_voltage_v=2.5,
            voltage_is_cell=True,
            text="discharge 0.5C to 2.5 V",
        ),
    )


def test_discharge_for_a_duration() -> None:
    (step,) = parse_experiment("discharge 50 A for 2 h")
    assert step == LabStep("current", current_a=-50.0, duration_s=7200.0, text="discharge 50 A for 2 h")


def test_cc_then_cv_hold() -> None:
    (step,) = parse_experiment("charge 0.2C to 3.65 V then hold until 0.05C")
    assert step.mode == "current"
    assert step.current_a == pytest.approx(62.8)
    assert step.until_voltage_v == 3.65 and step.voltage_is_cell
    assert step.hold_voltage_until_current_a == pytest.approx(15.7)
    assert step.duration_s is None


def test_rest_minutes() -> None:
    assert parse_experiment("rest 30 min") == (LabStep("rest", duration_s=1800.0, text="rest 30 min"),)


def test_power_to_module_voltage() -> None:
    (step,) = parse_experiment("discharge 2 kW to 46 V")
    assert step == LabStep("power", power_w=-2000.0, until_voltage_v=46.0, voltage_is_cell=False, text=step.text)


def test_repeat_expands_body() -> None:
    steps = parse_experiment("repeat 3 { charge 0.5C to 3.65 V; discharge 0.5C to 2.5 V }")
    assert [s.current_a for s in steps] == [157.0, -157.0] * 3
    nested = parse_experiment("repeat 2 {\n  repeat 2 { rest 1 s }\n  rest 2 s\n}")
    assert [s.duration_s for s in nested] == [1.0, 1.0, 2.0, 1.0, 1.0, 2.0]


def test_capacity_units_case_comments_and_newlines() -> None:
    text = "# cap\ncharge at 100 A until 3650 mV for 3 h  # CC\n\nrest for 10 s;;\ndischarge 0.5c to 2.5v"
    steps = parse_experiment(text, capacity_ah=280.0)
    assert steps[0].current_a == 100.0 and steps[0].until_voltage_v == pytest.approx(3.65)
    assert steps[0].duration_s == 10800.0 and steps[0].text == "charge at 100 A until 3650 mV for 3 h"
    assert steps[1].duration_s == 10.0
    assert steps[2].current_a == -140.0 and steps[2].until_voltage_v == 2.5
    assert parse_experiment("rest 1 d")[0].duration_s == 86400.0
    assert parse_experiment("charge 500 mA for 90 s")[0].current_a == 0.5
    assert parse_experiment("charge 1500 W for 1 h")[0].power_w == 1500.0


@pytest.mark.parametrize(
    ("voltage", "is_cell"),
    [("2.5 V", True), ("4.99 V", True), ("5 V", False), ("58.4 V", False), ("3650 mV", True)],
)
def test_cell_or_module_voltage(voltage: str, is_cell: bool) -> None:
    assert parse_experiment(f"discharge 1 A to {voltage}")[0].voltage_is_cell is is_cell


EXAMPLES = [
    "charge 0.5C to 3.65 V; rest 1 h; discharge 0.5C to 2.5 V",
    "discharge 50 A for 2 h",
    "charge 0.2C to 3.65 V then hold until 0.05C",
    "rest 30 min",
    "discharge 2 kW to 46 V",
    "repeat 3 { charge 0.5C to 3.65 V; discharge 0.5C to 2.5 V }",
    "charge 0.3C to 3.6 V for 4 h then hold until 0.02C",
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_canonical_text_round_trips(text: str) -> None:
    steps = parse_experiment(text)
    again = parse_experiment(format_experiment(steps), capacity_ah=1.0)
    assert [dataclasses.replace(s, text="") for s in again] == [dataclasses.replace(s, text="") for s in steps]


@given(
    st.sampled_from(["current", "power", "rest"]),
    st.sampled_from([1.0, -1.0]),
    st.floats(0.01, 1e4),
    st.one_of(st.none(), st.floats(0.5, 99.0)),
    st.one_of(st.none(), st.floats(1.0, 1e6)),
)
def test_steps_round_trip_through_text(
    mode: str, sign: float, setpoint: float, voltage: float | None, duration: float | None
) -> None:
    if voltage is None and duration is None:
        duration = 60.0
    if mode == "rest":
        step = LabStep("rest", duration_s=duration or 60.0)
    else:
        step = LabStep(
            mode,  # type: ignore[arg-type]
            current_a=sign * setpoint if mode == "current" else None,
            power_w=sign * setpoint if mode == "power" else None,
            until_voltage_v=voltage,
            voltage_is_cell=voltage is not None and voltage < 5.0,
            duration_s=duration,
        )
    (parsed,) = parse_experiment(step.to_text())
    assert dataclasses.replace(parsed, text="") == step


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "charge 0.5C to 3.65 V; dischrge 0.5C to 2.5 V",
            "step 2 \"dischrge 0.5C to 2.5 V\": unknown action 'dischrge' (did you mean 'discharge'?)",
        ),
        ("charge 0.5C", 'step 1 "charge 0.5C": needs a stop condition'),
        ("rest", 'step 1 "rest": needs a stop condition'),
        ("rest 1 h\nrest to 3 V", 'step 2 "rest to 3 V": rest takes only a duration'),
        ("charge 0.5 kV to 3 V", "unknown unit 'kV' after 0.5 (did you mean 'kW'?)"),
        ("rest 1 mn", "unknown unit 'mn' after 1 (did you mean 'min'?)"),
        ("charge 0.5C tu 3 V", "unexpected 'tu' (did you mean 'to'?)"),
        ("charge 1 A to 3 A", "3 A is a current; 'to' takes a voltage"),
        ("charge 0.5C for 3 V", "3 V is a voltage; 'for' takes a time"),
        ("charge 0.5C to 3.65 V then", "'then' must be followed by 'hold"),
        ("charge 0.5C for 1 h then hold until 0.1C", "'hold' needs a voltage"),
        ("charge 0.05C to 3.65 V then hold until 0.1C", "must be below the step current"),
        ("charge 0.5C to 3.65 V to 3.6 V", "'to' given twice"),
        ("charge -1 A for 1 h", "-1 must be a positive number"),
        ("charge 1 A for 1 h, rest 1 h", "unexpected ','"),
        ("charge 1 A for", "expected a number after 'for'"),
        ("charge 1 A for 1", "expected a unit (s, min, h, d)"),
        ("charge 0.5C to 365 V", "voltage 365 V is above 100 V"),
        ("repeat 3 charge 1 A for 1 h", "step 1 \"repeat 3 charge\": expected '{'"),
        ("rest 1 s; repeat 3 { rest 1 h", "step 2 \"repeat 3 {\": missing closing '}'"),
        ("rest 1 h }", "step 2 \"}\": '}' without 'repeat N {'"),
        ("repeat 0 { rest 1 s }", "repeat count 0"),
        ("repeat x { rest 1 s }", "with N a count"),
        ("repeat 9999 { repeat 9999 { rest 1 s } }", 'step 1 "repeat 9999 {": expands to more than'),
        ("{ rest 1 h }", "'{' may only follow 'repeat N'"),
        ("1 h", "unknown action '1' (expected charge, discharge, rest or repeat)"),
        ("", "experiment has no steps"),
        (" ;\n # only a comment\n", "experiment has no steps"),
    ],
)
def test_bad_input_names_the_step(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_experiment(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_capacity() -> None:
    with pytest.raises(InputError, match=r"capacity 0\.0 Ah"):
        parse_experiment("charge 1C for 1 h", capacity_ah=0.0)


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_input_error(text: str) -> None:
    try:
        steps = parse_experiment(text)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(s.duration_s is not None or s.until_voltage_v is not None for s in steps)
