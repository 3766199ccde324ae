"""The attention kinds: one record each, and everything that offers a kind reads them."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.attention import ATTENTION_FUNCTIONS, ATTENTION_KINDS, get_kind
from entropy_attention_jax.attention.kinds._kind import CALL_ARGUMENTS


@pytest.mark.parametrize("name", sorted(ATTENTION_KINDS))
def test_each_record_lists_its_functions_options_with_their_defaults(name):
  kind = ATTENTION_KINDS[name]
  assert kind.name == name and ATTENTION_FUNCTIONS[name] is kind.fn
  parameters = inspect.signature(kind.fn).parameters
  keyword_only = {n: p.default for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
  fixed = {kind.fixed.argument, *kind.fixed.replaces} if kind.fixed else set()
  user_options = {n: d for n, d in keyword_only.items() if n not in CALL_ARGUMENTS | fixed}
  assert dict(kind.options) == user_options
  assert ("causal" in parameters) == kind.causal


@pytest.mark.parametrize("name", sorted(ATTENTION_KINDS))
def test_each_records_weights_reproduce_its_function(name):
  kind = ATTENTION_KINDS[name]
  query, key, value = jax.random.normal(jax.random.key(0), (3, 2, 6, 2, 4))
  options = {"feature_key": jax.random.key(1), "num_features": 16} if kind.fixed else {}
  weights = kind.weights(query, key, mask=None, scale=None, **options)
  if kind.fixed:
    options = {"features": kind.fixed.make(jax.random.key(1), 4, num_features=16)}
    weights = kind.weights(query, key, mask=None, scale=None, **options)
  want = kind.fn(query, key, value, **options)
  np.testing.assert_allclose(jnp.einsum("bhqk,bkhv->bqhv", weights, value), want, atol=1e-4)


def test_the_one_unknown_kind_message_names_the_kinds():
  with pytest.raises(ValueError, match=r"ELinFormerConfig: unknown spatial_attention='flash'; expected one of \['eala'"):
    get_kind("flash", "ELinFormerConfig", "spatial_attention")


def test_stateful_kinds_make_an_empty_state():
  for name, kind in ATTENTION_KINDS.items():
    if kind.init_state is None:
      continue
    state = kind.init_state((2,), 3, 4, 5, {})
    assert all(float(jnp.abs(x).sum()) == 0.0 for x in jax.tree.leaves(state)), name
