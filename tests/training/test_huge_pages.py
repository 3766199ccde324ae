"""The command line's malloc setting (transparent huge pages for XLA:CPU's buffers)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from entropy_attention_jax.cli._malloc import OPT_OUT, TUNABLE, huge_page_environment

from tests.training.conftest import REPO_ROOT

glibc_linux = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc on Linux only"
)


@glibc_linux
def test_the_tunable_is_added_and_other_tunables_kept():
  assert huge_page_environment({"A": "1"}) == {"A": "1", "GLIBC_TUNABLES": TUNABLE}
  assert huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})[
      "GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{TUNABLE}"


@glibc_linux
def test_nothing_changes_when_set_or_opted_out():
  assert huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) is None
  assert huge_page_environment({"GLIBC_TUNABLES": TUNABLE}) is None
  assert huge_page_environment({OPT_OUT: "1"}) is None


@glibc_linux
def test_the_process_reexecutes_itself_once_with_it(tmp_path):
  (tmp_path / "probe_main.py").write_text(
      "import os, sys; print('child', sys.argv[1:], os.environ['GLIBC_TUNABLES'])\n")
  env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", OPT_OUT)}
  env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO_ROOT)])
  program = ("from entropy_attention_jax.cli._malloc import reexec_with_huge_pages;"
             " print('parent', flush=True); reexec_with_huge_pages(['a', 'b'], module='probe_main');"
             " print('not replaced')")
  out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True,
                       check=True).stdout.splitlines()
  assert out == ["parent", f"child ['a', 'b'] {TUNABLE}"]
  env[OPT_OUT] = "1"  # opted out: no re-execution
  out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True,
                       check=True).stdout.splitlines()
  assert out == ["parent", "not replaced"]
