"""Scaled dot-product attention, its masks, and the multi-head attention module.

Shapes follow `jax.nn.dot_product_attention`: queries `[batch, q_len, heads, head_dim]`, keys and
values `[batch, k_len, heads, head_dim]`. Masks are boolean, True = attend, and broadcast to
`[batch, heads, q_len, k_len]`.

The lecture formula, in `dot_product_attention`:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V

with the softmax in the wider of float32 and the input dtype (float32 for bfloat16 inputs, float64
for float64 reference runs) and fully masked rows giving zero weights (and so zero outputs).
"""
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from attn_jax.models import positional
from attn_jax.models.attention_choice import choose_attention_impl
from attn_jax.models.dense import DenseGeneral

ATTENTION_IMPLS = ('explicit', 'fused', 'blocked')
# What `MultiHeadAttention.impl` accepts: an implementation, or 'auto' (`attention_choice`).
ATTENTION_CHOICES = ('auto', *ATTENTION_IMPLS)
BLOCK_SIZE = 128  # query and key block length of the 'blocked' path
QUERY_CHUNK = 32  # queries per chunk of the 'explicit' path under a concrete mask (`query_chunks`),
MAX_QUERY_CHUNKS = 16  # and at most this many chunks (longer chunks beyond 512 queries)


def causal_mask(q_len: int, k_len: Optional[int] = None) -> np.ndarray:
  """`[1, 1, q_len, k_len]` bool: query i attends to keys j <= i (queries are the last q_len keys).

  A NumPy constant, not a traced array, so that the explicit path can read which keys each query
  reaches (`query_chunks`) while tracing.
  """
  k_len = q_len if k_len is None else k_len
  q_pos = np.arange(q_len)[:, None] + (k_len - q_len)
  return (np.arange(k_len)[None, :] <= q_pos)[None, None]


def query_chunks(mask, q_len: int, k_len: int, chunk: int = QUERY_CHUNK,
                 max_chunks: int = MAX_QUERY_CHUNKS) -> Optional[list[tuple[int, int, int]]]:
  """How the explicit path splits the queries under a concrete mask: `(start, end, keys)` per run
  of `chunk` queries (more per run where `chunk` would make more than `max_chunks` runs), `keys` =
  one past the last key any of them attends to (at least 1).

  Under a causal mask the chunks skip the keys above the diagonal: the scores, softmax and both
  products shrink to the lower triangle plus the diagonal chunks (at L=256, chunks of 32: 56% of
  the `[L, L]` scores). None, and one dense product, when `mask` is None or traced (its values
  unknown while tracing), when there is a single chunk, or when every chunk reaches the last key.
  Each chunk is its own products in the compiled program: at L = 1024 (width 32, batch 16) chunks
  of 32 / 64 / 128 compiled the train step in 5.3 / 3.6 / 2.6 s and ran it in 473 / 489 / 537
  ms, so the chunks grow past `max_chunks` of them.

  Args:
    mask: bool, broadcastable to `[batch, heads, q_len, k_len]`; only a NumPy array is read.
    q_len, k_len: query and key lengths.
    chunk: queries per chunk, at least.
    max_chunks: chunks, at most.
  Returns:
    `[(start, end, keys), ...]` covering `0..q_len`, or None.
  """
  chunk = max(chunk, -(-q_len // max_chunks))
  if not isinstance(mask, np.ndarray) or q_len <= chunk:
    return None
  reached = np.broadcast_to(mask, mask.shape[:2] + (q_len, k_len)).any(axis=(0, 1))  # [q, k]
  spans = []
  for start in range(0, q_len, chunk):
    keys = np.flatnonzero(reached[start:start + chunk].any(axis=0))
    spans.append((start, min(start + chunk, q_len), int(keys[-1]) + 1 if keys.size else 1))
  return None if all(keys == k_len for *_, keys in spans) else spans


def mask_span(mask: jax.Array, start: int, end: int, keys: int) -> jax.Array:
  """The part of `mask` (`[batch|1, heads|1, q_len|1, k_len]`) for queries `start:end` and the
  first `keys` keys."""
  if mask.shape[2] > 1:
    mask = mask[:, :, start:end]
  return mask[..., :keys]


def padding_mask(key_valid: jax.Array) -> jax.Array:
  """`[batch, k_len]` bool (True = a real token) -> `[batch, 1, 1, k_len]` key-padding mask."""
  return key_valid[:, None, None, :]


def combine_masks(*masks: Optional[jax.Array]) -> Optional[jax.Array]:
  """Logical AND of the masks that are not None (None if all are None)."""
  masks = [m for m in masks if m is not None]
  if not masks:
    return None
  out = masks[0]
  for m in masks[1:]:
    out = jnp.logical_and(out, m)
  return out


def softmax_dtype(dtype) -> jnp.dtype:
  """The wider of float32 and `dtype`: the dtype scores and softmax are computed in."""
  return jnp.promote_types(jnp.float32, dtype)


def masked_softmax(logits: jax.Array, mask: Optional[jax.Array] = None) -> jax.Array:
  """Softmax over the last axis in `softmax_dtype(logits.dtype)`, restricted to `mask` (True =
  keep); all-masked rows -> 0."""
  logits = logits.astype(softmax_dtype(logits.dtype))
  if mask is None:
    return jax.nn.softmax(logits, axis=-1)
  # The mask as an additive bias (0 where kept, the lowest value elsewhere, where exp gives 0),
  # and empty rows zeroed by a `[..., q_len, 1]` factor: the backward of an addition passes the
  # gradient through, where a select over `[..., q_len, k_len]` would be run again (the study's
  # transformer train step, width 64, batch 64: 0.93-0.94 of the time with selects at L=256,
  # 0.97-0.99 at L=64; experiments/results/benchmark_cpu/masked_softmax_probe.py).
  bias = jnp.where(mask, 0.0, jnp.finfo(logits.dtype).min).astype(logits.dtype)
  weights = jax.nn.softmax(logits + bias, axis=-1)
  return weights * jnp.any(mask, axis=-1, keepdims=True).astype(weights.dtype)


def attention_weights(q: jax.Array, k: jax.Array, mask: Optional[jax.Array] = None) -> jax.Array:
  """softmax(Q K^T / sqrt(d_k) + mask), in `softmax_dtype(q.dtype)` (float32 for bf16/float32).

  Args:
    q: `[batch, q_len, heads, head_dim]`.
    k: `[batch, k_len, heads, head_dim]`.
    mask: bool, broadcastable to `[batch, heads, q_len, k_len]`, True = attend.
  Returns:
    `[batch, heads, q_len, k_len]`; rows with every key masked are all zeros.
  """
  dtype = softmax_dtype(q.dtype)
  logits = jnp.einsum('bhqd,bhkd->bhqk', heads_major(q), heads_major(k),
                      preferred_element_type=dtype)
  return masked_softmax(logits / jnp.sqrt(jnp.asarray(q.shape[-1], dtype)), mask)


def heads_major(x: jax.Array) -> jax.Array:
  """`[batch, length, heads, d]` <-> `[batch, heads, length, d]`.

  The products of `attention_weights` and `attend` batch over (batch, heads); with their operands
  and result heads-major the transposes are explicit, on the small `[.., d]` arrays. Written on
  `[batch, length, heads, d]` operands (`'bhqk,bkhd->bqhd'`), the weighted sum compiled to a
  product with a `[batch, heads, d, q_len]` result, transposed afterwards: attention alone at head
  dim 16, L = 64, batch 64, 4 heads took 9.4 ms forward that way, 1.8 ms this way. In the study's
  transformer the forward pass (the loss) takes 0.84 of the time at L = 256, width 64, 0.96-1.03
  at the other study shapes, and the train step the same time (0.98-1.06;
  experiments/results/benchmark_cpu/heads_major_probe.py).
  """
  return jnp.swapaxes(x, 1, 2)


def attend(weights: jax.Array, v: jax.Array) -> jax.Array:
  """Weighted sum of values: `[batch, heads, q_len, k_len]` x `[batch, k_len, heads, d]` -> `[batch, q_len, heads, d]`."""
  return heads_major(jnp.einsum('bhqk,bhkd->bhqd', weights.astype(v.dtype), heads_major(v)))


def dot_product_attention(q, k, v, mask=None):
  """The explicit path: returns (outputs `[batch, q_len, heads, d]`, weights `[batch, heads, q_len, k_len]`)."""
  weights = attention_weights(q, k, mask)
  return attend(weights, v), weights


def fused_attention(q, k, v, mask=None):
  """The fused path: `jax.nn.dot_product_attention` (cuDNN flash on GPU when eligible, XLA otherwise).

  Equals `dot_product_attention(...)[0]`, fully masked rows included (they are zeroed afterwards).
  Returns outputs `[batch, q_len, heads, d]`; the weights are never materialised.
  """
  out = jax.nn.dot_product_attention(q, k, v, mask=mask)
  if mask is None:
    return out
  row_valid = jnp.any(mask, axis=-1)  # [batch|1, heads|1, q_len|1]
  return jnp.where(jnp.swapaxes(row_valid, 1, 2)[..., None], out, 0).astype(out.dtype)


def _array_module(x):
  """`np` for a NumPy array, else `jnp`: a NumPy mask stays one through padding and broadcasting,
  so that its values can still be read while tracing (`tiles_reached`)."""
  return np if isinstance(x, np.ndarray) else jnp


def _pad_axis(x: jax.Array, axis: int, size: int, value=0) -> jax.Array:
  """`x` padded with `value` to `size` along `axis` (a NumPy array stays one)."""
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, size - x.shape[axis])
  return _array_module(x).pad(x, widths, constant_values=value)


def blocked_attention(q, k, v, mask=None, block_size: int = BLOCK_SIZE):
  """Attention that never holds more than a `[batch, heads, block, block]` score tile.

  Queries and keys are cut into blocks of `block_size`; for each query block an online softmax
  runs over the key blocks (running max m, normaliser l, weighted sum; Milakov & Gimelshein 2018,
  FlashAttention, Dao et al. 2022), and a (query, key) block whose mask is all False (above the
  diagonal of a causal mask, or all padding) is skipped. The backward pass (a custom VJP) keeps
  only the output and the log-sum-exp per query and recomputes each tile. Equals
  `dot_product_attention(q, k, v, mask)[0]`, fully masked rows (zeros) included. Scores that fit
  in one tile (q_len * k_len <= block_size ** 2: short sequences, and the one query of a decode
  step against its KV cache) take the explicit path: tiling them saves no memory and made a
  one-token decode step at a 1024-token cache 2.6x slower (experiments/results/benchmark_cpu).

  Args:
    q: `[batch, q_len, heads, head_dim]`; k, v: `[batch, k_len, heads, head_dim]`.
    mask: bool, broadcastable to `[batch, heads, q_len, k_len]`, True = attend.
    block_size: query/key block length (lengths are padded up to a multiple of it).
  Returns:
    `[batch, q_len, heads, head_dim]`.
  """
  q_len, k_len = q.shape[1], k.shape[1]
  if q_len * k_len <= block_size ** 2:
    return dot_product_attention(q, k, v, mask)[0]
  bq, bk = min(block_size, q_len), min(block_size, k_len)
  q_pad, k_pad = -(-q_len // bq) * bq, -(-k_len // bk) * bk
  if mask is None and k_pad > k_len:
    mask = np.ones((1, 1, 1, k_len), bool)
  if mask is not None:  # pad to the block grid (padded keys masked); keep broadcast dims of 1
    mask = _array_module(mask).broadcast_to(mask, mask.shape[:3] + (k_len,))
    mask = _pad_axis(mask, 3, k_pad, False)
    if mask.shape[2] > 1:
      mask = _pad_axis(mask, 2, q_pad, False)
  to_blocks = lambda x, n, b: _pad_axis(x, 1, n).reshape(
      x.shape[0], n // b, b, *x.shape[2:]).transpose(1, 0, 3, 2, 4)  # [n/b, batch, heads, b, d]
  out = _blocked(to_blocks(q, q_pad, bq), to_blocks(k, k_pad, bk), to_blocks(v, k_pad, bk), mask,
                 None if mask is None else tiles_reached(mask, bq, bk))
  out = out.transpose(1, 0, 3, 2, 4).reshape(q.shape[0], q_pad, *q.shape[2:])
  return out[:, :q_len].astype(v.dtype)


def _mask_tile(mask, i, j, bq, bk):
  """The mask of query block i, key block j: `[batch|1, heads|1, bq|1, bk]`."""
  if mask.shape[2] > 1:
    mask = jax.lax.dynamic_slice_in_dim(mask, i * bq, bq, axis=2)
  return jax.lax.dynamic_slice_in_dim(mask, j * bk, bk, axis=3)


def _tiles(qb, kb, mask):
  """(scale, dtype, tile scores function), shared by the forward and backward passes."""
  dtype = softmax_dtype(qb.dtype)
  scale = 1 / jnp.sqrt(jnp.asarray(qb.shape[-1], dtype))
  bq, bk = qb.shape[3], kb.shape[3]

  def scores(q_i, k_j, i, j):
    """Scaled scores of a tile `[batch, heads, bq, bk]` and its mask (None: all attend)."""
    s = jnp.einsum('bhqd,bhkd->bhqk', q_i, k_j, preferred_element_type=dtype) * scale
    return s, None if mask is None else _mask_tile(mask, i, j, bq, bk)
  return scale, dtype, scores


def tiles_reached(mask, bq: int, bk: int) -> jax.Array:
  """`[q_len / bq, k_len / bk]` bool: whether any query of query block i attends to any key of key
  block j, for a mask `[batch|1, heads|1, q_len|1, k_len]` on the block grid. Read once, before
  the tile loops: with a constant (NumPy) mask, XLA folded the loops' per-tile reductions of it
  into one of the whole mask while compiling (2.7 s at L = 2048)."""
  rows = mask.shape[2] // bq if mask.shape[2] > 1 else 1
  tiles = mask.reshape(mask.shape[0], mask.shape[1], rows, -1, mask.shape[3] // bk, bk)
  return tiles.any(axis=(0, 1, 3, 5))


def _skip_masked(reached, i, j, compute, carry):
  """compute(carry), or carry unchanged where tile (i, j) is not `reached` (None: all are)."""
  if reached is None:
    return compute(carry)
  tile = jnp.asarray(reached)[i if reached.shape[0] > 1 else 0, j]
  return jax.lax.cond(tile, compute, lambda c: c, carry)


@jax.custom_vjp
def _blocked(qb, kb, vb, mask, reached):
  return _blocked_forward(qb, kb, vb, mask, reached)[0]


def _blocked_forward(qb, kb, vb, mask, reached):
  """Blocks `[n, batch, heads, b, d]` -> (output blocks, log-sum-exp `[nq, batch, heads, bq]`)."""
  _, dtype, scores = _tiles(qb, kb, mask)
  bq, bk = qb.shape[3], kb.shape[3]

  def query_block(args):
    i, q_i = args

    def key_block(carry, j):
      def compute(carry):
        m, l, acc = carry
        s, tile = scores(q_i, kb[j], i, j)
        if tile is not None:
          s = jnp.where(tile, s, -jnp.inf)
        m_new = jnp.maximum(m, s.max(-1))
        m_safe = jnp.where(jnp.isfinite(m_new), m_new, 0)
        p = jnp.exp(s - m_safe[..., None])
        correction = jnp.exp(m - m_safe)
        acc = acc * correction[..., None] + jnp.einsum('bhqk,bhkd->bhqd', p, vb[j].astype(dtype))
        return m_new, l * correction + p.sum(-1), acc
      return _skip_masked(reached, i, j, compute, carry), None

    init = (jnp.full(q_i.shape[:-1], -jnp.inf, dtype), jnp.zeros(q_i.shape[:-1], dtype),
            jnp.zeros(q_i.shape[:-1] + vb.shape[-1:], dtype))
    (m, l, acc), _ = jax.lax.scan(key_block, init, jnp.arange(kb.shape[0]))
    out = jnp.where(l[..., None] > 0, acc / jnp.where(l > 0, l, 1)[..., None], 0)
    return out, jnp.where(l > 0, m + jnp.log(jnp.where(l > 0, l, 1)), -jnp.inf)

  return jax.lax.map(query_block, (jnp.arange(qb.shape[0]), qb))


def _blocked_fwd(qb, kb, vb, mask, reached):
  out, lse = _blocked_forward(qb, kb, vb, mask, reached)
  return out, (qb, kb, vb, mask, reached, out, lse)


def _blocked_bwd(residuals, d_out):
  """Recomputes each tile's weights p = exp(s - lse) once: dV = p^T dO, dS = p (dO V^T -
  rowsum(dO O)), dQ = dS K scale, dK = dS^T Q scale; one pass over key blocks, each over the
  query blocks, carrying dK, dV of the key block and dQ of all query blocks."""
  qb, kb, vb, mask, reached, out, lse = residuals
  scale, dtype, scores = _tiles(qb, kb, mask)
  bq, bk = qb.shape[3], kb.shape[3]
  d_out = d_out.astype(dtype)
  delta = jnp.sum(d_out * out, -1)  # [nq, batch, heads, bq]

  def tile(i, j):
    """(p, dS) of tile (i, j)."""
    s, m = scores(qb[i], kb[j], i, j)
    p = jnp.exp(s - jnp.where(jnp.isfinite(lse[i]), lse[i], 0)[..., None])
    p = jnp.where(jnp.isfinite(lse[i])[..., None] if m is None else
                  jnp.logical_and(m, jnp.isfinite(lse[i])[..., None]), p, 0)
    dp = jnp.einsum('bhqd,bhkd->bhqk', d_out[i], vb[j].astype(dtype))
    return p, p * (dp - delta[i][..., None])

  def key_block(dq, j):
    def over_queries(carry, i):
      def compute(carry):
        dk, dv, dq = carry
        p, ds = tile(i, j)
        dq = dq.at[i].add(scale * jnp.einsum('bhqk,bhkd->bhqd', ds, kb[j].astype(dtype)))
        return (dk + scale * jnp.einsum('bhqk,bhqd->bhkd', ds, qb[i].astype(dtype)),
                dv + jnp.einsum('bhqk,bhqd->bhkd', p, d_out[i]), dq)
      return _skip_masked(reached, i, j, compute, carry), None
    zeros = jnp.zeros(kb.shape[1:], dtype)
    (dk, dv, dq), _ = jax.lax.scan(over_queries, (zeros, zeros, dq), jnp.arange(qb.shape[0]))
    return dq, (dk, dv)

  dq, (dk, dv) = jax.lax.scan(key_block, jnp.zeros(qb.shape, dtype), jnp.arange(kb.shape[0]))
  return dq.astype(qb.dtype), dk.astype(kb.dtype), dv.astype(vb.dtype), None, None


_blocked.defvjp(_blocked_fwd, _blocked_bwd)


class MultiHeadAttention(nn.Module):
  """Multi-head attention (self or cross) with q/k/v/out projections and an optional KV cache.

  Attributes:
    num_heads: heads; `features` must be divisible by it.
    features: model width (q/k/v/out projections are `features -> features`).
    dropout_rate: dropout on the attention weights (explicit path only).
    impl: 'explicit' (weights computed and sown as `intermediates/attention_weights`,
      `[batch, heads, q_len, k_len]`), 'fused' (`jax.nn.dot_product_attention`) or 'blocked'
      (`blocked_attention`, no `[q_len, k_len]` array); the last two sow nothing and have no
      weight dropout. 'auto': one of the three chosen at each call (`resolve_impl`) from the
      committed measurements (`attention_choice`); 'explicit' while weight dropout is active.
    rotary: apply rotary position embeddings to q and k (self-attention).
    dtype: computation dtype; params are float32.
  """
  num_heads: int
  features: int
  dropout_rate: float = 0.0
  impl: str = 'explicit'
  rotary: bool = False
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, inputs_q, inputs_kv=None, mask=None, *, positions=None, train=False,
               decode=False):
    """Attend from `inputs_q` `[batch, q_len, features]` to `inputs_kv` (default: itself).

    Args:
      inputs_q: `[batch, q_len, features]`.
      inputs_kv: `[batch, k_len, features]` for cross-attention; None for self-attention.
      mask: bool, broadcastable to `[batch, heads, q_len, k_len]`. Ignored for decode=True
        self-attention, where the causal mask over the cache is built from `cache_index`.
      positions: `[q_len]` int positions of the queries (rotary only; default `arange(q_len)`;
        with decode=True pass the position of the token being decoded).
      train: enables dropout on the weights.
      decode: self-attention with a KV cache, one token per call: the 'cache' collection holds
        `cached_key`, `cached_value` `[batch, heads, max_len, head_dim]` and `cache_index`.
        The first call (from `init`) with full-length inputs only creates the cache.
    Returns:
      `[batch, q_len, features]`.
    """
    if self.features % self.num_heads:
      raise ValueError(f'features {self.features} not divisible by num_heads {self.num_heads}')
    head_dim = self.features // self.num_heads
    dense = lambda name: DenseGeneral((self.num_heads, head_dim), dtype=self.dtype, name=name)
    self_attention = inputs_kv is None
    inputs_kv = inputs_q if self_attention else inputs_kv
    q = dense('query')(inputs_q)  # [batch, q_len, heads, head_dim]
    k = dense('key')(inputs_kv)
    v = dense('value')(inputs_kv)
    if self.rotary and self_attention:
      positions = jnp.arange(q.shape[1]) if positions is None else positions
      q = positional.apply_rotary(q, positions)
      k = positional.apply_rotary(k, positions)
    if decode and self_attention:
      k, v, mask = self._update_cache(k, v, mask)
    impl = self.resolve_impl(q.shape[1], k.shape[1], train)
    if impl == 'fused':
      out = fused_attention(q, k, v, mask)
    elif impl == 'blocked':
      out = blocked_attention(q, k, v, mask)
    else:
      out = self._explicit(q, k, v, mask, train)
    return DenseGeneral(self.features, axis=(-2, -1), dtype=self.dtype, name='out')(out)

  def _explicit(self, q, k, v, mask, train):
    """The explicit path, `[batch, q_len, heads, head_dim]` -> same: the weights written out,
    sown whole and dropped out. Under a concrete mask the queries go in chunks, each against the
    keys it reaches (`query_chunks`); the sown weights are the same `[batch, heads, q_len,
    k_len]` array, zeros where a chunk stops. The study's transformer train step (2 blocks,
    causal; widths 64 and 32 at batch 64 and 16), chunked / whole: 0.91-0.93 at L=64, 0.63-0.86
    at L=128, 0.53-0.76 at L=256 (experiments/results/benchmark_cpu/causal_chunks_probe.py)."""
    spans = query_chunks(mask, q.shape[1], k.shape[1])
    if spans is None:
      spans, chunk_masks = [(0, q.shape[1], k.shape[1])], [mask]
    else:
      chunk_masks = [mask_span(mask, *span) for span in spans]
    sown = self.is_mutable_collection('intermediates')
    outputs, chunk_weights = [], []
    for (start, end, keys), chunk_mask in zip(spans, chunk_masks):
      weights = attention_weights(q[:, start:end], k[:, :keys], chunk_mask)
      if sown:
        chunk_weights.append(_pad_axis(weights, 3, k.shape[1]))
      weights = nn.Dropout(self.dropout_rate)(weights, deterministic=not train)
      outputs.append(attend(weights, v[:, :keys]))
    if sown:
      self.sow('intermediates', 'attention_weights', jnp.concatenate(chunk_weights, axis=2))
    return jnp.concatenate(outputs, axis=1)

  def resolve_impl(self, q_len: int, k_len: int, train: bool) -> str:
    """The implementation a call runs: `impl`, or for 'auto' `choose_attention_impl` of the
    default backend's platform, the key length (a static shape), the workload ('decode' for one
    query: a generated token against its cache, or its cross-attention; else 'train', which
    forward-only evaluation shares) and whether weight dropout is active (rate > 0 and train).
    Resolved while tracing: a jitted function compiles one choice per shape."""
    if self.impl != 'auto':
      return self.impl
    workload = 'decode' if q_len == 1 else 'train'
    return choose_attention_impl(jax.default_backend(), k_len, workload,
                                 dropout=self.dropout_rate > 0 and train)

  def _update_cache(self, k, v, mask):
    """Writes this step's key/value at `cache_index`; returns the whole cache `[batch, max_len,
    heads, head_dim]` and its causal mask.

    The cache is stored heads-major, `[batch, heads, max_len, head_dim]`: the attention products
    batch over (batch, heads), so in this layout XLA reads the cache in place, where a
    `[batch, max_len, heads, head_dim]` cache would be transposed whole, in every layer, at every
    generated token (75% of a decode step at max_len 512 on CPU in the `benchmark` profile).
    """
    heads_major = lambda x: jnp.swapaxes(x, 1, 2)  # [b, l, h, d] <-> [b, h, l, d]
    initialized = self.has_variable('cache', 'cached_key')
    shape = heads_major(k).shape
    cached_key = self.variable('cache', 'cached_key', jnp.zeros, shape, k.dtype)
    cached_value = self.variable('cache', 'cached_value', jnp.zeros, shape, v.dtype)
    cache_index = self.variable('cache', 'cache_index', lambda: jnp.array(0, jnp.int32))
    if not initialized:  # `init` with full-length inputs: only the cache's shapes matter.
      return k, v, combine_masks(mask, causal_mask(k.shape[1]))
    if k.shape[1] != 1:
      raise ValueError(f'decode=True takes one token per call, got length {k.shape[1]}')
    index = cache_index.value
    # `_in_dim` takes the one index alone: under JAX_ENABLE_X64 a tuple mixing the int32 index with
    # literal zeros (int64 there) is a TypeError.
    cached_key.value = jax.lax.dynamic_update_slice_in_dim(cached_key.value, heads_major(k),
                                                           index, axis=2)
    cached_value.value = jax.lax.dynamic_update_slice_in_dim(cached_value.value, heads_major(v),
                                                             index, axis=2)
    cache_index.value = index + 1
    max_len = cached_key.value.shape[2]
    return (heads_major(cached_key.value), heads_major(cached_value.value),
            (jnp.arange(max_len) <= index)[None, None, None, :])
