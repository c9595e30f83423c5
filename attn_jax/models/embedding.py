"""Model inputs -> vectors: token embedding (or a Dense projection of float features), and padding.

Token id `PAD_ID` (0) is padding; sequences are right-padded, so an example's length is its
number of non-padding tokens.

Transformers scale their token embeddings by sqrt(d_model) ("Attention Is All You Need", section
3.4: "In the embedding layers, we multiply those weights by sqrt(d_model)"): the table is
initialised with std 1/sqrt(d) (flax's default), so a scaled token vector has RMS about 1 per
feature, the scale of the sinusoidal encoding added to it (RMS 1/sqrt(2)). Unscaled, position
outweighs token identity about 6x at d=64 and the transformer learns associative recall 2-3x
slower than an independent implementation. A tied output layer reads the table unscaled, as in
the paper. Recurrent models add no position and keep the table unscaled.
"""
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_jax.models.dense import Dense
from attn_jax.task import PAD_ID


def token_valid(tokens: jax.Array) -> jax.Array:
  """`[batch, length]` int tokens -> bool `[batch, length]`, True at real (non-PAD) tokens."""
  return tokens != PAD_ID


def token_lengths(tokens: jax.Array) -> jax.Array:
  """`[batch, length]` right-padded tokens -> int32 `[batch]` lengths."""
  return token_valid(tokens).sum(axis=1, dtype=jnp.int32)


class ScaledEmbed(nn.Embed):
  """`nn.Embed` whose lookup is multiplied by sqrt(features): tokens `[...]` -> `[..., features]`.

  `attend` (a tied output layer) is `nn.Embed`'s, over the unscaled table.
  """

  def __call__(self, inputs: jax.Array) -> jax.Array:
    return super().__call__(inputs) * jnp.sqrt(self.features).astype(self.dtype)


class InputEmbedding(nn.Module):
  """Tokens `[batch, length]` -> `[batch, length, features]` by a lookup table, or float inputs
  `[batch, length, input_dim]` -> `[batch, length, features]` by a Dense projection (vocab_size=0).

  The output passes through `perturb('embedded', ...)`: a no-op unless a 'perturbations'
  collection is given to `apply`, in which case `jax.grad` with respect to it is d loss / d
  embedding at every position (`attn_jax.studies.seq_len_scaling.gradient_flow`).

  Attributes:
    vocab_size: tokens in the table; 0 for float inputs.
    features: output width.
    dtype: computation dtype.
    scale_tokens: multiply token embeddings by sqrt(features) (`ScaledEmbed`; transformers).
      Float inputs are projected unscaled: a learned projection whose output RMS follows its input.
    embedding_init: the token table's initialiser (flax's default: N(0, 1/features)).
  """
  vocab_size: int
  features: int
  dtype: jnp.dtype = jnp.float32
  scale_tokens: bool = False
  embedding_init: Callable = nn.linear.default_embed_init

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    if self.vocab_size:
      embed = ScaledEmbed if self.scale_tokens else nn.Embed
      x = embed(self.vocab_size, self.features, dtype=self.dtype,
                embedding_init=self.embedding_init, name='embed')(inputs)
    else:
      x = Dense(self.features, dtype=self.dtype, name='project')(inputs.astype(self.dtype))
    return self.perturb('embedded', x)
