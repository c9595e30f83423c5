"""Positional encodings: sinusoidal against its formula, learned table, rotary's relative property."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import attention, positional

KEY = jax.random.key(0, impl='rbg')


@pytest.mark.parametrize('dim', [8, 7])
def test_sinusoidal_equals_formula(dim):
  length = 12
  expected = np.zeros((length, dim))
  for pos in range(length):
    for j in range(dim):
      i = j // 2  # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)
      angle = pos / 10000 ** (2 * i / dim)
      expected[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
  encoding = positional.sinusoidal_encoding(jnp.arange(length), dim)
  assert encoding.shape == (length, dim) and encoding.dtype == jnp.float32
  np.testing.assert_allclose(encoding, expected, rtol=1e-5, atol=1e-5)


def test_add_positional_encoding_kinds():
  x = jnp.asarray(np.random.RandomState(0).randn(2, 5, 6), jnp.float32)
  positions = jnp.arange(3, 8)
  add = lambda kind, variables=None: positional.AddPositionalEncoding(kind, 10).apply(
      variables or {}, x, positions)
  np.testing.assert_allclose(add('sinusoidal'),
                             x + positional.sinusoidal_encoding(positions, 6)[None], rtol=1e-6)
  learned = positional.AddPositionalEncoding('learned', 10)
  variables = learned.init(KEY, x, positions)
  table = variables['params']['embedding']
  assert table.shape == (10, 6)
  np.testing.assert_allclose(add('learned', variables), x + table[3:8][None], rtol=1e-6)
  for kind in ('rotary', 'none'):  # rotary acts on q and k inside attention, not here
    np.testing.assert_array_equal(add(kind), x)


def _np_rotary(x, positions):
  """Rotates each pair (x_i, x_{i + d/2}) of `x` `[length, d]` by pos / 10000^(2i / d)."""
  out = np.array(x, np.float64)
  half = x.shape[-1] // 2
  for t, pos in enumerate(positions):
    for i in range(half):
      angle = pos / 10000 ** (2 * i / (2 * half))
      a, b = x[t, i], x[t, i + half]
      out[t, i] = a * math.cos(angle) - b * math.sin(angle)
      out[t, i + half] = a * math.sin(angle) + b * math.cos(angle)
  return out


@pytest.mark.parametrize('head_dim', [8, 5])
def test_rotary_equals_pairwise_rotation(head_dim):
  x = np.random.RandomState(1).randn(2, 6, 3, head_dim)
  positions = np.array([0, 1, 2, 5, 9, 11])
  rotated = np.asarray(positional.apply_rotary(jnp.asarray(x, jnp.float32), jnp.asarray(positions)))
  for b in range(2):
    for h in range(3):
      np.testing.assert_allclose(rotated[b, :, h], _np_rotary(x[b, :, h], positions), atol=1e-5)


def test_rotary_scores_depend_only_on_offset():
  rng = np.random.RandomState(2)
  q = jnp.asarray(rng.randn(1, 1, 1, 8), jnp.float32)
  k = jnp.asarray(rng.randn(1, 1, 1, 8), jnp.float32)
  rotate = lambda x, pos: positional.apply_rotary(x, jnp.asarray([pos]))[0, 0, 0]
  score = lambda m, n: float(rotate(q, m) @ rotate(k, n))
  for m, n in [(0, 0), (3, 1), (1, 3), (7, 2)]:
    for shift in (1, 5, 40):
      np.testing.assert_allclose(score(m + shift, n + shift), score(m, n), rtol=1e-4, atol=1e-5)
  assert abs(score(3, 1) - score(1, 3)) > 1e-3  # the offset's sign matters (not a constant)


def test_rotary_self_attention_is_shift_invariant():
  """With rotary and no other position information, self-attention sees relative positions only."""
  x = jnp.asarray(np.random.RandomState(3).randn(2, 6, 8), jnp.float32)
  mha = attention.MultiHeadAttention(num_heads=2, features=8, rotary=True)
  variables = mha.init(KEY, x)
  mask = attention.causal_mask(6)
  at = lambda positions: mha.apply(variables, x, mask=mask, positions=positions)
  np.testing.assert_allclose(at(jnp.arange(6) + 17), at(jnp.arange(6)), rtol=1e-4, atol=1e-5)
  plain = attention.MultiHeadAttention(num_heads=2, features=8).apply(variables, x, mask=mask)
  assert not np.allclose(at(jnp.arange(6)), plain, atol=1e-3)  # rotary did change the scores
