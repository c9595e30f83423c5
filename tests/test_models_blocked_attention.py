"""The 'blocked' attention path (online softmax over query/key tiles, custom VJP) equals
'explicit' in values and gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import attention

B, Q, K, H, D = 2, 13, 11, 3, 4


def _masks():
  lengths = np.array([K, 3])
  padding = attention.padding_mask(jnp.asarray(np.arange(K)[None] < lengths[:, None]))
  empty = attention.padding_mask(jnp.asarray(np.arange(K)[None] < np.array([K, 0])[:, None]))
  causal = attention.causal_mask(Q, K)
  return {'none': None, 'causal': causal, 'padding': padding, 'fully_masked_rows': empty,
          'causal_and_padding': attention.combine_masks(causal, padding)}


@pytest.mark.parametrize('name', list(_masks()))
@pytest.mark.parametrize('block_size', [4, 11])  # 11: one key block, two query blocks
def test_blocked_equals_explicit_values_and_gradients(name, block_size):
  mask = _masks()[name]
  rng = np.random.default_rng(0)
  q, k, v = (jnp.asarray(rng.normal(size=(B, n, H, D)), jnp.float32) for n in (Q, K, K))
  cot = jnp.asarray(rng.normal(size=(B, Q, H, D)), jnp.float32)
  explicit = lambda q, k, v: attention.dot_product_attention(q, k, v, mask)[0]
  blocked = lambda q, k, v: attention.blocked_attention(q, k, v, mask, block_size)
  np.testing.assert_allclose(blocked(q, k, v), explicit(q, k, v), atol=1e-5)
  grad = lambda f: jax.grad(lambda *a: jnp.sum(f(*a) * cot), argnums=(0, 1, 2))(q, k, v)
  for g_blocked, g_explicit in zip(grad(blocked), grad(explicit)):
    np.testing.assert_allclose(g_blocked, g_explicit, atol=1e-5)
  if name == 'fully_masked_rows':
    assert not np.any(np.asarray(blocked(q, k, v))[1])


@pytest.mark.parametrize('q_len,k_len,tiled', [(1, 64, False), (8, 8, False), (9, 8, True)])
def test_scores_that_fit_in_one_tile_take_the_explicit_path(q_len, k_len, tiled):
  """A decode step (one query against the cache) or a short sequence is not tiled (no loop in
  the program); longer ones are; the values equal 'explicit' either way."""
  rng = np.random.default_rng(1)
  q, k, v = (jnp.asarray(rng.normal(size=(B, n, H, D)), jnp.float32) for n in (q_len, k_len, k_len))
  mask = attention.causal_mask(q_len, k_len) if q_len == k_len else None
  blocked = lambda q, k, v: attention.blocked_attention(q, k, v, mask, block_size=8)
  primitives = {eqn.primitive.name for eqn in jax.make_jaxpr(blocked)(q, k, v).jaxpr.eqns}
  assert bool(primitives & {'custom_vjp_call', 'custom_vjp_call_jaxpr'}) == tiled, primitives
  np.testing.assert_allclose(blocked(q, k, v),
                             attention.dot_product_attention(q, k, v, mask)[0], atol=1e-5)


@pytest.mark.parametrize('name', ['causal', 'padding', 'fully_masked_rows', 'causal_and_padding'])
def test_tiles_reached_is_any_of_each_tile(name):
  """Which (query block, key block) tiles any query attends in: a NumPy mask gives a NumPy
  table (read while tracing), a jax mask the same values."""
  bq, bk = 4, 3
  mask = np.broadcast_to(np.asarray(_masks()[name]), (B, 1, Q, K))
  mask = np.pad(mask, [(0, 0), (0, 0), (0, 16 - Q), (0, 12 - K)])  # on the block grid
  expected = np.array([[mask[..., i * bq:(i + 1) * bq, j * bk:(j + 1) * bk].any()
                        for j in range(12 // bk)] for i in range(16 // bq)])
  reached = attention.tiles_reached(mask, bq, bk)
  assert isinstance(reached, np.ndarray)
  np.testing.assert_array_equal(reached, expected)
  np.testing.assert_array_equal(attention.tiles_reached(jnp.asarray(mask), bq, bk), expected)
  assert expected.any() and ('causal' not in name or not expected.all())  # causal skips tiles
