"""The README's Python snippets run as written (in a temporary directory)."""

import os
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
  return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _block_containing(text: str) -> str:
  blocks = [b for b in _python_blocks() if text in b]
  assert len(blocks) == 1, f"expected one README block with {text!r}, found {len(blocks)}"
  return blocks[0]


@pytest.mark.slow
def test_forecast_your_own_table_snippet_runs(tmp_path, capsys):
  code = _block_containing("training.forecast(")
  cwd = os.getcwd()
  os.chdir(tmp_path)
  try:
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # pylint: disable=exec-used
  finally:
    os.chdir(cwd)
  table = namespace["table"]
  assert list(table.columns) == ["timestamp", "node", "horizon", "forecast"]
  assert len(table) == 24 * 9 and table["horizon"].max() == 24
  assert table["timestamp"].iloc[0] > "2023-04-30"  # After the last observed row.
  assert set(namespace["metrics"]["baselines"]) == {"last_value", "seasonal_naive", "window_mean"}
  assert (tmp_path / "run" / "test_metrics.json").is_file()
