"""Dense layers whose matrix product sees 2-D operands.

`Dense` and `DenseGeneral` are `flax.linen`'s, with the same parameters and values, but the
leading (batch, length, ...) axes of the input are flattened into one before the product:
`[batch, length, in]` -> `[batch * length, in]` -> `[batch * length, out]` -> `[batch, length,
out]`. Why: the weight gradient of a product over a 3-D input contracts two axes (batch and
length), and XLA:CPU lays that product out with a transposed copy of the output gradient, fused
with the elementwise backward before it (the gelu's derivative, say). That copy alone takes
25 ms of a 74 ms feed-forward backward (`[16, 128, 256]` -> 1024 -> 256) on a 2-core CPU; over
flat operands the weight gradient is one plain `x^T dy` and the backward takes 37 ms, with
bit-identical results (`tests/test_models_dense.py`; experiments/results/benchmark_cpu/README.md).
"""
from typing import Callable

import flax.linen as nn
import jax


def over_flat_batch(call: Callable[[jax.Array], jax.Array], inputs: jax.Array,
                     feature_axes: int) -> jax.Array:
  """`call` on `inputs` `[*batch, *features]` with the batch axes flattened into one."""
  batch = inputs.shape[:inputs.ndim - feature_axes]
  out = call(inputs.reshape((-1,) + inputs.shape[len(batch):]))
  return out.reshape(batch + out.shape[1:])


class Dense(nn.Dense):
  """`nn.Dense`: `[..., in]` -> `[..., features]`, as one `[prod(...), in]` product."""

  def __call__(self, inputs: jax.Array) -> jax.Array:
    return over_flat_batch(super().__call__, inputs, 1)


class DenseGeneral(nn.DenseGeneral):
  """`nn.DenseGeneral` over trailing `axis` (e.g. `[..., heads, head_dim]` with axis=(-2, -1)),
  as one product over the flattened leading axes."""

  def __call__(self, inputs: jax.Array) -> jax.Array:
    axis = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
    if sorted(a % inputs.ndim for a in axis) != list(range(inputs.ndim - len(axis), inputs.ndim)):
      raise ValueError(f'DenseGeneral: axis {self.axis} must be the trailing axes of the input')
    if self.batch_dims:  # they would be flattened away with the other leading axes
      raise ValueError(f'DenseGeneral: batch_dims {self.batch_dims} are not supported')
    return over_flat_batch(super().__call__, inputs, len(axis))
