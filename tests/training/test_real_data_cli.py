"""Real-data forecasting from the command line: build a monthly table, train, forecast, predict.

One small monthly table (4 nodes x 120 months, NaN cells, an observed covariate
`a`, a known-future covariate `c` with 12 rows to forecast) and one 1-epoch
tiny run shared by the tests; training runs in subprocesses sharing the
compilation cache (see conftest.py), forecast and predict run in-process.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.cli import main
from entropy_attention_jax.training import get_config

from tests.training.conftest import cli

MONTHS, NODES, OUT_STEPS = 120, 4, 12
NODE_IDS = tuple(f"n{i}" for i in range(NODES))


def write_table(path: pathlib.Path) -> pd.DataFrame:
  rng = np.random.default_rng(0)
  steps = np.arange(MONTHS)
  frame = pd.DataFrame({
      "month": pd.date_range("2010-01-01", periods=MONTHS, freq="MS").strftime("%Y-%m"),
  })
  for i, node in enumerate(NODE_IDS):
    frame[node] = 100 * (i + 1) + 10 * np.sin(2 * np.pi * steps / 12) + rng.normal(0, 1, MONTHS)
  frame["a"] = rng.normal(0, 1, MONTHS)
  frame["c"] = (steps % 12 == 11).astype(float)
  frame.loc[[5, 50], "n1"] = np.nan  # Empty cells: missing.
  frame.loc[100, "n2"] = np.nan  # A missing target in the test period.
  future = pd.DataFrame({
      "month": pd.date_range("2020-01-01", periods=OUT_STEPS, freq="MS").strftime("%Y-%m"),
      "c": (np.arange(OUT_STEPS) == 11).astype(float),
  })
  frame = pd.concat([frame, future], ignore_index=True)
  frame.to_csv(path, index=False)
  return frame


def run_cli(*args: str, env: dict[str, str], cwd: pathlib.Path) -> str:
  process = cli(*args, env=env, cwd=cwd)
  out, err = process.communicate(timeout=900)
  assert process.returncode == 0, err
  return out


def train_argv(workdir: str, *extra: str, covariate_flags: bool = True) -> list[str]:
  covariates = ["--covariates", "a", "--known-future", "c"] if covariate_flags else []
  return [
      "train", "--dataset", "wide_table", "--file", "F.csv", "--data-dir", "D", *covariates,
      "--workdir", workdir, "--preset", "tiny", "--no-progress", "--set", "train.batch_size=8",
      *extra,
  ]  # 49 training windows // 8 = 6 steps per epoch.


@pytest.fixture(scope="module")
def monthly_run(tmp_path_factory, subprocess_env):
  """`(root, table)`: root holds F.csv, the build D and the 1-epoch run W."""
  root = tmp_path_factory.mktemp("monthly")
  table = write_table(root / "F.csv")
  out = run_cli(
      "data", "build", "wide_table", "--data-dir", "D", "--file", "F.csv",
      "--covariates", "a", "--known-future", "c", env=subprocess_env, cwd=root,
  )
  assert "wide_table (f)" in out and "monthly (MS)" in out
  # As the interface: `--file` alone reads the table as it was built.
  run_cli(*train_argv("W", "--epochs", "1", covariate_flags=False), env=subprocess_env, cwd=root)
  return root, table


def test_train_with_the_file_alone_uses_the_built_covariates(monthly_run):
  root, _ = monthly_run
  options = json.loads((root / "W" / "config.json").read_text())["data"]["builder_options"]
  assert options["covariates"] == "a" and options["known_future"] == "c"


def test_the_build_keeps_nan_cells_covariates_and_future_rows(monthly_run):
  root, _ = monthly_run
  from entropy_attention_jax.data import dataset_info  # pylint: disable=g-import-not-at-top

  info = dataset_info("wide_table", root / "D", file=str(root / "F.csv"), covariates="a",
                      known_future="c")
  assert info.frequency == "MS" and info.node_ids == NODE_IDS
  assert info.covariate_names == ("a", "c") and info.known_future == ("c",)
  assert info.future_steps == OUT_STEPS and info.num_steps == MONTHS + OUT_STEPS
  assert info.extra["nan_readings"] == [3]
  assert info.data_path.endswith("wide_table/f/1.1.0")


def test_forecast_writes_the_steps_after_the_last_row(monthly_run, capsys):
  root, table = monthly_run
  output = root / "out.csv"
  assert main(["forecast", "--workdir", str(root / "W"), "--output", str(output)]) == 0
  assert f"wrote the forecast to {output}" in capsys.readouterr().out
  forecast = pd.read_csv(output)
  assert list(forecast.columns) == ["timestamp", "node", "horizon", "forecast"]
  assert len(forecast) == OUT_STEPS * NODES
  assert set(forecast["node"]) == set(NODE_IDS)
  assert sorted(set(forecast["horizon"])) == list(range(1, OUT_STEPS + 1))
  stamps = pd.to_datetime(forecast["timestamp"])
  last_observed = pd.Timestamp(table["month"].iloc[MONTHS - 1])  # 2019-12.
  assert (stamps > last_observed).all()
  expected = pd.date_range("2020-01-01", periods=OUT_STEPS, freq="MS")
  np.testing.assert_array_equal(
      stamps[forecast["node"] == "n0"].to_numpy(), expected.to_numpy()
  )
  assert np.isfinite(forecast["forecast"]).all()
  # Per-node scaling: each node forecast near its own level (100, 200, 300, 400).
  levels = forecast.groupby("node")["forecast"].mean()
  assert list(levels.sort_values().index) == list(NODE_IDS)


def test_scaler_and_config_of_a_table_run(monthly_run):
  root, _ = monthly_run
  scaler = json.loads((root / "W" / "scaler.json").read_text())
  assert scaler["scaling"] == "per_node"
  assert np.asarray(scaler["mean"]).shape == (NODES, 1)  # One mean per node.
  means = np.asarray(scaler["mean"])[:, 0]
  np.testing.assert_allclose(means, [100, 200, 300, 400], atol=5)
  config = json.loads((root / "W" / "config.json").read_text())
  assert (config["data"]["in_steps"], config["data"]["out_steps"]) == (24, OUT_STEPS)
  # The table preset's window normalization (forecasts relative to the last value).
  preset = get_config("wide_table").model["window_normalization"]
  assert config["model"]["window_normalization"] == preset != "none"


def test_test_metrics_have_the_naive_baselines(monthly_run):
  root, _ = monthly_run
  metrics = json.loads((root / "W" / "test_metrics.json").read_text())
  for name in ("last_value", "seasonal_naive", "window_mean"):
    assert isinstance(metrics["baselines"][name]["mae"], float)
  assert metrics["baselines"]["seasonal_naive"]["period"] == 12
  assert metrics["best_baseline"] in metrics["baselines"]
  assert metrics["skill"] == pytest.approx(1 - metrics["mae"] / metrics["best_baseline_mae"])
  assert set(metrics["nodes"]) == set(NODE_IDS) and "mae_scaled" in metrics
  assert metrics["checkpoint"] == "best" and metrics["step"] == 6


def test_predict_to_csv_has_the_targets(monthly_run, capsys):
  root, table = monthly_run
  output = root / "test.csv"
  assert main(["predict", "--workdir", str(root / "W"), "--output", str(output)]) == 0
  assert f"wrote test predictions to {output}" in capsys.readouterr().out
  predicted = pd.read_csv(output)
  assert list(predicted.columns) == ["timestamp", "node", "horizon", "forecast", "target"]
  assert len(predicted) == 13 * OUT_STEPS * NODES  # 13 test windows.
  first = predicted[(predicted["horizon"] == 1) & (predicted["node"] == "n0")].iloc[0]
  row = table.index[table["month"] == first["timestamp"][:7]][0]
  assert first["target"] == pytest.approx(table.loc[row, "n0"], rel=1e-6)
  missing = predicted[(predicted["node"] == "n2") & (predicted["timestamp"] == "2018-05-01")]
  assert len(missing) and missing["target"].isna().all()  # Row 100: an empty cell.


def test_max_steps_stops_early_and_still_evaluates(monthly_run, subprocess_env):
  root, _ = monthly_run
  out = run_cli(*train_argv("W3", "--max-steps", "3"), env=subprocess_env, cwd=root)
  assert "stopping at step 3: train.max_steps=3 reached; train again to resume." in out
  assert "no epoch finished yet: evaluating the latest checkpoint (step 3)" in out
  metrics = json.loads((root / "W3" / "test_metrics.json").read_text())
  assert metrics["step"] == 3 and metrics["checkpoint"] == "latest"  # No epoch finished.
  assert "baselines" in metrics and metrics["mae"] is not None


def test_forecast_from_a_newer_table_with_a_plot(monthly_run, tmp_path, capsys):
  root, table = monthly_run
  observed = table.iloc[:MONTHS]
  rng = np.random.default_rng(1)
  steps = np.arange(MONTHS, MONTHS + 12)
  newer = pd.DataFrame({
      "month": pd.date_range("2020-01-01", periods=12, freq="MS").strftime("%Y-%m"),
      **{node: 100 * (i + 1) + 10 * np.sin(2 * np.pi * steps / 12) for i, node in enumerate(NODE_IDS)},
      "a": rng.normal(0, 1, 12), "c": (steps % 12 == 11).astype(float),
  })
  future = pd.DataFrame({
      "month": pd.date_range("2021-01-01", periods=OUT_STEPS, freq="MS").strftime("%Y-%m"),
      "c": (np.arange(OUT_STEPS) == 11).astype(float),
  })
  path = tmp_path / "newer.csv"
  pd.concat([observed, newer, future], ignore_index=True).to_csv(path, index=False)
  output, plot = tmp_path / "next.csv", tmp_path / "next.png"
  argv = ["forecast", "--workdir", str(root / "W"), "--output", str(output), "--file", str(path),
          "--plot", str(plot), "--plot-nodes", "n0,n3"]
  assert main(argv) == 0
  assert f"drew {plot}" in capsys.readouterr().out
  forecast = pd.read_csv(output)
  assert len(forecast) == OUT_STEPS * NODES
  assert sorted(set(forecast["timestamp"])) == [f"2021-{m:02d}-01" for m in range(1, 13)]
  assert plot.stat().st_size > 0
  # A table without the known-future rows cannot be forecast: it says what is missing.
  pd.concat([observed, newer], ignore_index=True).to_csv(tmp_path / "nofuture.csv", index=False)
  argv = ["forecast", "--workdir", str(root / "W"), "--output", str(tmp_path / "x.csv"),
          "--file", str(tmp_path / "nofuture.csv")]
  assert main(argv) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "known-future covariates ['c']" in err
