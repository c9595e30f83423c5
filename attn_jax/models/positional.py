"""Position information: sinusoidal ("Attention Is All You Need"), learned, and rotary encodings.

    PE(pos, 2i)   = sin(pos / 10000^(2i / d))
    PE(pos, 2i+1) = cos(pos / 10000^(2i / d))

Rotary (RoFormer) rotates each pair (x_i, x_{i + d/2}) of a query/key by the angle
pos / 10000^(2i / d), so that q_m . k_n depends on positions only through m - n.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

POSITIONAL_KINDS = ('sinusoidal', 'learned', 'rotary', 'none')


def _inverse_frequencies(dim: int) -> jax.Array:
  """`[dim // 2]`: 1 / 10000^(2i / dim)."""
  return 1.0 / (10000.0 ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim))


def sinusoidal_encoding(positions: jax.Array, dim: int) -> jax.Array:
  """`[length]` int positions -> float32 `[length, dim]`, sin on even and cos on odd features."""
  angles = positions.astype(jnp.float32)[:, None] * _inverse_frequencies(dim)[None, :]
  return jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(len(positions), -1)[:, :dim]


def apply_rotary(x: jax.Array, positions: jax.Array) -> jax.Array:
  """Rotary embedding of `x` `[batch, length, heads, head_dim]` at `positions` `[length]`."""
  half = x.shape[-1] // 2
  angles = positions.astype(jnp.float32)[:, None] * _inverse_frequencies(2 * half)[None, :]
  cos, sin = jnp.cos(angles)[None, :, None, :], jnp.sin(angles)[None, :, None, :]
  x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:2 * half].astype(jnp.float32)
  rotated = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
  return jnp.concatenate([rotated.astype(x.dtype), x[..., 2 * half:]], axis=-1)


class AddPositionalEncoding(nn.Module):
  """Adds a sinusoidal or learned encoding to `[batch, length, dim]` embeddings.

  For 'rotary' and 'none' nothing is added here ('rotary' acts on q and k inside attention).

  Attributes:
    kind: one of `POSITIONAL_KINDS`.
    max_len: size of the learned table (positions must be < max_len).
  """
  kind: str
  max_len: int

  @nn.compact
  def __call__(self, x: jax.Array, positions: jax.Array) -> jax.Array:
    """x `[batch, length, dim]`, positions `[length]` int -> `[batch, length, dim]`."""
    if self.kind == 'sinusoidal':
      return x + sinusoidal_encoding(positions, x.shape[-1]).astype(x.dtype)[None]
    if self.kind == 'learned':
      table = self.param('embedding', nn.initializers.normal(stddev=0.02),
                         (self.max_len, x.shape[-1]))
      return x + jnp.take(table, positions, axis=0).astype(x.dtype)[None]
    return x
