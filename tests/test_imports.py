"""The install is layered: the pure functions need only JAX and NumPy.

Each check runs in a fresh interpreter, since this process has long since
imported Flax and the rest.
"""

import subprocess
import sys

import pytest

# The done-criterion of issue 12, verbatim.
CORE_ONLY = (
    "import sys, jax.numpy as jnp, entropy_attention_jax as e; q = jnp.ones((1, 8, 2, 4));"
    " e.eala_attention(q, q, q); assert not {'flax', 'orbax', 'tensorflow_datasets', 'pandas'}"
    " & {m.split('.')[0] for m in sys.modules}"
)


def _python(code: str) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
  )


def test_top_level_import_loads_only_jax_and_numpy():
  result = _python(CORE_ONLY)
  assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("package", ["attention", "entropy"])
def test_pure_packages_load_no_flax_optax_or_data_libraries(package):
  result = _python(
      f"import sys, entropy_attention_jax.{package};"
      " heavy = {'flax', 'optax', 'orbax', 'chex', 'tensorflow_datasets', 'pandas', 'scipy'}"
      " & {m.split('.')[0] for m in sys.modules}; assert not heavy, heavy"
  )
  assert result.returncode == 0, result.stderr


def test_flax_names_resolve_lazily_from_the_top_level():
  result = _python(
      "import sys, entropy_attention_jax as e; assert 'flax' not in sys.modules;"
      " assert 'ELinFormer' in dir(e); from entropy_attention_jax import EntropyLinearAttention;"
      " from entropy_attention_jax.nn import EntropyLinearAttention as layer;"
      " assert EntropyLinearAttention is layer and e.ELinFormer.__name__ == 'ELinFormer'"
  )
  assert result.returncode == 0, result.stderr
  unknown = _python("import entropy_attention_jax as e; e.no_such_name")
  assert "has no attribute 'no_such_name'" in unknown.stderr


@pytest.mark.parametrize(
    "blocked, statement, message",
    [
        ("flax", "import entropy_attention_jax.nn",
         "flax is needed for the Flax layers (entropy_attention_jax.nn):"
         " pip install 'entropy_attention_jax[nn]'"),
        ("flax", "from entropy_attention_jax import ELinFormer",
         "pip install 'entropy_attention_jax[nn]'"),
        ("tensorflow_datasets", "import entropy_attention_jax.data",
         "tensorflow-datasets is needed to build and read datasets (entropy_attention_jax.data):"
         " pip install 'entropy_attention_jax[data]'"),
        ("optax", "import entropy_attention_jax.training",
         "optax is needed to train (entropy_attention_jax.training):"
         " pip install 'entropy_attention_jax[train]'"),
    ],
)
def test_a_missing_library_names_the_extra_to_install(blocked, statement, message):
  # `sys.modules[name] = None` makes `import name` fail as if it were not installed.
  result = _python(f"import sys; sys.modules[{blocked!r}] = None; {statement}")
  assert result.returncode != 0
  last_line = result.stderr.strip().splitlines()[-1]
  assert last_line.endswith(message), result.stderr


def test_the_cli_reports_a_missing_train_extra_in_one_line(tmp_path):
  result = _python(
      "import sys; sys.modules['optax'] = None; from entropy_attention_jax.cli import main;"
      f" sys.exit(main(['train', '--dataset', 'synthetic_traffic', '--workdir', {str(tmp_path)!r}]))"
  )
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      "error: optax is needed to train (entropy_attention_jax.training):"
      " pip install 'entropy_attention_jax[train]'"
  ]
