"""A newcomer's path: --version, real metavars in --help, the README's commands, the design notes and the licence
in the repository, and Ctrl-C in ``simulate`` saying what was kept."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import tomllib
from pathlib import Path

from ml314 import __version__
from tests.cli.test_simulate_cli import ML314, ml314

ROOT = Path(__file__).resolve().parents[2]
#: a safety net only: the waits below end on their condition
SAFETY_S = 900.0


def test_version_option_prints_the_version() -> None:
    r = ml314("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ml314 {__version__}"


def test_help_shows_real_metavars() -> None:
    for command in ("run", "simulate", "decode", "protocols set", "maintenance done", "maintenance storage"):
        r = ml314(*command.split(), "--help")
        assert r.returncode == 0, r.stderr
        options = [line for line in r.stdout.splitlines() if line.lstrip().startswith("--")]
        assert options, command
        for line in options:  # every option with a value names it (typer's own "<list[str]>" says nothing)
            assert not re.search(r"<[a-z\[\]]+>", line), (command, line)
        assert "<list[" not in r.stdout
    r = ml314("run", "--help")
    assert "--protocol CODE" in r.stdout and "--for DURATION" in r.stdout and "--ids ID,ID,..." in r.stdout


def test_the_licence_matches_pyproject() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_design_notes_live_in_docs_and_nothing_points_outside_the_repository() -> None:
    assert (ROOT / "docs" / "design.md").is_file()
    readme = (ROOT / "README.md").read_text()
    assert "docs/design.md" in readme
    for path in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py")]:
        assert "../shared" not in path.read_text(encoding="utf-8"), path


def test_readme_benchmark_commands_name_files_that_exist_and_use_the_venv() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(\S*python\S*) (benchmarks/\S+\.py)", readme, flags=re.MULTILINE)
    assert commands, "the README lists the benchmarks"
    for interpreter, script in commands:
        assert interpreter == ".venv/bin/python", interpreter  # a bare `python` has no ml314 installed
        assert (ROOT / script).is_file(), script
    assert "make bench" in readme


def test_a_benchmark_runs_as_the_readme_says() -> None:
    venv_python = ROOT / ".venv" / "bin" / "python"
    interpreter = str(venv_python) if venv_python.exists() else ML314[0]
    r = subprocess.run(
        [interpreter, "benchmarks/protocols.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    assert "--json" in r.stdout


#: ``ml314`` with Ctrl-C as a terminal gives it: a test runner started in the background ignores SIGINT and its
#: children inherit that, so the child restores Python's KeyboardInterrupt handler before the command starts
ML314_IN_A_TERMINAL = (
    ML314[0],
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'ml314'; runpy.run_module('ml314.cli.main', run_name='__main__')",
)


def test_ctrl_c_in_simulate_keeps_the_series_and_a_partial_summary(tmp_path: Path) -> None:
    out = tmp_path / "long"
    partial = out / "timeseries.partial"
    proc = subprocess.Popen(
        [*ML314_IN_A_TERMINAL, "simulate", "--days", "365", "--sample", "1min", "--format", "csv", "--no-link",
         "--modules", "2", "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + SAFETY_S
        while not (partial.exists() and partial.stat().st_size > 50_000):  # rows are being written
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "simulate never wrote rows"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=SAFETY_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted after" in stderr and "kept:" in stderr and "no report" in stderr
    series = out / "timeseries.csv"
    assert series.is_file() and not partial.exists()
    rows = len(series.read_text().splitlines()) - 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True
    assert summary["run"]["rows"] == rows > 0
    assert 0 < summary["run"]["simulated_days"] < 365
    assert not (out / "report.html").exists()


def test_the_readme_configuration_example_is_valid(tmp_path: Path) -> None:
    from ml314.runtime.config import run_config, simulation_request  # noqa: PLC0415
    from ml314.storage.settings_store import read_settings  # noqa: PLC0415

    readme = (ROOT / "README.md").read_text()
    (example,) = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    path = tmp_path / "ml314.toml"
    path.write_text(example)
    config = run_config(read_settings(path))
    assert config.modules == 4 and config.duration_s == 8 * 3600.0
    request = simulation_request(read_settings(path))
    assert request.days == 30.0 and request.sample_s == 10.0 and request.inverter.mode == "backup"
