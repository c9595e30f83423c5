"""Attention against a naive NumPy softmax(Q K^T / sqrt(d_k) + mask) V, masks, and multi-head."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import attention

BATCH, Q_LEN, K_LEN, HEADS, HEAD_DIM = 2, 5, 6, 2, 4
LENGTHS = np.array([4, 6])  # key lengths: the first example's last two keys are padding


def np_attention(q, k, v, mask=None):
  """The lecture formula for one head, in float64: q `[q_len, d]`, k and v `[k_len, d]`,
  mask bool `[q_len, k_len]` (True = attend) -> (outputs `[q_len, d]`, weights `[q_len, k_len]`).
  A query with no key to attend to gets zero weights."""
  q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
  mask = np.ones((len(q), len(k)), bool) if mask is None else mask
  logits = np.where(mask, q @ k.T / np.sqrt(q.shape[-1]), -np.inf)
  top = np.max(logits, axis=-1, keepdims=True)
  exp = np.where(mask, np.exp(logits - np.where(np.isfinite(top), top, 0)), 0)
  total = exp.sum(axis=-1, keepdims=True)
  weights = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
  return weights @ v, weights


def np_multi_head(q, k, v, mask):
  """`[batch, len, heads, d]` inputs, mask bool `[batch, q_len, k_len]` -> (outputs
  `[batch, q_len, heads, d]`, weights `[batch, heads, q_len, k_len]`), one head at a time."""
  heads = [[np_attention(q[b, :, h], k[b, :, h], v[b, :, h], mask[b]) for h in range(q.shape[2])]
           for b in range(q.shape[0])]
  outputs = np.stack([np.stack([o for o, _ in row], axis=1) for row in heads])
  weights = np.stack([np.stack([w for _, w in row]) for row in heads])
  return outputs, weights


def np_masks(kind, q_len=Q_LEN, k_len=K_LEN, lengths=LENGTHS):
  """bool `[batch, q_len, k_len]` built with NumPy: causal (queries are the last q_len keys),
  key padding from `lengths`, or both."""
  causal = np.tril(np.ones((q_len, k_len), bool), k=k_len - q_len)
  padding = np.arange(k_len)[None, :] < np.asarray(lengths)[:, None]
  everything = np.ones((len(lengths), q_len, k_len), bool)
  return {'none': everything, 'causal': everything & causal,
          'padding': everything & padding[:, None, :],
          'combined': everything & causal & padding[:, None, :]}[kind]


def jax_mask(kind, q_len=Q_LEN, k_len=K_LEN, lengths=LENGTHS):
  """The same masks from the module's functions, broadcastable to `[batch, heads, q_len, k_len]`."""
  causal = attention.causal_mask(q_len, k_len)
  padding = attention.padding_mask(jnp.arange(k_len)[None, :] < jnp.asarray(lengths)[:, None])
  return {'none': None, 'causal': causal, 'padding': padding,
          'combined': attention.combine_masks(causal, None, padding)}[kind]


def _qkv(seed, q_len=Q_LEN, k_len=K_LEN):
  rng = np.random.RandomState(seed)
  q = rng.randn(BATCH, q_len, HEADS, HEAD_DIM)
  k, v = rng.randn(2, BATCH, k_len, HEADS, HEAD_DIM)
  return tuple(jnp.asarray(x, jnp.float32) for x in (q, k, v))


MASKS = ('none', 'causal', 'padding', 'combined')


@pytest.mark.parametrize('kind', MASKS)
def test_masks_equal_numpy(kind):
  mask = jax_mask(kind)
  full = np.broadcast_to(True if mask is None else mask, (BATCH, HEADS, Q_LEN, K_LEN))
  np.testing.assert_array_equal(full, np.broadcast_to(np_masks(kind)[:, None], full.shape))


@pytest.mark.parametrize('kind', MASKS)
def test_explicit_and_fused_attention_equal_numpy(kind):
  q, k, v = _qkv(0)
  expected, expected_weights = np_multi_head(q, k, v, np_masks(kind))
  outputs, weights = attention.dot_product_attention(q, k, v, jax_mask(kind))
  assert outputs.shape == (BATCH, Q_LEN, HEADS, HEAD_DIM)
  assert weights.shape == (BATCH, HEADS, Q_LEN, K_LEN) and weights.dtype == jnp.float32
  np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
  fused = attention.fused_attention(q, k, v, jax_mask(kind))
  np.testing.assert_allclose(fused, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('impl', attention.ATTENTION_IMPLS)
def test_fully_masked_rows_are_zero_with_finite_gradients(impl):
  q, k, v = _qkv(1)
  lengths = np.array([0, 3])  # the first example has no key at all
  no_first_query = np.arange(Q_LEN)[:, None] > 0  # and query 0 sees no key in either example
  np_mask = np_masks('padding', lengths=lengths) & no_first_query
  mask = attention.combine_masks(jax_mask('padding', lengths=lengths), no_first_query[None, None])
  run = {'explicit': lambda *x: attention.dot_product_attention(*x, mask)[0],
         'fused': lambda *x: attention.fused_attention(*x, mask),
         'blocked': lambda *x: attention.blocked_attention(*x, mask)}[impl]
  outputs = run(q, k, v)
  expected, _ = np_multi_head(q, k, v, np_mask)
  np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(outputs[0], 0)
  np.testing.assert_array_equal(outputs[:, 0], 0)
  assert np.abs(outputs[1, 1:]).min() > 0
  grads = jax.jit(jax.grad(lambda *x: jnp.sum(run(*x) ** 2), argnums=(0, 1, 2)))(q, k, v)
  assert all(np.isfinite(g).all() for g in grads)


def test_masked_softmax_rows():
  logits = jnp.asarray([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [5.0, -5.0, 0.0]])
  mask = jnp.asarray([[True, True, True], [True, False, True], [False, False, False]])
  expected = np.array([np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(),
                       np.array([np.e, 0, np.e ** 3]) / (np.e + np.e ** 3), [0, 0, 0]])
  np.testing.assert_allclose(attention.masked_softmax(logits, mask), expected, rtol=1e-6)
  np.testing.assert_allclose(attention.masked_softmax(logits), np.array(
      [expected[0], expected[0], np.exp([5, -5, 0]) / np.exp([5, -5, 0]).sum()]), rtol=1e-6)


def _np_module(params, inputs_q, inputs_kv, mask):
  """`MultiHeadAttention` recomputed in NumPy from its params: per-head projections, per-head
  single attention, heads concatenated, then the output projection."""
  def project(name, x):  # kernel [features, heads, head_dim], bias [heads, head_dim]
    return np.einsum('blf,fhd->blhd', x, params[name]['kernel']) + params[name]['bias']
  q, k, v = project('query', inputs_q), project('key', inputs_kv), project('value', inputs_kv)
  heads, weights = np_multi_head(q, k, v, mask)
  concatenated = heads.reshape(heads.shape[:2] + (-1,))  # [batch, q_len, heads * head_dim]
  out = params['out']
  return concatenated @ out['kernel'].reshape(-1, out['kernel'].shape[-1]) + out['bias'], weights


@pytest.mark.parametrize('cross,kind', [(False, 'combined'), (True, 'padding')])
def test_multi_head_equals_heads_concatenated_and_projected(cross, kind):
  features = HEADS * HEAD_DIM
  rng = np.random.RandomState(2)
  inputs_q = jnp.asarray(rng.randn(BATCH, Q_LEN, features), jnp.float32)
  inputs_kv = jnp.asarray(rng.randn(BATCH, K_LEN, features), jnp.float32) if cross else None
  q_len, k_len = Q_LEN, K_LEN if cross else Q_LEN
  lengths = np.minimum(LENGTHS, k_len)
  mask = jax_mask(kind, q_len, k_len, lengths)
  module = attention.MultiHeadAttention(HEADS, features)
  variables = module.init(jax.random.key(0, impl='rbg'), inputs_q, inputs_kv, mask)
  outputs, state = module.apply(variables, inputs_q, inputs_kv, mask, mutable=['intermediates'])
  params = jax.tree.map(np.asarray, variables['params'])
  kv = inputs_q if inputs_kv is None else inputs_kv
  expected, expected_weights = _np_module(params, np.asarray(inputs_q, np.float64),
                                          np.asarray(kv, np.float64),
                                          np_masks(kind, q_len, k_len, lengths))
  assert outputs.shape == (BATCH, Q_LEN, features)
  np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
  (sown,) = state['intermediates']['attention_weights']
  np.testing.assert_allclose(sown, expected_weights, rtol=1e-5, atol=1e-6)

  fused = attention.MultiHeadAttention(HEADS, features, impl='fused')
  fused_outputs, fused_state = fused.apply(variables, inputs_q, inputs_kv, mask,
                                           mutable=['intermediates'])
  np.testing.assert_allclose(fused_outputs, expected, rtol=1e-4, atol=1e-4)
  assert not fused_state  # the fused path never materialises the weights


def test_query_chunks_skip_the_keys_no_query_of_a_chunk_reaches():
  assert attention.query_chunks(attention.causal_mask(100), 100, 100, chunk=32) == [
      (0, 32, 32), (32, 64, 64), (64, 96, 96), (96, 100, 100)]
  # Queries are the last 40 of 100 keys: the first chunk reaches key 60 + 31.
  assert attention.query_chunks(attention.causal_mask(40, 100), 40, 100, chunk=32) == [
      (0, 32, 92), (32, 40, 100)]
  # A row that reaches no key still gets one (its weights are zeros either way).
  nothing_early = attention.causal_mask(64) & (np.arange(64) >= 40)[:, None]
  assert attention.query_chunks(nothing_early, 64, 64, chunk=32) == [(0, 32, 1), (32, 64, 64)]
  causal = attention.causal_mask(64)
  assert attention.query_chunks(jnp.asarray(causal), 64, 64, chunk=32) is None  # values unread
  assert attention.query_chunks(None, 64, 64, chunk=32) is None
  assert attention.query_chunks(causal, 64, 64, chunk=64) is None  # one chunk
  padding = np.ones((2, 1, 1, 64), bool)
  assert attention.query_chunks(padding, 64, 64, chunk=32) is None  # every chunk reaches key 63
  long = attention.query_chunks(attention.causal_mask(2048), 2048, 2048, chunk=32, max_chunks=16)
  assert len(long) == 16 and long[0] == (0, 128, 128) and long[-1] == (1920, 2048, 2048)


@pytest.mark.parametrize('q_len,k_len', [(70, 70), (40, 100)])
def test_chunked_explicit_attention_equals_one_dense_product(q_len, k_len):
  """Under a NumPy (concrete) causal mask the explicit path runs query chunks against the keys
  they reach; the same mask as a jax array (values unread) takes one dense product. Outputs,
  sown weights and every gradient agree, and the weights are the NumPy formula's."""
  features = HEADS * HEAD_DIM
  rng = np.random.RandomState(3)
  inputs_q = jnp.asarray(rng.randn(BATCH, q_len, features), jnp.float32)
  inputs_kv = jnp.asarray(rng.randn(BATCH, k_len, features), jnp.float32)
  causal = attention.causal_mask(q_len, k_len)
  assert len(attention.query_chunks(causal, q_len, k_len)) > 1
  module = attention.MultiHeadAttention(HEADS, features)
  variables = module.init(jax.random.key(0), inputs_q, inputs_kv, causal)

  def run(mask):
    def loss(params, inputs_q, inputs_kv):
      out, state = module.apply({'params': params}, inputs_q, inputs_kv, mask,
                                mutable=['intermediates'])
      return jnp.sum(out * jnp.cos(out)), (out, state['intermediates']['attention_weights'][0])
    return jax.jit(jax.grad(loss, argnums=(0, 1, 2), has_aux=True))(
        variables['params'], inputs_q, inputs_kv)

  chunked_grads, (chunked, chunked_weights) = run(causal)
  dense_grads, (dense, dense_weights) = run(jnp.asarray(causal))
  np.testing.assert_allclose(chunked, dense, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(chunked_weights, dense_weights, rtol=1e-5, atol=1e-7)
  for a, b in zip(jax.tree.leaves(chunked_grads), jax.tree.leaves(dense_grads)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  params = jax.tree.map(np.asarray, variables['params'])
  _, expected_weights = _np_module(params, np.asarray(inputs_q, np.float64),
                                   np.asarray(inputs_kv, np.float64),
                                   np.broadcast_to(causal[0], (BATCH, q_len, k_len)))
  np.testing.assert_allclose(chunked_weights, expected_weights, rtol=1e-5, atol=1e-6)
