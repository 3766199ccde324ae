"""The attention functions as drop-in `attention_fn`s of Flax's attention modules."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen, nnx

from entropy_attention_jax.attention import eala_attention, softmax_attention


def nnx_attention(attention_fn=None, **kwargs):
  extra = {} if attention_fn is None else dict(attention_fn=attention_fn)
  return nnx.MultiHeadAttention(
      num_heads=2, in_features=12, qkv_features=16, decode=False,
      rngs=nnx.Rngs(0), **extra, **kwargs,
  )


def inputs():
  return jax.random.normal(jax.random.key(1), (3, 10, 12))


def test_softmax_attention_equals_flax_default():
  x = inputs()
  default = nnx_attention()
  ours = nnx_attention(softmax_attention)
  np.testing.assert_allclose(ours(x), default(x), atol=1e-5)


def project(module, x):
  """q, k, v of an nnx.MultiHeadAttention, `[batch, length, heads, head_dim]`."""
  return module.query(x), module.key(x), module.value(x)


def test_eala_drops_into_nnx_multi_head_attention():
  x = inputs()
  module = nnx_attention(eala_attention)
  expected = module.out(eala_attention(*project(module, x)))
  np.testing.assert_allclose(module(x), expected, atol=1e-5)


def test_bound_options_and_padding_mask_through_nnx():
  x = inputs()
  fn = functools.partial(eala_attention, estimator="gaussian_ensemble", nonneg=True)
  module = nnx_attention(fn)
  keep = jnp.arange(10) < 7
  mask = nnx.make_attention_mask(jnp.ones((3, 1), bool), jnp.broadcast_to(keep, (3, 10)))
  got = module(x, mask=mask)
  expected = module(x[:, :7])  # queries differ in length: compare the kept keys only
  q, k, v = project(module, x)
  direct = module.out(fn(q, k[:, :7], v[:, :7]))
  np.testing.assert_allclose(got, direct, atol=1e-5)
  np.testing.assert_allclose(got[:, :7], expected, atol=1e-5)


def test_sow_weights_stores_theta():
  module = nnx_attention(eala_attention)
  _, intermediates = nnx.capture(module, nnx.Intermediate)(inputs(), sow_weights=True)
  (theta,) = jax.tree.leaves(intermediates["theta"])
  assert theta.shape == (3, 10, 2)


def test_eala_drops_into_linen_multi_head_attention():
  x = inputs()
  module = linen.MultiHeadDotProductAttention(
      num_heads=2, qkv_features=16, attention_fn=eala_attention
  )
  params = module.init(jax.random.key(0), x)["params"]
  dense = lambda name: jnp.einsum("bli,ihd->blhd", x, params[name]["kernel"]) + params[name]["bias"]
  attended = eala_attention(dense("query"), dense("key"), dense("value"))
  expected = jnp.einsum("blhd,hdo->blo", attended, params["out"]["kernel"]) + params["out"]["bias"]
  np.testing.assert_allclose(module.apply({"params": params}, x), expected, atol=1e-5)
