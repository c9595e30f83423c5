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

from attn_jax.models import positional

ATTENTION_IMPLS = ('explicit', 'fused')


def causal_mask(q_len: int, k_len: Optional[int] = None) -> jax.Array:
  """`[1, 1, q_len, k_len]`: query i attends to keys j <= i (queries are the last q_len keys)."""
  k_len = q_len if k_len is None else k_len
  q_pos = jnp.arange(q_len)[:, None] + (k_len - q_len)
  return (jnp.arange(k_len)[None, :] <= q_pos)[None, None]


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
  logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
  return jnp.where(mask, jax.nn.softmax(logits, axis=-1), 0.0)


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
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, k, preferred_element_type=dtype)
  return masked_softmax(logits / jnp.sqrt(jnp.asarray(q.shape[-1], dtype)), mask)


def attend(weights: jax.Array, v: jax.Array) -> jax.Array:
  """Weighted sum of values: `[batch, heads, q_len, k_len]` x `[batch, k_len, heads, d]` -> `[batch, q_len, heads, d]`."""
  return jnp.einsum('bhqk,bkhd->bqhd', weights.astype(v.dtype), v)


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


class MultiHeadAttention(nn.Module):
  """Multi-head attention (self or cross) with q/k/v/out projections and an optional KV cache.

  Attributes:
    num_heads: heads; `features` must be divisible by it.
    features: model width (q/k/v/out projections are `features -> features`).
    dropout_rate: dropout on the attention weights (explicit path only).
    impl: 'explicit' (weights computed and sown as `intermediates/attention_weights`,
      `[batch, heads, q_len, k_len]`) or 'fused' (`jax.nn.dot_product_attention`; nothing sown,
      no weight dropout).
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
        `cached_key`, `cached_value` `[batch, max_len, heads, head_dim]` and `cache_index`.
        The first call (from `init`) with full-length inputs only creates the cache.
    Returns:
      `[batch, q_len, features]`.
    """
    if self.features % self.num_heads:
      raise ValueError(f'features {self.features} not divisible by num_heads {self.num_heads}')
    head_dim = self.features // self.num_heads
    dense = lambda name: nn.DenseGeneral((self.num_heads, head_dim), dtype=self.dtype, name=name)
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
    if self.impl == 'fused':
      out = fused_attention(q, k, v, mask)
    else:
      weights = attention_weights(q, k, mask)
      self.sow('intermediates', 'attention_weights', weights)
      weights = nn.Dropout(self.dropout_rate)(weights, deterministic=not train)
      out = attend(weights, v)
    return nn.DenseGeneral(self.features, axis=(-2, -1), dtype=self.dtype, name='out')(out)

  def _update_cache(self, k, v, mask):
    """Writes this step's key/value at `cache_index`; returns the whole cache and its causal mask."""
    initialized = self.has_variable('cache', 'cached_key')
    cached_key = self.variable('cache', 'cached_key', jnp.zeros, k.shape, k.dtype)
    cached_value = self.variable('cache', 'cached_value', jnp.zeros, v.shape, v.dtype)
    cache_index = self.variable('cache', 'cache_index', lambda: jnp.array(0, jnp.int32))
    if not initialized:  # `init` with full-length inputs: only the cache's shapes matter.
      return k, v, combine_masks(mask, causal_mask(k.shape[1]))
    if k.shape[1] != 1:
      raise ValueError(f'decode=True takes one token per call, got length {k.shape[1]}')
    index = cache_index.value
    # `_in_dim` takes the one index alone: under JAX_ENABLE_X64 a tuple mixing the int32 index with
    # literal zeros (int64 there) is a TypeError.
    cached_key.value = jax.lax.dynamic_update_slice_in_dim(cached_key.value, k, index, axis=1)
    cached_value.value = jax.lax.dynamic_update_slice_in_dim(cached_value.value, v, index, axis=1)
    cache_index.value = index + 1
    max_len = cached_key.value.shape[1]
    return cached_key.value, cached_value.value, (jnp.arange(max_len) <= index)[None, None, None, :]
