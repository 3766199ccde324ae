"""Type aliases shared across the package."""

from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
Dtype = jnp.dtype | Any
PrecisionLike = None | str | jax.lax.Precision | tuple[str, str] | tuple[
    jax.lax.Precision, jax.lax.Precision
]
PRNGKey = jax.Array
Shape = tuple[int, ...]
