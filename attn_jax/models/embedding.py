"""Model inputs -> vectors: token embedding (or a Dense projection of float features), and padding.

Token id `PAD_ID` (0) is padding; sequences are right-padded, so an example's length is its
number of non-padding tokens.
"""
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


class InputEmbedding(nn.Module):
  """Tokens `[batch, length]` -> `[batch, length, features]` by a lookup table, or float inputs
  `[batch, length, input_dim]` -> `[batch, length, features]` by a Dense projection (vocab_size=0).

  The output passes through `perturb('embedded', ...)`: a no-op unless a 'perturbations'
  collection is given to `apply`, in which case `jax.grad` with respect to it is d loss / d
  embedding at every position (`attn_jax.studies.gradient_flow`).
  """
  vocab_size: int
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    if self.vocab_size:
      x = nn.Embed(self.vocab_size, self.features, dtype=self.dtype, name='embed')(inputs)
    else:
      x = Dense(self.features, dtype=self.dtype, name='project')(inputs.astype(self.dtype))
    return self.perturb('embedded', x)
