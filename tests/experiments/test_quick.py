"""Every experiment script runs in its quick mode, so none of them rots.

The convention (experiments/README.md): each `experiments/*.py` that is not a
`_*.py` helper takes `--quick` (finishes in seconds to a minute on a CPU) and
`--out DIR` (every output goes below DIR). Scripts that cache runs or build
data take `--runs` / `--data-dir` too; those point into one
temporary directory shared by the session, so the scripts share runs and
built data as they do in `results/` (`balance.py` and `fidelity.py` read the
models `accuracy.py` trained; a script run alone trains its own). A script whose optional input is absent (another
library, a checkout) says so and exits 0. The script is found by glob, so a new
experiment is covered by adding the file.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "experiments").glob("*.py") if not p.name.startswith("_"))
# Output directories a script may take besides --out (`--manual-dir` is an input).
DIRECTORY_OPTIONS = ("--runs", "--data-dir")
TIMEOUT_S = 600


def _options(script: pathlib.Path) -> set[str]:
  return set(re.findall(r"""add_argument\(\s*["'](--[a-z0-9-]+)["']""", script.read_text()))


def test_the_experiments_are_found():
  assert len(SCRIPTS) >= 10, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_takes_quick_and_out(script):
  missing = {"--quick", "--out"} - _options(script)
  assert not missing, f"{script.name} lacks {sorted(missing)}: see experiments/README.md"


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory):
  """Runs and built data shared by the scripts (they cache by work directory)."""
  return tmp_path_factory.mktemp("experiments-shared")


# Quick modes that train several models or sweep sizes (minutes each on 2
# cores): the `experiments` tier, run by `make test-experiments`, not by
# `make test`, which stays CI-sized. Every other script's quick mode runs in
# `make test`.
LONG_QUICK_MODES = frozenset({
    "accuracy", "balance", "bench_attention", "bench_data", "bench_elinformer",
    "bench_training", "efficiency", "fault_injection", "fidelity", "real_data", "run_notebooks",
})


def _tiered(script: pathlib.Path):
  marks = [pytest.mark.slow] + ([pytest.mark.experiments] if script.stem in LONG_QUICK_MODES else [])
  return pytest.param(script, marks=marks, id=script.stem)


def test_long_quick_modes_name_existing_scripts():
  assert LONG_QUICK_MODES <= {p.stem for p in SCRIPTS}


@pytest.mark.parametrize("script", [_tiered(p) for p in SCRIPTS])
def test_quick_mode_runs_and_writes_only_below_out(script, tmp_path, shared_dir):
  out, cwd = tmp_path / "out", tmp_path / "cwd"
  cwd.mkdir()
  command = [sys.executable, str(script), "--quick", "--out", str(out)]
  for option in sorted(_options(script) & set(DIRECTORY_OPTIONS)):
    command += [option, str(shared_dir / option.lstrip("-"))]
  # The checkout, not an installed copy; the working directory is empty so a
  # default relative path (results/...) would show up in it.
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(
      filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
  result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
  assert result.returncode == 0, (
      f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-3000:]}"
      f"\n{result.stderr[-3000:]}"
  )
  assert not list(cwd.iterdir()), f"{script.name} wrote outside --out: {list(cwd.iterdir())}"
