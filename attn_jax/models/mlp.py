"""Feed-forward classifiers: logistic regression (no hidden layer) and the multi-layer perceptron.

    logreg:  logits = x W + b
    mlp:     h_0 = x,  h_l = act(h_{l-1} W_l + b_l),  logits = h_L W_out + b_out

Inputs are floats `[batch, features]` (images `[batch, height, width, channels]` are flattened),
or tokens `[batch, length]` which are embedded and averaged over the non-padding positions.
"""
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_jax.models.dense import Dense
from attn_jax.task import PAD_ID

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': nn.relu,
    'sigmoid': nn.sigmoid,
    'tanh': jnp.tanh,
    'gelu': nn.gelu,
}


def masked_mean(x: jax.Array, valid: jax.Array) -> jax.Array:
  """Mean over axis 1 of `x` `[batch, length, dim]` where `valid` `[batch, length]` -> `[batch, dim]`."""
  valid = valid.astype(x.dtype)[..., None]
  return (x * valid).sum(axis=1) / jnp.maximum(valid.sum(axis=1), 1)


class Features(nn.Module):
  """Example -> feature vector `[batch, features]`: floats flattened, tokens embedded and averaged.

  Attributes:
    vocab_size: input vocabulary (0 for float inputs).
    embed_dim: embedding width for token inputs.
  """
  vocab_size: int
  embed_dim: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    if self.vocab_size:
      embedded = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)(inputs)
      return masked_mean(embedded, inputs != PAD_ID)
    return inputs.reshape(inputs.shape[0], -1).astype(self.dtype)


class MLP(nn.Module):
  """`num_layers` hidden layers of `hidden_size` units, then a linear read-out.

  `num_layers=0` is logistic regression (softmax of one linear map).

  Attributes:
    num_classes: output logits (1 for regression).
    num_layers: hidden layers.
    hidden_size: units per hidden layer (and token embedding width).
    activation: key of `ACTIVATIONS`.
    dropout_rate: dropout after each hidden non-linearity.
    vocab_size: input vocabulary (0 for float inputs).
  """
  num_classes: int
  num_layers: int = 1
  hidden_size: int = 64
  activation: str = 'relu'
  dropout_rate: float = 0.0
  vocab_size: int = 0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, inputs: jax.Array, train: bool = False) -> jax.Array:
    """inputs `[batch, ...]` -> float32 logits `[batch, num_classes]`."""
    x = Features(self.vocab_size, self.hidden_size, self.dtype)(inputs)
    for _ in range(self.num_layers):
      x = ACTIVATIONS[self.activation](Dense(self.hidden_size, dtype=self.dtype)(x))
      x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
    return Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)
