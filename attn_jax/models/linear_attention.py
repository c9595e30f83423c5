"""Causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs").

Softmax attention's similarity exp(q.k / sqrt(d)) is replaced by a kernel phi(q).phi(k), with the
paper's feature map (its eq. 7)

    phi(x) = elu(x) + 1        (elementwise; positive, so the normaliser below is never 0)

Then position i's output, over the positions j <= i (causal), is

    y_i = sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j)
        = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps),   S_i = sum_{j<=i} phi(k_j) v_j^T,
                                                     z_i = sum_{j<=i} phi(k_j)

per head, so the model is an RNN whose state is S `[heads, d_k, d_v]` and the normaliser z
`[heads, d_k]`: it grows with the width, never with the length. Two forms compute it:

* parallel, for training (`causal_linear_attention`): CHUNKED. The length is cut into chunks of
  `chunk_size`; inside a chunk the masked quadratic form `(phi(Q) phi(K)^T * causal) V` (and the
  same row sums for the normaliser), plus the contribution of every earlier chunk through the
  state before the chunk, an exclusive prefix sum of the chunks' phi(K)^T V. Memory is
  O(L * chunk_size) for the intra-chunk scores and O(L / chunk_size * d_k * d_v) for the states:
  linear in L, where the unchunked quadratic form holds an L x L array. A sequence no longer than
  one chunk is exactly the quadratic form.
* recurrent, for generation (`recurrent_step`, `recurrent_scan`):
  S_t = S_{t-1} + phi(k_t) v_t^T,  z_t = z_{t-1} + phi(k_t),  y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t
  + eps).

Both accumulate in the wider of float32 and the input dtype (sums of many positive terms).

Always causal, so it takes no mask: right padding (PAD after the last token, docs/design.md §3.4)
only reaches positions after it, and a classifier pools the valid positions only (mean or last).
"""
from typing import NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_jax.models.dense import DenseGeneral

CHUNK_SIZE = 64  # positions per chunk of the parallel form
EPS = 1e-6  # added to the normaliser (the paper's implementation)


class State(NamedTuple):
  """The recurrent state: kv = S `[batch, heads, d_k, d_v]`, normaliser = z `[batch, heads, d_k]`."""
  kv: jax.Array
  normaliser: jax.Array


def feature_map(x: jax.Array) -> jax.Array:
  """phi(x) = elu(x) + 1 (> 0), elementwise, any shape."""
  return jax.nn.elu(x) + 1


def accumulation_dtype(dtype) -> jnp.dtype:
  """The wider of float32 and `dtype`: the dtype of the sums and the state."""
  return jnp.promote_types(jnp.float32, dtype)


def zero_state(batch: int, heads: int, d_k: int, d_v: int, dtype=jnp.float32) -> State:
  """The state before the first position (S = 0, z = 0)."""
  return State(jnp.zeros((batch, heads, d_k, d_v), dtype), jnp.zeros((batch, heads, d_k), dtype))


def _exclusive_cumsum(x: jax.Array, axis: int) -> jax.Array:
  """Sums of the entries strictly before each index along `axis` (0 at the first)."""
  total = jnp.cumsum(x, axis=axis)
  return jnp.concatenate([jnp.zeros_like(jax.lax.slice_in_dim(total, 0, 1, axis=axis)),
                          jax.lax.slice_in_dim(total, 0, x.shape[axis] - 1, axis=axis)], axis=axis)


def causal_linear_attention(q: jax.Array, k: jax.Array, v: jax.Array, *,
                            chunk_size: int = CHUNK_SIZE, eps: float = EPS) -> jax.Array:
  """The chunked parallel form: every position's y_i at once (see the module docstring).

  Args:
    q, k: `[batch, length, heads, d_k]` queries and keys (before the feature map).
    v: `[batch, length, heads, d_v]`.
    chunk_size: positions per chunk (a shorter sequence is one chunk).
    eps: added to the normaliser.
  Returns:
    `[batch, length, heads, d_v]` in `accumulation_dtype(q.dtype)`.
  """
  dtype = accumulation_dtype(q.dtype)
  batch, length, heads, _ = q.shape
  size = min(chunk_size, length)
  chunks = -(-length // size)

  def to_chunks(x):  # [batch, length, heads, d] -> [batch, heads, chunks, size, d]
    x = jnp.pad(x.astype(dtype), ((0, 0), (0, chunks * size - length), (0, 0), (0, 0)))
    return jnp.swapaxes(x, 1, 2).reshape(batch, heads, chunks, size, x.shape[-1])

  # Heads-major: every product below batches over the leading (batch, heads, chunks) axes, so
  # the inputs are transposed once, not around every product (forward + backward of this
  # function 8-13% faster than token-major at L = 128 and 512 on the shared 2-core CPU).
  # Padding sits after every real position, so causality keeps it out of their outputs.
  phi_q, phi_k, v = to_chunks(feature_map(q)), to_chunks(feature_map(k)), to_chunks(v)
  kv_before = _exclusive_cumsum(jnp.einsum('bhnck,bhncv->bhnkv', phi_k, v), axis=2)
  k_before = _exclusive_cumsum(phi_k.sum(axis=3), axis=2)  # [batch, heads, chunks, d_k]
  causal = jnp.tril(jnp.ones((size, size), bool))[None, None, None]  # [1, 1, 1, q, c]
  scores = jnp.where(causal, jnp.einsum('bhnqk,bhnck->bhnqc', phi_q, phi_k), 0)
  numerator = (jnp.einsum('bhnqc,bhncv->bhnqv', scores, v)
               + jnp.einsum('bhnqk,bhnkv->bhnqv', phi_q, kv_before))
  normaliser = scores.sum(axis=-1) + jnp.einsum('bhnqk,bhnk->bhnq', phi_q, k_before)
  y = numerator / (normaliser[..., None] + eps)  # [batch, heads, chunks, size, d_v]
  return jnp.swapaxes(y.reshape(batch, heads, chunks * size, -1), 1, 2)[:, :length]


def recurrent_step(state: State, q: jax.Array, k: jax.Array, v: jax.Array, *,
                   eps: float = EPS) -> tuple[State, jax.Array]:
  """One position: S += phi(k) v^T, z += phi(k), y = phi(q)^T S / (phi(q)^T z + eps).

  Args:
    state: S `[batch, heads, d_k, d_v]`, z `[batch, heads, d_k]`.
    q, k: `[batch, heads, d_k]`; v: `[batch, heads, d_v]`.
  Returns:
    (the new state, y `[batch, heads, d_v]`), in the state's dtype.
  """
  phi_q, phi_k = feature_map(q).astype(state.kv.dtype), feature_map(k).astype(state.kv.dtype)
  kv = state.kv + phi_k[..., :, None] * v.astype(state.kv.dtype)[..., None, :]
  normaliser = state.normaliser + phi_k
  y = (jnp.einsum('bhk,bhkv->bhv', phi_q, kv)
       / (jnp.einsum('bhk,bhk->bh', phi_q, normaliser)[..., None] + eps))
  return State(kv, normaliser), y


def recurrent_scan(q: jax.Array, k: jax.Array, v: jax.Array, state: Optional[State] = None, *,
                   eps: float = EPS) -> tuple[State, jax.Array]:
  """`recurrent_step` over the length, one position after another (`jax.lax.scan`).

  Args:
    q, k: `[batch, length, heads, d_k]`; v: `[batch, length, heads, d_v]`.
    state: the state before the first position; None: zeros in `accumulation_dtype(q.dtype)`.
  Returns:
    (the state after the last position, y `[batch, length, heads, d_v]`).
  """
  if state is None:
    state = zero_state(q.shape[0], q.shape[2], q.shape[3], v.shape[3],
                       accumulation_dtype(q.dtype))
  time_major = lambda x: jnp.swapaxes(x, 0, 1)
  step = lambda state, qkv: recurrent_step(state, *qkv, eps=eps)
  state, ys = jax.lax.scan(step, state, (time_major(q), time_major(k), time_major(v)))
  return state, time_major(ys)


class LinearAttention(nn.Module):
  """Multi-head causal linear self-attention with q/k/v/out projections.

  Training (decode=False) runs the chunked parallel form. With decode=True it runs the recurrent
  form from the state in the 'cache' collection (`kv` `[batch, heads, d_k, d_v]`, `normaliser`
  `[batch, heads, d_k]`, d_k = d_v = features / num_heads) and writes the state after the inputs
  back: any number of tokens per call (one, when generating), continuing where the last call
  stopped. A call without a cache (`init`) starts from zero; `transformer.init_cache` makes a
  zero cache of the right shapes.

  Attributes:
    num_heads: heads; `features` must be divisible by it.
    features: model width (every projection is `features -> features`).
    chunk_size: positions per chunk of the parallel form.
    dtype: computation dtype of the projections; params are float32, sums and state float32
      (or wider).
  """
  num_heads: int
  features: int
  chunk_size: int = CHUNK_SIZE
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, inputs: jax.Array, decode: bool = False) -> jax.Array:
    """`[batch, length, features]` -> `[batch, length, features]`; output i reads inputs <= i."""
    if self.features % self.num_heads:
      raise ValueError(f'features {self.features} not divisible by num_heads {self.num_heads}')
    head_dim = self.features // self.num_heads
    dense = lambda name: DenseGeneral((self.num_heads, head_dim), dtype=self.dtype, name=name)
    q, k, v = dense('query')(inputs), dense('key')(inputs), dense('value')(inputs)
    if decode:
      y = self._recurrent(q, k, v)
    else:
      y = causal_linear_attention(q, k, v, chunk_size=self.chunk_size)
    return DenseGeneral(self.features, axis=(-2, -1), dtype=self.dtype, name='out')(
        y.astype(self.dtype))

  def _recurrent(self, q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """`recurrent_scan` from the cached state, which it updates; returns y `[batch, length,
    heads, d_v]`."""
    batch, _, heads, d_k = q.shape
    dtype = accumulation_dtype(q.dtype)
    kv = self.variable('cache', 'kv', jnp.zeros, (batch, heads, d_k, v.shape[-1]), dtype)
    normaliser = self.variable('cache', 'normaliser', jnp.zeros, (batch, heads, d_k), dtype)
    state, y = recurrent_scan(q, k, v, State(kv.value, normaliser.value))
    kv.value, normaliser.value = state
    return y
