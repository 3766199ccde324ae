"""glibc's malloc asked for transparent huge pages (XLA:CPU's per-step buffers).

XLA:CPU allocates each step's temporaries afresh (2.7 GiB for STAEformer's
model at 170 nodes, batch 16) and glibc maps them with `mmap` and unmaps them
at the end of the step, so every step touches ~700,000 new 4 KiB pages: ~1.4 s
of system time per step on a 2-core CPU, a fifth of the step's CPU time. With
the tunable ``glibc.malloc.hugetlb=1`` (glibc >= 2.35) malloc marks those
mappings for transparent huge pages (`madvise`), and the same step takes
~1,600 page faults and 0.3 s of system time (experiments/bench_peer.py,
``--no-huge-pages`` for the comparison). glibc reads the tunable when the
process starts, so the command line re-executes itself once with it set.
Opt out with ``ENTROPY_ATTENTION_JAX_NO_HUGE_PAGES=1``.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence

TUNABLE = "glibc.malloc.hugetlb=1"
OPT_OUT = "ENTROPY_ATTENTION_JAX_NO_HUGE_PAGES"


def huge_page_environment(env: Mapping[str, str]) -> dict[str, str] | None:
  """`env` with the malloc tunable added, or None when there is nothing to change.

  Nothing changes off Linux/glibc, when opted out, or when `GLIBC_TUNABLES`
  already sets ``glibc.malloc.hugetlb`` (either way); other tunables are kept.
  """
  if sys.platform != "linux" or platform.libc_ver()[0] != "glibc" or env.get(OPT_OUT):
    return None
  current = env.get("GLIBC_TUNABLES", "")
  if "glibc.malloc.hugetlb=" in current:
    return None
  return {**env, "GLIBC_TUNABLES": f"{current}:{TUNABLE}" if current else TUNABLE}


def reexec_with_huge_pages(argv: Sequence[str], module: str = "entropy_attention_jax") -> None:
  """Replaces this process by `python -m MODULE ARGV` with the tunable set.

  Returns (doing nothing) when :func:`huge_page_environment` has nothing to change.
  """
  env = huge_page_environment(os.environ)
  if env is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)
