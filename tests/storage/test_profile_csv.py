"""CSV profiles: formats accepted, and every bad line named with file, line and value."""

from pathlib import Path

import numpy as np
import pytest

from ml314.errors import InputError
from ml314.storage.profile_csv import load_profile_csv


def write(tmp_path: Path, text: str, name: str = "load.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_seconds_with_header(tmp_path: Path) -> None:
    profile = load_profile_csv(write(tmp_path, "time_s,power_w\n0,100\n60,200.5\n120,0\n"), "load")
    assert profile.name == "load" and profile.unit == "W"
    assert profile.t_s.tolist() == [0.0, 60.0, 120.0]
    assert profile.value.tolist() == [100.0, 200.5, 0.0]


def test_no_header(tmp_path: Path) -> None:
    profile = load_profile_csv(write(tmp_path, "0,1\n1,2\n"), "load")
    assert profile.value.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("header", ["time,power_kw", "t;kW", "time,load [kW]", "time,pv (kW)"])
def test_kilowatt_header_converts_to_watts(tmp_path: Path, header: str) -> None:
    delimiter = ";" if ";" in header else ","
    text = f"{header}\n0{delimiter}1.5\n900{delimiter}2\n"
    profile = load_profile_csv(write(tmp_path, text), "pv")
    assert profile.value.tolist() == [1500.0, 2000.0]


def test_iso_timestamps_become_seconds_from_first_row(tmp_path: Path) -> None:
    text = "timestamp,power\n2024-06-01T00:00:00+02:00,10\n2024-06-01T00:15:00+02:00,20\n2024-06-01 00:30:00+02:00,30\n"
    profile = load_profile_csv(write(tmp_path, text), "load")
    assert profile.t_s.tolist() == [0.0, 900.0, 1800.0]


def test_iso_timestamps_across_dst_change_use_offsets(tmp_path: Path) -> None:
    text = "t,p\n2024-10-27T02:30:00+02:00,1\n2024-10-27T02:00:00+01:00,2\n"
    assert load_profile_csv(write(tmp_path, text), "load").t_s.tolist() == [0.0, 1800.0]


def test_bom_semicolon_decimal_comma_and_blank_lines(tmp_path: Path) -> None:
    text = "Zeit;Leistung_kW\r\n0;0,5\r\n\r\n60;1,25\r\n\r\n\r\n"
    profile = load_profile_csv(write(tmp_path, text, encoding="utf-8-sig"), "load")
    assert profile.t_s.tolist() == [0.0, 60.0]
    assert profile.value.tolist() == [500.0, 1250.0]


def test_tab_delimiter_and_quoted_fields(tmp_path: Path) -> None:
    profile = load_profile_csv(write(tmp_path, 'time\t"power"\n0\t"5"\n10\t6\n'), "load")
    assert profile.value.tolist() == [5.0, 6.0]


def test_non_power_unit_keeps_negative_values(tmp_path: Path) -> None:
    profile = load_profile_csv(write(tmp_path, "t,temperature\n0,-5\n3600,-7\n"), "ambient", unit="degC")
    np.testing.assert_array_equal(profile.value, [-5.0, -7.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "load.csv: the file is empty"),
        ("\n\n  \n", "load.csv: the file is empty"),
        ("time,power\n", "load.csv: no data rows after the header on line 1"),
        ("time,power\n0,1\n60\n", "load.csv line 3: expected 2 columns (time, value), got '60'"),
        ("time,power\n0,1\n60,\n", "load.csv line 3: expected 2 columns"),
        ("time,power\n0,1\n60,abc\n", "load.csv line 3: 'abc' is not a number"),
        (
            "time,power\n0,1\nsoon,2\n",
            "load.csv line 3: 'soon' is not a number of seconds or an ISO-8601 time",
        ),
        ("time,power\n0,1\n60,-2\n", "load.csv line 3: '-2' is negative"),
        ("time,power\n0,1\n60,inf\n", "load.csv line 3: 'inf' is not a finite number"),
        ("time,power\n0,1\nnan,1\n", "load.csv line 3: 'nan' is not a finite number"),
        ("time,power\n0,1\n60,1\n60,1\n", "load.csv line 4: time '60' does not increase"),
        ("time,power\n0,1\n60,1\n30,1\n", "load.csv line 4: time '30' does not increase"),
        (
            "time,power\n0,1\n0.5,1\n",
            "load.csv line 3: time '0.5' is only 0.5 s after the row before (minimum 1 s)",
        ),
        (
            "time,power\n0,1\n7200,1\n",
            "load.csv line 3: time '7200' is 7200 s after the row before (maximum 3600 s)",
        ),
        ("time,energy_kwh\n0,1\n60,1\n", "load.csv line 1: column 'energy_kwh' is energy"),
        (
            "t,p\n2024-01-01T00:00:00,1\n60,1\n",
            "load.csv line 3: '60' is a number, earlier rows are ISO-8601 times",
        ),
        (
            "t,p\n0,1\n2024-01-01T00:00:00,1\n",
            "load.csv line 3: '2024-01-01T00:00:00' is not a number of seconds",
        ),
        (
            "t,p\n2024-01-01T00:00:00,1\n2024-01-01T00:01:00+01:00,1\n",
            "load.csv line 3: '2024-01-01T00:01:00+01:00' mixes time zones",
        ),
    ],
)
def test_bad_files_name_file_line_and_value(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        load_profile_csv(write(tmp_path, text), "load")
    assert str(info.value) == message or str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"load\.csv line 5: 'x' is not a number"):
        load_profile_csv(write(tmp_path, "t,p\n0,1\n\n60,1\n120,x\n"), "load")


def test_missing_file_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: cannot read"):
        load_profile_csv(tmp_path / "nope.csv", "load")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputError, match=r"bin\.csv: not UTF-8 text"):
        load_profile_csv(binary, "load")
