"""A selective state-space model: Mamba (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with
Selective State Spaces").

One Mamba block (the paper's figure 3) maps `[batch, length, d_model]` to the same shape:

    x, z    = split(u W_in)                          two `[.., d_inner]` halves, d_inner = expand d_model
    x       = silu(causal_conv(x))                   depthwise, `conv_width` taps over the past
    dt, B, C = split(x W_x)                          dt `[.., dt_rank]`, B and C `[.., N]`: the selection
    Delta   = softplus(dt W_dt + b_dt)               `[.., d_inner]`, a step size per channel
    h_t     = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t   per channel d: h `[d_inner, N]`, A diagonal < 0
    y_t     = C_t h_t + D x_t
    out     = (y * silu(z)) W_out

and the model stacks residual blocks u + Block(RMSNorm(u)) with a final RMSNorm (the reference
implementation's `MambaLMHeadModel`). The discretisation is the reference's (its
`selective_scan_ref`): zero-order hold for A, exp(Delta A), and Euler for B, Delta B.

The recurrence runs in one of two forms (`MambaConfig.scan`, the registry's `model.ssm_scan`):
- parallel (`selective_scan`): the recurrence is linear in h with input-dependent coefficients,
  so, as for minGRU (`minrnn.py`), h_t = a_t h_{t-1} + b_t for every t is a prefix "sum" under
  the associative (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2), computed by
  `jax.lax.associative_scan` in O(log L) depth: the form for accelerators. It forms the
  coefficients `[batch, length, d_inner, N]` and several arrays of that size at each of its
  levels. It runs in linear space, not log space: a_t may be negative (the signed range below)
  and b_t has any sign; products of many a_t underflow to 0, which is their value.
- sequential (`sequential_scan`): the reference's fused recurrence, a `jax.lax.scan` over time
  of `selective_step` (discretise, update h, read y_t out), carrying only h `[batch, d_inner,
  N]`: L steps deep, but on the CPU several times faster than the parallel form.
The default, 'auto', picks by platform (`scan_form.choose_scan`): sequential on the CPU, parallel
elsewhere.
Generation runs the same form one token at a time from a carried state: h `[batch, d_inner, N]`
and the convolution's window, the last `conv_width - 1` inputs `[batch, conv_width - 1,
d_inner]` (`State`), per layer; its size grows with the width, never with the length
(`carried_values`).

Eigenvalue range (`eigenvalues`): 'positive' is Mamba's a = exp(Delta A) in (0, 1]; 'signed'
maps it to 2a - 1 in (-1, 1] (Grazzi et al. 2025, "Unlocking State-Tracking in Linear RNNs
Through Negative Eigenvalues"), which they prove a diagonal linear RNN needs to solve parity.

Initialisation, as the reference (`mamba_ssm/modules/mamba_simple.py` and `_init_weights` of
`models/mixer_seq_simple.py`): A_n = -(n + 1), n = 0..N-1, for every channel (S4D-real; A is
stored as log(-A) so that it stays negative); softplus(b_dt) = dt ~ log-uniform on
[1e-3, 1e-1] (floored at 1e-4); D = 1; the projections' and the convolution's weights
U(+-1/sqrt(fan_in)) (PyTorch's default, which also gives W_dt its U(+-dt_rank^-0.5)), the output
projection's divided by sqrt(num_layers); no biases on the projections; token embeddings
N(0, 0.02).

Always causal (the convolution and the scan read the past only), so it takes no mask: right
padding (PAD after the last token, docs/design.md §3.4) only reaches positions after it, and a
classifier pools the valid positions (mean, or the last).
"""
import dataclasses
import functools
import math
from typing import Any, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_jax.models.dense import Dense
from attn_jax.models.scan_form import choose_scan
from attn_jax.models.embedding import InputEmbedding, token_valid
from attn_jax.models.transformer import TokenOutput, pool

EIGENVALUE_RANGES = ('positive', 'signed')  # a in (0, 1] (Mamba), 2a - 1 in (-1, 1] (Grazzi)
POOLINGS = ('mean', 'last')
DT_MIN, DT_MAX, DT_FLOOR = 1e-3, 1e-1, 1e-4  # the reference's dt_min, dt_max, dt_init_floor
NORM_EPS = 1e-5  # the reference's RMSNorm epsilon
EMBED_STD = 0.02  # the reference's token embedding initialisation
# PyTorch's nn.Linear / nn.Conv1d weight initialisation: U(+-1/sqrt(fan_in)).
TORCH_DEFAULT_INIT = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')


class State(NamedTuple):
  """One layer's carried state: the convolution's window `[batch, conv_width - 1, d_inner]` (the
  last inputs to the convolution, zeros before the first) and h `[batch, d_inner, N]`."""
  conv: jax.Array
  ssm: jax.Array


@dataclasses.dataclass(frozen=True)
class MambaConfig:
  """Hyperparameters of every Mamba module.

  Attributes:
    hidden_size: d_model, the width of the residual stream.
    num_layers: blocks.
    state_size: N, the state per channel.
    expand: d_inner = expand * hidden_size channels inside a block.
    conv_width: taps of the causal depthwise convolution.
    eigenvalues: 'positive' (Mamba) or 'signed' (Grazzi et al. 2025): see the module docstring.
    scan: the form of the recurrence, 'parallel', 'sequential' or 'auto' (`choose_scan`).
    dtype: computation dtype of the projections; params float32, the scan float32 (or wider).
  """
  hidden_size: int = 64
  num_layers: int = 2
  state_size: int = 16
  expand: int = 2
  conv_width: int = 4
  eigenvalues: str = 'positive'
  scan: str = 'auto'
  dtype: Any = jnp.float32

  @property
  def inner_size(self) -> int:
    return self.expand * self.hidden_size

  @property
  def dt_rank(self) -> int:
    """The rank of the Delta projection: ceil(d_model / 16), the reference's 'auto'."""
    return math.ceil(self.hidden_size / 16)


def carried_values(config: MambaConfig) -> int:
  """Values carried per sequence between generated tokens: per layer h (d_inner x N) and the
  convolution's window (d_inner x (conv_width - 1)), whatever the length."""
  return config.num_layers * config.inner_size * (config.state_size + config.conv_width - 1)


def zero_state(batch: int, config: MambaConfig, dtype=jnp.float32) -> State:
  """One layer's state before the first position."""
  d = config.inner_size
  return State(jnp.zeros((batch, config.conv_width - 1, d), config.dtype),
               jnp.zeros((batch, d, config.state_size), dtype))


# --------------------------------------------------------------------------------------------
# The math: pure functions.


def _with_leading_axes(v: jax.Array, ndim: int) -> jax.Array:
  """`v` with axes of size 1 in front, up to `ndim` axes (explicit broadcasting)."""
  return v.reshape((1,) * (ndim - v.ndim) + v.shape)


def causal_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array,
                window: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Depthwise causal convolution: y_t = sum_k kernel[k] x_{t - (width - 1) + k} + bias, summed
  over the taps as written (a few shifted products; XLA's grouped `conv_general_dilated` was
  10-16x slower on the CPU, forward and backward: experiments/results/mamba/README.md).

  Args:
    x: `[batch, length, channels]`.
    kernel: `[width, channels]`, one filter per channel (PyTorch's Conv1d(groups=channels)).
    bias: `[channels]`.
    window: `[batch, width - 1, channels]`, the inputs just before x (zeros at the start).
  Returns:
    (y `[batch, length, channels]`, the window after x: its last `width - 1` inputs).
  """
  length = x.shape[1]
  padded = jnp.concatenate([window.astype(x.dtype), x], axis=1)
  taps = [_with_leading_axes(tap.astype(x.dtype), x.ndim) for tap in kernel]
  y = sum(tap * padded[:, k:k + length] for k, tap in enumerate(taps))
  return y + _with_leading_axes(bias.astype(x.dtype), y.ndim), padded[:, length:]


def discretise(delta: jax.Array, a: jax.Array, b: jax.Array, x: jax.Array,
               eigenvalues: str = 'positive') -> tuple[jax.Array, jax.Array]:
  """The recurrence's coefficients: transition exp(Delta A) (or 2 exp(Delta A) - 1, 'signed')
  and input Delta B x, for any leading axes `...` (`[batch, length]` or `[batch]`).

  Args:
    delta: `[..., d_inner]` step sizes (> 0).
    a: `[d_inner, N]` the diagonal of A (< 0).
    b: `[..., N]`.
    x: `[..., d_inner]`.
    eigenvalues: 'positive' or 'signed'.
  Returns:
    (transition, input), each `[..., d_inner, N]`.
  """
  transition = jnp.exp(delta[..., None] * _with_leading_axes(a, delta.ndim + 1))
  if eigenvalues == 'signed':
    transition = 2 * transition - 1
  return transition, (delta * x)[..., None] * b[..., None, :]


def readout(h: jax.Array, c: jax.Array, x: jax.Array, d: jax.Array) -> jax.Array:
  """y = C h + D x: h `[..., d_inner, N]`, c `[..., N]`, x `[..., d_inner]`, d `[d_inner]` ->
  `[..., d_inner]`."""
  return jnp.einsum('...dn,...n->...d', h, c) + _with_leading_axes(d, x.ndim) * x


def _compose(earlier, later):
  """(a, b) of applying `earlier` then `later`: a = a1 a2, b = a2 b1 + b2."""
  a1, b1 = earlier
  a2, b2 = later
  return a1 * a2, a2 * b1 + b2


def selective_scan(x: jax.Array, delta: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array,
                   d: jax.Array, h0: jax.Array,
                   eigenvalues: str = 'positive') -> tuple[jax.Array, jax.Array]:
  """The parallel form: h_t = a_t h_{t-1} + b_t for every t by an associative scan over time
  (a_t, b_t from `discretise`), then y_t = C_t h_t + D x_t.

  Args:
    x, delta: `[batch, length, d_inner]`.
    a: `[d_inner, N]`; d: `[d_inner]`.
    b, c: `[batch, length, N]`.
    h0: `[batch, d_inner, N]` the state before the first position.
    eigenvalues: 'positive' or 'signed'.
  Returns:
    (y `[batch, length, d_inner]`, the state after the last position `[batch, d_inner, N]`).
  """
  transition, inputs = discretise(delta, a, b, x, eigenvalues)
  cumulative, summed = jax.lax.associative_scan(_compose, (transition, inputs), axis=1)
  h = cumulative * h0[:, None] + summed
  return readout(h, c, x, d), h[:, -1]


def selective_step(h: jax.Array, x: jax.Array, delta: jax.Array, b: jax.Array, c: jax.Array,
                   a: jax.Array, d: jax.Array,
                   eigenvalues: str = 'positive') -> tuple[jax.Array, jax.Array]:
  """One position of the recurrence (the sequential form's step): h' = a h + b, y = C h' + D x.

  Args:
    h: `[batch, d_inner, N]`.
    x, delta: `[batch, d_inner]`; b, c: `[batch, N]`.
    a: `[d_inner, N]`; d: `[d_inner]`.
    eigenvalues: 'positive' or 'signed'.
  Returns:
    (h' `[batch, d_inner, N]`, y `[batch, d_inner]`).
  """
  transition, inputs = discretise(delta, a, b, x, eigenvalues)
  h = transition * h + inputs
  return h, readout(h, c, x, d)


def sequential_scan(x: jax.Array, delta: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array,
                    d: jax.Array, h0: jax.Array,
                    eigenvalues: str = 'positive') -> tuple[jax.Array, jax.Array]:
  """The sequential form, fused as the reference computes it: a `jax.lax.scan` over time of
  `selective_step`, which discretises, updates h and reads y_t out at each position, so only h
  `[batch, d_inner, N]` is carried and the forward pass forms nothing of size
  length x d_inner x N. The step is checkpointed: the backward pass keeps each position's h
  (`[length, batch, d_inner, N]` in all) and recomputes the rest of the step, where it would
  otherwise store three such arrays (on the CPU that is also faster: experiments/results/mamba/).

  Arguments and results as `selective_scan`: x, delta `[batch, length, d_inner]`, a `[d_inner, N]`,
  b, c `[batch, length, N]`, d `[d_inner]`, h0 `[batch, d_inner, N]` -> (y `[batch, length,
  d_inner]`, the state after the last position `[batch, d_inner, N]`).
  """
  step = jax.checkpoint(lambda h, inputs: selective_step(h, *inputs, a, d, eigenvalues))
  time_major = lambda v: jnp.swapaxes(v, 0, 1)
  h, ys = jax.lax.scan(step, h0, tuple(map(time_major, (x, delta, b, c))))
  return time_major(ys), h


SCAN_FORMS = {'parallel': selective_scan, 'sequential': sequential_scan}


# --------------------------------------------------------------------------------------------
# Initialisers (the reference's, see the module docstring).


def s4d_real_log_a(key, shape, dtype=jnp.float32) -> jax.Array:
  """log(-A) `[d_inner, N]` with A_n = -(n + 1) in every channel (S4D-real)."""
  del key
  return jnp.broadcast_to(jnp.log(jnp.arange(1, shape[1] + 1, dtype=dtype)), shape)


def dt_bias_init(key, shape, dtype=jnp.float32) -> jax.Array:
  """b_dt `[d_inner]` with softplus(b_dt) = dt, log(dt) ~ U[log DT_MIN, log DT_MAX], dt >= DT_FLOOR
  (the inverse softplus: dt + log(1 - exp(-dt)))."""
  log_dt = jax.random.uniform(key, shape, jnp.float32, math.log(DT_MIN), math.log(DT_MAX))
  dt = jnp.maximum(jnp.exp(log_dt), DT_FLOOR)
  return (dt + jnp.log(-jnp.expm1(-dt))).astype(dtype)


def conv_bias_init(key, shape, dtype=jnp.float32, *, width: int) -> jax.Array:
  """PyTorch's Conv1d bias: U(+-1/sqrt(fan_in)), fan_in = width for a depthwise filter."""
  bound = 1 / math.sqrt(width)
  return jax.random.uniform(key, shape, dtype, -bound, bound)


# --------------------------------------------------------------------------------------------
# Modules.


class MambaMixer(nn.Module):
  """The Mamba block's mixer (the module docstring's equations): `[batch, length, d_model]` ->
  `[batch, length, d_model]`.

  It runs the recurrence in the form `choose_scan` picks for `config.scan` and the default
  backend (resolved while tracing: a jitted function compiles one form), from the zero state
  when called without one (training) or continuing from the given state (generation, usually one
  position per call), and also returns the state after the last position.
  """
  config: MambaConfig

  @nn.compact
  def __call__(self, u: jax.Array, state: Optional[State] = None) -> tuple[jax.Array, State]:
    cfg = self.config
    inner, n = cfg.inner_size, cfg.state_size
    scan_dtype = jnp.promote_types(cfg.dtype, jnp.float32)
    dense = lambda features, name, init=TORCH_DEFAULT_INIT, bias_init=None: Dense(
        features, use_bias=bias_init is not None, kernel_init=init,
        bias_init=bias_init or nn.initializers.zeros, dtype=cfg.dtype, name=name)
    x, z = jnp.split(dense(2 * inner, 'in_proj')(u), 2, axis=-1)
    kernel = self.param('conv_kernel', TORCH_DEFAULT_INIT, (cfg.conv_width, inner))
    conv_bias = self.param('conv_bias', functools.partial(conv_bias_init, width=cfg.conv_width),
                           (inner,))
    if state is None:
      state = zero_state(u.shape[0], cfg, scan_dtype)
    x, window = causal_conv(x, kernel, conv_bias, state.conv)
    x = nn.silu(x)
    dt, b, c = jnp.split(dense(cfg.dt_rank + 2 * n, 'x_proj')(x),
                         [cfg.dt_rank, cfg.dt_rank + n], axis=-1)
    delta = nn.softplus(dense(inner, 'dt_proj', bias_init=dt_bias_init)(dt).astype(scan_dtype))
    a = -jnp.exp(self.param('log_a', s4d_real_log_a, (inner, n)))
    d = self.param('d', nn.initializers.ones, (inner,))
    x, b, c = (v.astype(scan_dtype) for v in (x, b, c))
    scan = SCAN_FORMS[choose_scan(cfg.scan, jax.default_backend())]
    y, h = scan(x, delta, a, b, c, d, state.ssm, cfg.eigenvalues)
    y = y.astype(cfg.dtype) * nn.silu(z)
    out_init = nn.initializers.variance_scaling(1 / (3 * max(cfg.num_layers, 1)), 'fan_in',
                                                'uniform')
    return dense(u.shape[-1], 'out_proj', out_init)(y), State(window, h.astype(state.ssm.dtype))


class MambaBlock(nn.Module):
  """A residual block: u + MambaMixer(RMSNorm(u)), `[batch, length, d_model]` -> same, and the
  mixer's state after the last position."""
  config: MambaConfig

  @nn.compact
  def __call__(self, u: jax.Array, state: Optional[State] = None) -> tuple[jax.Array, State]:
    normed = nn.RMSNorm(epsilon=NORM_EPS, dtype=self.config.dtype, name='norm')(u)
    y, state = MambaMixer(self.config, name='mixer')(normed, state)
    return u + y, state


class MambaStack(nn.Module):
  """Embedded inputs `[batch, length, d_model]` -> `num_layers` blocks -> final RMSNorm, and each
  layer's state after the last position (from `states`, one per layer, or zeros if None)."""
  config: MambaConfig

  @nn.compact
  def __call__(self, x: jax.Array, states: Optional[list] = None) -> tuple[jax.Array, list]:
    states = [None] * self.config.num_layers if states is None else states
    finals = []
    for layer, state in enumerate(states):
      x, state = MambaBlock(self.config, name=f'block_{layer}')(x, state)
      finals.append(state)
    return nn.RMSNorm(epsilon=NORM_EPS, dtype=self.config.dtype, name='final_norm')(x), finals


class MambaLM(nn.Module):
  """Next-token language model: tokens `[batch, length]` -> float32 logits `[batch, length,
  vocab]`, causal by construction (right padding needs no mask).

  Generation carries each layer's `State`: `carry = apply(v, batch, method='init_carry')`, then
  `carry, logits = apply(v, carry, tokens, method='step')` for one token `[batch]` at a time
  (`decoding.lm_stepper`).
  """
  config: MambaConfig
  vocab_size: int
  tie_embeddings: bool = True

  def setup(self):
    self.embed = nn.Embed(self.vocab_size, self.config.hidden_size, dtype=self.config.dtype,
                          embedding_init=nn.initializers.normal(EMBED_STD))
    self.stack = MambaStack(self.config)
    self.output = TokenOutput(self.vocab_size, self.tie_embeddings, self.config.dtype)

  def _run(self, tokens: jax.Array, states: Optional[list]) -> tuple[jax.Array, list]:
    """tokens `[batch, length]` -> (float32 logits `[batch, length, vocab]`, final states)."""
    embedded = self.perturb('embedded', self.embed(tokens))  # see embedding.InputEmbedding
    y, states = self.stack(embedded, states)
    return self.output(y, self.embed), states

  def __call__(self, inputs: jax.Array, train: bool = False) -> jax.Array:
    """inputs `[batch, length]` -> float32 logits `[batch, length, vocab]` (no dropout: `train`
    changes nothing)."""
    del train
    return self._run(inputs, None)[0]

  def init_carry(self, batch_size: int) -> list:
    """The zero state: one `State` per layer."""
    return [zero_state(batch_size, self.config) for _ in range(self.config.num_layers)]

  def step(self, carry: list, tokens: jax.Array) -> tuple[list, jax.Array]:
    """One token per example `[batch]` -> (next carry, float32 logits `[batch, vocab]`)."""
    logits, carry = self._run(tokens[:, None], carry)
    return carry, logits[:, 0]


class MambaClassifier(nn.Module):
  """Sequence classifier/regressor: tokens `[batch, length]` (vocab_size > 0) or floats
  `[batch, length, input_dim]` -> the stack -> pooled over the valid positions ('mean' or 'last')
  -> Dense: float32 logits `[batch, num_classes]`. Padding is excluded: the stack is causal and
  the pooling reads valid positions only."""
  config: MambaConfig
  num_classes: int
  vocab_size: int
  pooling: str = 'mean'

  @nn.compact
  def __call__(self, inputs: jax.Array, train: bool = False) -> jax.Array:
    del train  # no dropout
    cfg = self.config
    x = InputEmbedding(self.vocab_size, cfg.hidden_size, cfg.dtype,
                       embedding_init=nn.initializers.normal(EMBED_STD))(inputs)
    valid = token_valid(inputs) if self.vocab_size else jnp.ones(x.shape[:2], bool)
    y, _ = MambaStack(cfg)(x)
    pooled = pool(y, valid, self.pooling)
    return Dense(self.num_classes, dtype=cfg.dtype, name='head')(pooled).astype(jnp.float32)
