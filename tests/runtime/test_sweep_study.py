"""A study file becomes the right cases; bad files are refused naming the key; the knee and the economics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml314.errors import ConfigError, InputError
from ml314.runtime.sweep_analysis import analyse
from ml314.runtime.sweep_study import Study, read_study
from ml314.twin.ageing import AgeingState, age_cells, project_fade
from ml314.twin.home import grid_without_battery
from ml314.twin.params import load_cell_parameters
from ml314.twin.profiles.profile import Profile


def study_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_a_grid_expands_to_every_combination(tmp_path: Path) -> None:
    path = study_file(tmp_path, "[grid]\nmodules = [1, 2, 4]\npv_kw = [5, 10]\nreserve = [0.1, 0.3]\nyears = [1]\n")
    cases = read_study(path).expand()
    assert len(cases) == 12
    assert {(c.modules, c.pv_kw, c.reserve) for c in cases} == {
        (m, p, r) for m in (1, 2, 4) for p in (5.0, 10.0) for r in (0.1, 0.3)
    }
    assert {c.days for c in cases} == {365.0}
    assert len({c.case_id for c in cases}) == 12
    assert [c.case_id for c in read_study(path).expand()] == [c.case_id for c in cases]  # stable: resume finds them


def test_options_override_the_file_and_listed_cases_cross_the_axes_they_leave(tmp_path: Path) -> None:
    path = study_file(
        tmp_path,
        "seed = 3\n[grid]\nmodules = [1, 2]\npv_kw = [5, 10]\n"
        "[[cases]]\nmodules = 16\npv_kw = 12\n[[cases]]\nmodules = 4\n[[cases]]\nmodules = 4\npv_kw = 5\n",
    )
    study = read_study(path, {"seed": 7, "grid": {"days": "0.5"}})
    cases = study.expand()
    # (16, 12); (4, 5), (4, 10); the third case repeats (4, 5) and is dropped
    assert sorted((c.modules, c.pv_kw) for c in cases) == [(4, 5.0), (4, 10.0), (16, 12.0)]
    assert {c.seed for c in cases} == {7}
    assert {c.days for c in cases} == {0.5}


def test_load_csvs_replace_the_annual_load_and_are_found_beside_the_study(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("time_s,power_w\n0,500\n3600,700\n")
    cases = read_study(study_file(tmp_path, '[grid]\nload_csv = ["a.csv", "b.csv"]\nmodules = [1, 2]\n')).expand()
    assert len(cases) == 4
    assert {c.load_kwh for c in cases} == {None}
    assert {Path(c.load_csv or "").name for c in cases} == {"a.csv", "b.csv"}
    assert cases[0].request().load_csv == tmp_path / "a.csv"


def test_a_case_is_the_simulate_request_of_the_home_scenario_with_the_bms() -> None:
    (case,) = Study().expand()
    request = case.request()
    request.validate()
    assert request.with_bms and request.scenario == "home"
    assert request.with_link is False  # one module: no bank link, as simulate
    (four,) = read_study(None, {"grid": {"modules": "4"}}).expand()
    assert four.request().with_link is True  # the default follows simulate's: on for 2+ modules
    (off,) = read_study(None, {"with_link": False, "grid": {"modules": "4"}}).expand()
    assert off.request().with_link is False


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[grid]\nmodule = [1]\n", ("grid.module", "unknown key", "'modules'")),
        ("[grid]\nmodules = [17]\n", ("grid.modules", "17", "1..16")),
        ("[grid]\npv_kw = 5\n", ("grid.pv_kw", "list")),
        ('[grid]\nweather = ["rainy"]\n', ("grid.weather", "rainy")),
        ('[grid]\nload_csv = ["nowhere.csv"]\n', ("grid.load_csv", "nowhere.csv")),
        ("seeds = 1\n", ("seeds", "'seed'")),
        ("[tarif]\nimport_per_kwh = 0.3\n", ("tarif", "'tariff'")),
        ("[[cases]]\nmodules = 2\npv_kv = 3\n", ("cases[0].pv_kv", "'pv_kw'")),
        ("[grid]\nyears = [1]\ndays = [2]\n", ("grid.years", "grid.days")),
        ("modules = [", ("not valid TOML",)),
    ],
)
def test_a_bad_study_file_is_refused_naming_the_key(tmp_path: Path, text: str, needles: tuple[str, ...]) -> None:
    with pytest.raises((ConfigError, InputError)) as err:
        read_study(study_file(tmp_path, text))
    for needle in needles:
        assert needle in str(err.value)


def _row(modules: int, autarky: float, imported: float, **extra: Any) -> dict[str, Any]:
    (case,) = read_study(None, {"grid": {"modules": str(modules), "days": "365"}}).expand()
    grid = {"grid_import_kwh": imported, "grid_export_kwh": 0.0, "ref_grid_import_kwh": 4000.0}
    return case.inputs() | grid | {"error": None, "autarky_pct": autarky, "ref_grid_export_kwh": 0.0} | extra


def test_the_knee_is_where_another_module_stops_adding_enough_autarky() -> None:
    rows = [_row(1, 40.0, 2700.0), _row(2, 55.0, 2000.0), _row(3, 62.0, 1700.0), _row(4, 62.5, 1690.0)]
    out, series = analyse(rows, read_study(None, {"knee_autarky_pp": 5.0}))
    assert [s.knee_modules for s in series] == [3]
    assert [r["module_pays"] for r in sorted(out, key=lambda r: r["modules"])][1:] == [True, True, False]


def test_with_a_tariff_a_module_pays_when_its_savings_repay_it_within_the_horizon() -> None:
    rows = [_row(1, 40.0, 2700.0), _row(2, 55.0, 2000.0), _row(3, 62.0, 1700.0), _row(4, 62.5, 1690.0)]
    study = Study(tariff=read_study(None, {"tariff": {"import_per_kwh": "0.3", "module_price": "2000"}}).tariff)
    out, series = analyse(rows, study)
    by_modules = {r["modules"]: r for r in out}
    assert by_modules[1]["annual_savings"] == pytest.approx((4000.0 - 2700.0) * 0.3)
    assert by_modules[1]["payback_years"] == pytest.approx(2000.0 / 390.0)
    # module 2 saves 210/yr (3150 in 15 y > 2000): pays; module 3 saves 90/yr (1350 < 2000): does not
    assert [s.knee_modules for s in series] == [2]


def test_the_projection_of_ageing_continues_the_law_it_was_aged_by() -> None:
    params = load_cell_parameters()
    shape = (1, 16)
    state = AgeingState.fresh(shape)
    soc, temp, cap = np.full(shape, 0.6), np.full(shape, 25.0), np.full(shape, 314.0 * 3600.0)
    day = 86400.0
    throughput = np.zeros(shape)
    for _ in range(60):  # 60 days, one cycle a day
        throughput = throughput + 2.0 * cap
        state = age_cells(state, params, elapsed_s=day, abs_charge_as=throughput, capacity_as=cap, soc=soc,
                          temperature_c=temp)  # fmt: skip
    # the same 30 days, projected to 60: the cycle part doubles, the calendar part follows the square-root law
    half = AgeingState.fresh(shape)
    throughput = np.zeros(shape)
    for _ in range(30):
        throughput = throughput + 2.0 * cap
        half = age_cells(half, params, elapsed_s=day, abs_charge_as=throughput, capacity_as=cap, soc=soc,
                         temperature_c=temp)  # fmt: skip
    assert project_fade(half, params, elapsed_s=30 * day, horizon_s=60 * day) == pytest.approx(state.fade, rel=0.02)
    assert project_fade(state, params, elapsed_s=60 * day, horizon_s=60 * day) == pytest.approx(state.fade)


def test_the_pv_only_reference_imports_the_deficit_and_exports_the_surplus_while_the_grid_is_up() -> None:
    hour = 3600.0
    load = Profile("load", "W", np.array([0.0, 2 * hour]), np.array([1000.0, 1000.0]), "step", 4 * hour)
    pv = Profile("pv", "W", np.array([0.0, 2 * hour]), np.array([0.0, 3000.0]), "step", 4 * hour)
    grid = Profile("grid", "1", np.array([0.0, hour]), np.array([1.0, 0.0]), "step", 2 * hour)
    imported, exported = grid_without_battery(load, pv, grid, 4 * hour)
    # hour 0: 1 kW imported; hour 1: outage; hour 2: 2 kW exported; hour 3: outage
    assert imported == pytest.approx(1000.0 * hour)
    assert exported == pytest.approx(2000.0 * hour)
