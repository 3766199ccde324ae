"""`data build` / `data info` from the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from entropy_attention_jax.cli import main
from entropy_attention_jax.cli.data import DATASET_FLAGS, DATASET_NAMES
from entropy_attention_jax.data import DATASETS, dataset_names


def test_flags_and_names_match_the_registry():
  options = {option.name: option.type for builder in DATASETS.values() for option in builder.OPTIONS}
  flags = {name: kind for name, kind, _ in DATASET_FLAGS}
  assert flags.keys() == options.keys()
  for name, kind in flags.items():
    # The CLI parses text (e.g. "a,b"); the builder's type converts it (ColumnNames is a str).
    assert issubclass(options[name], kind), name
  assert DATASET_NAMES == dataset_names()


def test_build_then_info(tmp_path, capsys):
  args = ["--data-dir", str(tmp_path), "--nodes", "8", "--days", "2", "--seed", "1"]
  assert main(["data", "build", "synthetic_traffic", *args]) == 0
  out = capsys.readouterr().out
  assert "built synthetic_traffic in" in out and "nodes8_days2_seed1" in out
  assert main(["data", "info", "synthetic_traffic", "--data-dir", str(tmp_path),
               "--in-steps", "6", "--out-steps", "6", "--split-ratios", "0.7,0.1,0.2"]) == 0
  out = capsys.readouterr().out
  assert "steps     576 (every 300 s, 288 per day), 2024-01-01 00:00:00 .. 2024-01-02 23:55:00" in out
  assert "nodes     8" in out and "channels  1: flow (target: flow)" in out
  # b1 = round(576 * 0.7) = 403, b2 = round(576 * 0.8) = 461.
  assert "| train | 392 | 6 | 402 |" in out
  assert "| val | 53 | 403 | 460 |" in out
  assert "| test | 110 | 461 | 575 |" in out


def test_info_with_windows_too_long_fails_but_shows_the_facts(tmp_path, capsys):
  data_dir = ["--data-dir", str(tmp_path)]
  assert main(["data", "build", "synthetic_traffic", *data_dir, "--nodes", "3", "--days", "1"]) == 0
  capsys.readouterr()
  assert main(["data", "info", "synthetic_traffic", *data_dir, "--in-steps", "300"]) == 1
  out = capsys.readouterr().out
  assert "nodes     3" in out and "too short for one window" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "build", "pems07"], "expected the file 'PEMS07/data.npz'"),
        (["data", "build", "nonsense"], "Unknown dataset 'nonsense'; known datasets: synthetic_traffic,"),
        (["data", "build", "metr_la", "--nodes", "3"], "metr_la takes no option 'nodes'"),
        (["data", "info", "pems04"], "pems04 is not built"),
        (["data", "info", "synthetic_traffic", "--split-ratios", "a,b"], "three comma-separated numbers"),
    ],
)
def test_errors_exit_nonzero_with_one_line(tmp_path, capsys, argv, message):
  assert main([*argv, "--data-dir", str(tmp_path)]) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: ") and message in err


def test_wide_table_file_flag(tmp_path, capsys):
  table = tmp_path / "loops.csv"
  rng = np.random.default_rng(0)
  rows = [f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00,{rng.uniform()},{rng.uniform()}" for i in range(96)]
  lines = ["time,a,b", *rows]
  table.write_text("\n".join(lines) + "\n")
  # 96 hourly rows: too short for the hourly default window (48 -> 24); fine for 3 -> 2.
  windows = ["--in-steps", "3", "--out-steps", "2"]
  build = ["data", "build", "wide_table", "--data-dir", str(tmp_path / "d"), "--file", str(table)]
  assert main([*build, *windows]) == 0
  assert "wide_table (loops)" in capsys.readouterr().out
  assert main(["data", "info", "wide_table", "--data-dir", str(tmp_path / "d"), *windows]) == 0
  assert "(every 3600 s, 24 per day)" in capsys.readouterr().out


def test_module_entry_point_reports_a_missing_manual_file(tmp_path):
  manual = tmp_path / "mine"
  manual.mkdir()
  result = subprocess.run(
      [sys.executable, "-m", "entropy_attention_jax", "data", "build", "pems_bay",
       "--data-dir", str(tmp_path / "tfds"), "--manual-dir", str(manual)],
      capture_output=True, text=True, check=False,
  )
  assert result.returncode == 1
  assert "'pems-bay.h5'" in result.stderr and str(manual) in result.stderr
