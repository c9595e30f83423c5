"""Parallel-scan recurrences: minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Their gates read x_t only, never h, so the update is LINEAR in the state:

    minGRU:   z = sigmoid(k_z),  h~ = g(k_h)
              h_t = (1 - z) * h_{t-1} + z * h~
    minLSTM:  f = sigmoid(k_f),  i = sigmoid(k_i),  h~ = g(k_h),  f' = f / (f + i),  i' = i / (f + i)
              h_t = f' * h_{t-1} + i' * h~

with [k_z, k_h] (or [k_f, k_i, k_h]) = x_t W + b for all time steps in ONE matmul, and
g(x) = x + 0.5 for x >= 0, sigmoid(x) otherwise (positive, so b_t below has a logarithm).

h_t = a_t * h_{t-1} + b_t for all t runs in one of two forms (`scan_form`: the layer's `scan`,
the registry's `model.minrnn_scan`; 'auto' picks sequential on the CPU, parallel elsewhere):
- parallel (`linear_scan`): a prefix "sum" under the associative operator
  (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2), so `jax.lax.associative_scan` computes it in O(log L)
  depth instead of L sequential steps. As in the paper, the scan runs in log space:
  (log a, log b) pairs compose as (la1 + la2, logaddexp(lb1 + la2, lb2)), which neither
  underflows (products of many a_t < 1) nor overflows; then h_t = A_t h_0 + B_t with
  (log A_t, log B_t) the prefix of pairs 1..t.
- sequential (`sequential_linear_scan`): the step h' = a h + b in a `jax.lax.scan` over time
  (a = exp(log a) in (0, 1], b = exp(log b) >= 0: one multiply-add per position, nothing to
  overflow). On the CPU 1.6-2.4x faster than the log-space scan, forward and backward
  (docs/design.md).
Generation feeds one token at a time: either form over a length of one is the single step
h' = a h + b, with an O(1) state (one `[batch, hidden]` h per layer).

Padding: where `valid` is False, a = 1 and b = 0, so the state is carried unchanged (as in
`recurrent.scan_cell`), and the state at the last position is the one at the true last token.
Initialisation: chrono (`initializers.chrono_bias`) on the gate that keeps the old state.
"""
from typing import Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_jax.models import initializers
from attn_jax.models.dense import Dense
from attn_jax.models.scan_form import choose_scan

# log(0) for the masked b_t: finite, so exp() gives 0 and gradients through logaddexp stay finite.
LOG_ZERO = -1e30


def log_g(x: jax.Array) -> jax.Array:
  """log g(x): log(x + 0.5) for x >= 0, log sigmoid(x) = -softplus(-x) otherwise."""
  return jnp.where(x >= 0, jnp.log(nn.relu(x) + 0.5), -nn.softplus(-x))


def mingru_coefficients(k: jax.Array) -> tuple[jax.Array, jax.Array]:
  """k `[..., 2 * hidden]` (k_z, k_h) -> (log a, log b) `[..., hidden]`: log(1 - z), log(z h~)."""
  k_z, k_h = jnp.split(k, 2, axis=-1)
  return -nn.softplus(k_z), -nn.softplus(-k_z) + log_g(k_h)


def minlstm_coefficients(k: jax.Array) -> tuple[jax.Array, jax.Array]:
  """k `[..., 3 * hidden]` (k_f, k_i, k_h) -> (log a, log b) `[..., hidden]`: log f', log(i' h~).

  With d = log i - log f = softplus(-k_f) - softplus(-k_i): f' = sigmoid(-d), i' = sigmoid(d).
  """
  k_f, k_i, k_h = jnp.split(k, 3, axis=-1)
  d = nn.softplus(-k_f) - nn.softplus(-k_i)
  return -nn.softplus(d), -nn.softplus(-d) + log_g(k_h)


def _compose(earlier, later):
  """(log a, log b) of applying `earlier` then `later`: a = a1 a2, b = a2 b1 + b2."""
  la1, lb1 = earlier
  la2, lb2 = later
  return la1 + la2, jnp.logaddexp(lb1 + la2, lb2)


def linear_scan(log_a: jax.Array, log_b: jax.Array, h0: jax.Array,
                valid: Optional[jax.Array] = None) -> jax.Array:
  """h_t = a_t * h_{t-1} + b_t for every t, by a log-space associative scan over time.

  Args:
    log_a, log_b: `[batch, length, hidden]` (b_t > 0, so log b_t exists).
    h0: `[batch, hidden]` state before the first position (any sign).
    valid: bool `[batch, length]`; where False the state is carried unchanged. None: all valid.
  Returns:
    States `[batch, length, hidden]`; the last one is the final state.
  """
  if valid is not None:
    log_a = jnp.where(valid[..., None], log_a, 0.0)
    log_b = jnp.where(valid[..., None], log_b, LOG_ZERO)
  log_a, log_b = jax.lax.associative_scan(_compose, (log_a, log_b), axis=1)
  return jnp.exp(log_a) * h0[:, None, :] + jnp.exp(log_b)


def sequential_linear_scan(log_a: jax.Array, log_b: jax.Array, h0: jax.Array,
                           valid: Optional[jax.Array] = None) -> jax.Array:
  """`linear_scan`'s result by the step h' = a h + b in a `jax.lax.scan` over time.

  Args and returns as `linear_scan`: log_a, log_b `[batch, length, hidden]`, h0 `[batch,
  hidden]`, valid bool `[batch, length]` or None -> states `[batch, length, hidden]`.
  """
  a, b = jnp.exp(log_a), jnp.exp(log_b)
  if valid is not None:
    a = jnp.where(valid[..., None], a, 1.0)
    b = jnp.where(valid[..., None], b, 0.0)

  def step(h, coefficients):
    h = coefficients[0] * h + coefficients[1]
    return h, h

  time_major = lambda x: jnp.swapaxes(x, 0, 1)
  _, hs = jax.lax.scan(step, h0, (time_major(a), time_major(b)))
  return time_major(hs)


SCAN_FORMS = {'parallel': linear_scan, 'sequential': sequential_linear_scan}


class MinCell(NamedTuple):
  """A parallel-scan cell: its coefficients, gate count and which gates start chrono-biased."""
  coefficients: Callable[[jax.Array], tuple[jax.Array, jax.Array]]
  chrono_signs: tuple[int, ...]  # per gate block: +b, -b or 0 (b = chrono bias)

  @property
  def num_gates(self) -> int:
    return len(self.chrono_signs)

  def zero_carry(self, batch: int, hidden: int, dtype) -> jax.Array:
    return jnp.zeros((batch, hidden), dtype)

  def output(self, carry: jax.Array) -> jax.Array:
    """The hidden state h `[batch, hidden]` of a carry (the carry itself)."""
    return carry

  def bias_init(self, hidden: int):
    """Chrono initialisation: the kept fraction of the old state, (1 - z) or f', starts at
    sigmoid(b) with e^b ~ U[1, T_max - 1] (Tallec & Ollivier 2018); h~'s bias starts at 0."""
    def init(key, shape, dtype=jnp.float32):
      del shape
      b = initializers.chrono_bias(key, (hidden,), dtype)
      return jnp.concatenate([sign * b for sign in self.chrono_signs])
    return init


MIN_CELLS = {
    'mingru': MinCell(mingru_coefficients, (-1, 0)),  # 1 - z = sigmoid(-k_z) = sigmoid(b)
    'minlstm': MinCell(minlstm_coefficients, (1, -1, 0)),  # f' = sigmoid(b) with b_i = -b_f
}


class MinRNNLayer(nn.Module):
  """One direction of one layer: the gate projection (one matmul) then `linear_scan`.

  Same call as `recurrent.RecurrentLayer`, so `recurrent.RecurrentStack` and the classifier, LM and
  seq2seq heads built on it run these cells too.

  Attributes:
    cell: key of `MIN_CELLS`.
    hidden_size: state width.
    scan: the recurrence's form, 'auto', 'parallel' or 'sequential' (`scan_form.choose_scan`,
      resolved while tracing for the default backend).
  """
  cell: str
  hidden_size: int
  dtype: jnp.dtype = jnp.float32
  scan: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, carry: Optional[jax.Array] = None,
               valid: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
    """x `[batch, length, features]` -> (final state `[batch, hidden]`, states
    `[batch, length, hidden]`). The scan runs in float32 (or wider) whatever `dtype` is."""
    cell = MIN_CELLS[self.cell]
    k = Dense(cell.num_gates * self.hidden_size, dtype=self.dtype,
              bias_init=cell.bias_init(self.hidden_size), name='input')(x)
    scan_dtype = jnp.promote_types(k.dtype, jnp.float32)
    log_a, log_b = cell.coefficients(k.astype(scan_dtype))
    if carry is None:
      carry = cell.zero_carry(x.shape[0], self.hidden_size, self.dtype)
    scan = SCAN_FORMS[choose_scan(self.scan, jax.default_backend())]
    hs = scan(log_a, log_b, carry.astype(scan_dtype), valid).astype(self.dtype)
    return hs[:, -1], hs
