"""The persistent compilation cache: written by one process, read by the next."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax

from entropy_attention_jax.cli import build_parser
from entropy_attention_jax.training import compile_cache

from tests.training.conftest import REPO_ROOT

# Compiles one fresh program with the cache under argv[1]; prints the cache events.
_PROGRAM = """
import json, sys
import jax, jax.numpy as jnp
from entropy_attention_jax.training.compile_cache import enable_compilation_cache
events = []
jax.monitoring.register_event_listener(lambda name, **_: events.append(name))
enable_compilation_cache(sys.argv[1])
jax.jit(lambda x: jnp.tanh(x) * 3.0 + jnp.cos(x)).lower(jnp.ones(7)).compile()
print(json.dumps(events))
"""


def _events(directory) -> list[str]:
  env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
  out = subprocess.run([sys.executable, "-c", _PROGRAM, str(directory)], env=env, check=True,
                       capture_output=True, text=True).stdout
  return json.loads(out.splitlines()[-1])


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
  directory = tmp_path / "nested" / "cache"
  first = _events(directory)
  assert "/jax/compilation_cache/cache_misses" in first
  assert "/jax/compilation_cache/cache_hits" not in first
  assert any(directory.iterdir())  # created, and the program stored although quick to compile
  second = _events(directory)
  assert "/jax/compilation_cache/cache_hits" in second
  assert "/jax/compilation_cache/cache_misses" not in second


def test_the_context_restores_the_previous_settings(tmp_path):
  before = compile_cache.compilation_cache_dir()
  with compile_cache.compilation_cache(tmp_path / "c") as directory:
    assert directory == (tmp_path / "c").absolute() and directory.is_dir()
    assert compile_cache.compilation_cache_dir() == directory
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
  assert compile_cache.compilation_cache_dir() == before
  with compile_cache.compilation_cache(None) as directory:
    assert directory == before


def test_train_flags_choose_the_cache_directory(tmp_path):
  from entropy_attention_jax.cli.train import _compile_cache_dir

  parse = lambda *a: build_parser().parse_args(
      ["train", "--dataset", "synthetic_traffic", "--workdir", str(tmp_path / "w"), *a])
  configured = compile_cache.compilation_cache_dir()
  default = _compile_cache_dir(parse(), compile_cache)
  if configured is None:
    assert default == f"{tmp_path / 'w'}/compile_cache"
  else:  # JAX_COMPILATION_CACHE_DIR is set: it is kept
    assert default is None
  assert _compile_cache_dir(parse("--no-compile-cache"), compile_cache) is None
  assert _compile_cache_dir(parse("--compile-cache", "/c"), compile_cache) == "/c"
