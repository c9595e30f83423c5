"""Recurrent networks: step functions (Elman RNN, LSTM, GRU), the scan that turns a step into a
layer, stacked/bidirectional padding-aware layers, and the heads (classifier, LM, seq2seq).

Every step takes `xw_t = x_t W_x + b` (the input projection, computed for all time steps by ONE
matmul outside the scan) and does ONE matmul `h W_h` with `W_h` `[hidden, gates * hidden]`:

    Elman:  h' = tanh(xw + h W_h)
    LSTM:   i, f, g, o = split(xw + h W_h)
            c' = sigmoid(f) * c + sigmoid(i) * tanh(g);   h' = sigmoid(o) * tanh(c')
    GRU:    r, z, n = split(xw),  hr, hz, hn = split(h W_h)
            r = sigmoid(r + hr);  z = sigmoid(z + hz);  n = tanh(n + r * hn)
            h' = (1 - z) * n + z * h

Padding: with per-example lengths, the state stops changing past an example's last token, so the
final state is the one at the true last token. The backward direction of a bidirectional layer
runs over each sequence reversed within its length, so it starts at the true last token.

The stack and the heads also run the parallel-scan cells `mingru` and `minlstm` (`minrnn.py`).
"""
import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_jax.models import attention, initializers, minrnn
from attn_jax.models.dense import Dense, over_flat_batch
from attn_jax.models.embedding import InputEmbedding, token_lengths, token_valid

Carry = Any  # one layer's state: h `[batch, hidden]`, or (c, h) for the LSTM


def elman_step(h: jax.Array, xw_t: jax.Array, w_h: jax.Array) -> jax.Array:
  """h `[batch, hidden]`, xw_t `[batch, hidden]`, w_h `[hidden, hidden]` -> h'."""
  return jnp.tanh(xw_t + h @ w_h)


def lstm_step(carry: tuple[jax.Array, jax.Array], xw_t: jax.Array, w_h: jax.Array):
  """carry (c, h) `[batch, hidden]` each, xw_t `[batch, 4*hidden]` (i, f, g, o), w_h `[hidden, 4*hidden]`."""
  c, h = carry
  i, f, g, o = lstm_gates(xw_t + h @ w_h)
  c = f * c + i * g
  return c, o * jnp.tanh(c)


def lstm_gates(z: jax.Array) -> list[jax.Array]:
  """Pre-activations `[batch, 4*hidden]` (i, f, g, o) -> sigmoid(i), sigmoid(f), tanh(g),
  sigmoid(o), each `[batch, hidden]`, from ONE sigmoid over all four: tanh(x) = 2 sigmoid(2x) - 1.

  Four activations of the split blocks compiled to two loop kernels per step that both
  recomputed the gates. In the study's LSTM shapes (2 layers, widths 76 and 39, batch 64 and 16,
  L = 16-256, a 2-core Xeon) one sigmoid takes 0.51-0.58 of the time of the forward pass, 0.94-0.99
  of the train step and 1.02-1.17 of a one-token decode step (0.28 ms against 0.25 at width 76;
  experiments/results/benchmark_cpu/lstm_one_sigmoid_probe.py)."""
  hidden = z.shape[-1] // 4
  is_g = jnp.arange(4 * hidden) // hidden == 2
  s = nn.sigmoid(jnp.where(is_g, 2 * z, z))
  return jnp.split(jnp.where(is_g, 2 * s - 1, s), 4, axis=-1)


def gru_step(h: jax.Array, xw_t: jax.Array, w_h: jax.Array) -> jax.Array:
  """h `[batch, hidden]`, xw_t `[batch, 3*hidden]` (r, z, n), w_h `[hidden, 3*hidden]` -> h'."""
  xr, xz, xn = jnp.split(xw_t, 3, axis=-1)
  hr, hz, hn = jnp.split(h @ w_h, 3, axis=-1)
  r = nn.sigmoid(xr + hr)
  z = nn.sigmoid(xz + hz)
  n = jnp.tanh(xn + r * hn)
  return (1 - z) * n + z * h


class Cell(NamedTuple):
  """What the scan needs to know about a step function."""
  step: Callable[[Carry, jax.Array, jax.Array], Carry]
  num_gates: int  # the input projection and W_h have num_gates * hidden columns
  is_lstm: bool

  def zero_carry(self, batch: int, hidden: int, dtype) -> Carry:
    h = jnp.zeros((batch, hidden), dtype)
    return (h, h) if self.is_lstm else h

  def output(self, carry: Carry) -> jax.Array:
    """The hidden state h `[batch, hidden]` of a carry."""
    return carry[1] if self.is_lstm else carry

  def bias_init(self, hidden: int):
    """Input-projection bias: zeros, except the gate that keeps the old state, so the cell
    carries its state from the start: the LSTM forget gate at 1 (Gers et al. 2000; Jozefowicz
    et al. 2015), the GRU update gate z (h' = (1 - z) n + z h) chrono-initialised, b_z =
    log(U[1, T_max - 1]) > 0 (Tallec & Ollivier 2018; see `initializers`). The Elman RNN has no
    gate: its orthogonal W_h (`_recurrent_init`) keeps the norm of the state (Saxe et al. 2014)."""
    def init(key, shape, dtype=jnp.float32):
      bias = jnp.zeros(shape, dtype)
      if self.is_lstm:
        return bias.at[hidden:2 * hidden].set(1.0)
      if self.step is gru_step:
        return bias.at[hidden:2 * hidden].set(initializers.chrono_bias(key, (hidden,), dtype))
      return bias
    return init


CELLS = {
    'rnn': Cell(elman_step, 1, False),
    'lstm': Cell(lstm_step, 4, True),
    'gru': Cell(gru_step, 3, False),
}
# Every cell `RecurrentStack` (and the heads on it) runs: the step cells above, scanned step by
# step by `RecurrentLayer`, and the parallel-scan cells of `minrnn` (`minrnn.MinRNNLayer`).
STACKED_CELLS = {**CELLS, **minrnn.MIN_CELLS}


def scan_cell(cell: Cell, w_h: jax.Array, xw: jax.Array, carry: Carry,
              valid: Optional[jax.Array] = None) -> tuple[Carry, jax.Array]:
  """Runs `cell.step` over time with `jax.lax.scan` (one compiled step for any length).

  Args:
    cell: the step function and its carry layout.
    w_h: `[hidden, gates * hidden]`.
    xw: `[batch, length, gates * hidden]` input projections.
    carry: initial state.
    valid: bool `[batch, length]`; where False the state is carried unchanged. None: all valid.
  Returns:
    (final carry, hidden states `[batch, length, hidden]`).
  """
  def body(carry, inputs):
    xw_t, valid_t = inputs
    new = cell.step(carry, xw_t, w_h)
    if valid_t is not None:
      new = jax.tree.map(lambda n, o: jnp.where(valid_t[:, None], n, o), new, carry)
    return new, cell.output(new)

  valid_tm = None if valid is None else jnp.swapaxes(valid, 0, 1)
  carry, hs = jax.lax.scan(body, carry, (jnp.swapaxes(xw, 0, 1), valid_tm))
  return carry, jnp.swapaxes(hs, 0, 1)


def reverse_sequences(x: jax.Array, lengths: Optional[jax.Array]) -> jax.Array:
  """Reverses each `x[b, :lengths[b]]` along axis 1 (padding stays in place); all of it if None."""
  if lengths is None:
    return jnp.flip(x, axis=1)
  t = jnp.arange(x.shape[1])[None, :]
  index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)


def _recurrent_init(key, shape, dtype=jnp.float32):
  """W_h `[hidden, gates * hidden]`: an orthogonal block per gate."""
  hidden, width = shape
  keys = jax.random.split(key, width // hidden)
  return jnp.concatenate([nn.initializers.orthogonal()(k, (hidden, hidden), dtype) for k in keys], 1)


class RecurrentLayer(nn.Module):
  """One direction of one layer: the input projection (one matmul) then `scan_cell`.

  Attributes:
    cell: key of `CELLS`.
    hidden_size: state width.
  """
  cell: str
  hidden_size: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, carry: Optional[Carry] = None,
               valid: Optional[jax.Array] = None) -> tuple[Carry, jax.Array]:
    """x `[batch, length, features]` -> (final carry, hidden states `[batch, length, hidden]`)."""
    cell = CELLS[self.cell]
    width = cell.num_gates * self.hidden_size
    xw = Dense(width, dtype=self.dtype, bias_init=cell.bias_init(self.hidden_size),
               name='input')(x)
    w_h = self.param('recurrent', _recurrent_init, (self.hidden_size, width)).astype(self.dtype)
    if carry is None:
      carry = cell.zero_carry(x.shape[0], self.hidden_size, self.dtype)
    return scan_cell(cell, w_h, xw, carry, valid)


@dataclasses.dataclass(frozen=True)
class RecurrentConfig:
  """Hyperparameters shared by every recurrent module (as `TransformerConfig` for transformers).

  Attributes:
    cell: key of `STACKED_CELLS` ('rnn', 'lstm', 'gru', 'mingru', 'minlstm').
    hidden_size: state width per direction.
    num_layers: stacked layers; layer l+1 reads layer l's hidden states.
    bidirectional: each layer runs forwards and backwards; outputs are concatenated (encoders
      and classifiers; a language model and a decoder are always unidirectional).
    dropout_rate: dropout on the inputs of layers 2..num_layers and before the output head.
    dtype: computation dtype (params are float32).
    scan: the form of the minGRU / minLSTM recurrence ('auto', 'parallel', 'sequential':
      `scan_form.choose_scan`); the other cells always step sequentially.
  """
  cell: str
  hidden_size: int = 64
  num_layers: int = 1
  bidirectional: bool = False
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  scan: str = 'auto'

  def unidirectional(self, num_layers: Optional[int] = None) -> 'RecurrentConfig':
    """This config one-way (for a causal stack), optionally with another number of layers."""
    return dataclasses.replace(self, bidirectional=False,
                               num_layers=self.num_layers if num_layers is None else num_layers)


class RecurrentStack(nn.Module):
  """Stacked (optionally bidirectional) recurrent layers with dropout between layers."""
  config: RecurrentConfig

  @nn.compact
  def __call__(self, x, lengths=None, carries=None, train=False):
    """Runs the stack.

    Args:
      x: `[batch, length, features]`.
      lengths: int `[batch]` true lengths (None: every position is real).
      carries: initial states, one per layer (a (forward, backward) pair per layer if
        bidirectional); None: zeros.
      train: enables dropout.
    Returns:
      (outputs `[batch, length, hidden * directions]`, final carries in the layout of `carries`).
    """
    c = self.config
    valid = None if lengths is None else jnp.arange(x.shape[1])[None, :] < lengths[:, None]
    carries = [None] * c.num_layers if carries is None else carries
    finals = []
    for layer in range(c.num_layers):
      if layer:
        x = nn.Dropout(c.dropout_rate)(x, deterministic=not train)
      layer_fn = lambda name: (
          RecurrentLayer(c.cell, c.hidden_size, c.dtype, name=name) if c.cell in CELLS else
          minrnn.MinRNNLayer(c.cell, c.hidden_size, c.dtype, scan=c.scan, name=name))
      if c.bidirectional:
        carry_f, carry_b = (None, None) if carries[layer] is None else carries[layer]
        final_f, out_f = layer_fn(f'forward_{layer}')(x, carry_f, valid)
        final_b, out_b = layer_fn(f'backward_{layer}')(reverse_sequences(x, lengths), carry_b, valid)
        x = jnp.concatenate([out_f, reverse_sequences(out_b, lengths)], axis=-1)
        finals.append((final_f, final_b))
      else:
        final, x = layer_fn(f'forward_{layer}')(x, carries[layer], valid)
        finals.append(final)
    return x, finals


class RecurrentClassifier(nn.Module):
  """Sequence classifier/regressor: the top layer's final state (both directions' concatenated
  if bidirectional) -> Dense. Inputs: tokens `[batch, length]` or floats `[batch, length, input_dim]`.
  """
  config: RecurrentConfig
  num_classes: int
  vocab_size: int

  @nn.compact
  def __call__(self, inputs: jax.Array, train: bool = False) -> jax.Array:
    """inputs `[batch, length(, input_dim)]` -> float32 logits `[batch, num_classes]`."""
    c = self.config
    x = InputEmbedding(self.vocab_size, c.hidden_size, c.dtype)(inputs)
    lengths = token_lengths(inputs) if self.vocab_size else None
    _, finals = RecurrentStack(c)(x, lengths, train=train)
    output = STACKED_CELLS[c.cell].output
    top = finals[-1]
    h = jnp.concatenate([output(top[0]), output(top[1])], -1) if c.bidirectional else output(top)
    h = nn.Dropout(c.dropout_rate)(h, deterministic=not train)
    return Dense(self.num_classes, dtype=c.dtype, name='head')(h).astype(jnp.float32)


class RecurrentLM(nn.Module):
  """Next-token language model: a unidirectional stack, causal by construction.

  Generation carries the state: `carry = apply(v, batch, method='init_carry')`, then
  `carry, logits = apply(v, carry, tokens, method='step')` for one token `[batch]` at a time.
  """
  config: RecurrentConfig  # run one-way whatever its `bidirectional`
  vocab_size: int
  tie_embeddings: bool = False

  def setup(self):
    c = self.config
    self.embed = nn.Embed(self.vocab_size, c.hidden_size, dtype=c.dtype)
    self.stack = RecurrentStack(c.unidirectional())
    self.dropout = nn.Dropout(c.dropout_rate)
    if not self.tie_embeddings:
      self.head = Dense(self.vocab_size, dtype=c.dtype)

  def _run(self, tokens, carries, train):
    """tokens `[batch, length]` -> (float32 logits `[batch, length, vocab]`, final carries)."""
    embedded = self.perturb('embedded', self.embed(tokens))  # see InputEmbedding
    h, carries = self.stack(embedded, carries=carries, train=train)
    h = self.dropout(h, deterministic=not train)
    logits = over_flat_batch(self.embed.attend, h, 1) if self.tie_embeddings else self.head(h)
    return logits.astype(jnp.float32), carries

  def __call__(self, inputs: jax.Array, train: bool = False) -> jax.Array:
    """inputs `[batch, length]` -> float32 logits `[batch, length, vocab]`."""
    return self._run(inputs, None, train)[0]

  def init_carry(self, batch_size: int) -> list:
    """The zero state: one carry per layer."""
    c = self.config
    cell = STACKED_CELLS[c.cell]
    return [cell.zero_carry(batch_size, c.hidden_size, c.dtype) for _ in range(c.num_layers)]

  def step(self, carry: list, tokens: jax.Array) -> tuple[list, jax.Array]:
    """One token per example `[batch]` -> (next carry, float32 logits `[batch, vocab]`)."""
    logits, carry = self._run(tokens[:, None], carry, False)
    return carry, logits[:, 0]


class Bridge(nn.Module):
  """Bidirectional encoder finals -> decoder initial state: per layer and per state component,
  Dense([forward; backward]) -> hidden."""
  hidden_size: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, finals: list) -> list:
    dense = lambda f, b: Dense(self.hidden_size, dtype=self.dtype)(jnp.concatenate([f, b], -1))
    return [jax.tree.map(dense, forward, backward) for forward, backward in finals]


def luong_scores(queries: jax.Array, keys: jax.Array) -> jax.Array:
  """Luong "general" score s_t^T W_a h_j with keys = h W_a precomputed.

  queries `[batch, q_len, hidden]`, keys `[batch, k_len, hidden]` -> `[batch, q_len, k_len]`.
  """
  return jnp.einsum('bqd,bkd->bqk', queries, keys, preferred_element_type=jnp.float32)


def bahdanau_scores(queries: jax.Array, keys: jax.Array, v: jax.Array) -> jax.Array:
  """Bahdanau additive score v^T tanh(W s + U h_j) with queries = s W and keys = h U precomputed.

  queries `[batch, q_len, attn]`, keys `[batch, k_len, attn]`, v `[attn]` -> `[batch, q_len, k_len]`.
  """
  return jnp.tanh(queries[:, :, None, :] + keys[:, None, :, :]) @ v


def attend_source(scores: jax.Array, values: jax.Array, valid: jax.Array):
  """Masked softmax over source positions and the context vectors.

  scores `[batch, q_len, k_len]`, values `[batch, k_len, dim]`, valid bool `[batch, k_len]` ->
  (context `[batch, q_len, dim]`, float32 weights `[batch, q_len, k_len]`).
  """
  weights = attention.masked_softmax(scores, valid[:, None, :])
  return jnp.einsum('bqk,bkd->bqd', weights.astype(values.dtype), values), weights


class BahdanauLayer(nn.Module):
  """A decoder layer whose step input is [y_{t-1}; c_t], c_t attending from the previous state.

    e_tj = v^T tanh(W s_{t-1} + U h_j),  a_t = softmax_j(e_t),  c_t = sum_j a_tj h_j
    s_t = step(s_{t-1}, y_{t-1} W_x + c_t W_c + b)

  U h_j and y W_x are computed for all positions outside the scan.
  """
  cell: str
  hidden_size: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, carry, encoded_outputs, encoded_valid):
    """x `[batch, length, features]`, carry, encoded_outputs `[batch, src_len, enc_dim]`,
    encoded_valid `[batch, src_len]` -> (final carry, states `[batch, length, hidden]`,
    contexts `[batch, length, enc_dim]`)."""
    cell = CELLS[self.cell]
    width = cell.num_gates * self.hidden_size
    xw = Dense(width, dtype=self.dtype, bias_init=cell.bias_init(self.hidden_size),
               name='input')(x)
    w_h = self.param('recurrent', _recurrent_init, (self.hidden_size, width)).astype(self.dtype)
    w_c = self.param('context', nn.initializers.lecun_normal(),
                     (encoded_outputs.shape[-1], width)).astype(self.dtype)
    keys = Dense(self.hidden_size, dtype=self.dtype, name='key')(encoded_outputs)
    v = self.param('v', nn.initializers.normal(0.1), (self.hidden_size,)).astype(self.dtype)
    query_kernel = self.param('query_kernel', nn.initializers.lecun_normal(),
                              (self.hidden_size, self.hidden_size)).astype(self.dtype)

    def body(carry, xw_t):
      query = (cell.output(carry) @ query_kernel)[:, None, :]
      context, weights = attend_source(bahdanau_scores(query, keys, v), encoded_outputs,
                                       encoded_valid)
      new = cell.step(carry, xw_t + context[:, 0] @ w_c, w_h)
      return new, (cell.output(new), context[:, 0], weights[:, 0])

    carry, (hs, contexts, weights) = jax.lax.scan(body, carry, jnp.swapaxes(xw, 0, 1))
    self.sow('intermediates', 'attention_weights', jnp.swapaxes(weights, 0, 1)[:, None])
    return carry, jnp.swapaxes(hs, 0, 1), jnp.swapaxes(contexts, 0, 1)


SEQ2SEQ_ATTENTION = ('none', 'luong', 'bahdanau')


class RecurrentSeq2Seq(nn.Module):
  """Encoder-decoder. With attention='none' the only bridge is the encoder's final state (the
  encoding bottleneck); 'luong' adds global attention after the decoder stack (general score,
  h~_t = tanh(W_c [c_t; s_t])); 'bahdanau' feeds c_t (additive score on s_{t-1}) into the first
  decoder layer's step and reads out tanh(W_c [c_t; s_t]). Padded source positions are masked.

  Generation: `encoded = apply(v, inputs, method='encode')`,
  `carry = apply(v, encoded, method='init_carry')`, then
  `carry, logits = apply(v, carry, tokens, encoded, method='step')` with tokens `[batch]`.
  """
  config: RecurrentConfig  # `bidirectional` applies to the encoder
  vocab_size: int
  target_vocab_size: int
  attention: str = 'none'

  def setup(self):
    c = self.config
    h, dtype = c.hidden_size, c.dtype
    self.source_embed = InputEmbedding(self.vocab_size, h, dtype)
    self.encoder = RecurrentStack(c)
    if c.bidirectional:
      self.bridge = Bridge(h, dtype)
    self.target_embed = nn.Embed(self.target_vocab_size, h, dtype=dtype)
    if self.attention == 'bahdanau':
      self.attentive = BahdanauLayer(c.cell, h, dtype)
    stacked = c.num_layers - (self.attention == 'bahdanau')
    if stacked:
      self.decoder = RecurrentStack(c.unidirectional(stacked))
    if self.attention == 'luong':
      self.luong_key = Dense(h, use_bias=False, dtype=dtype)
    if self.attention != 'none':
      self.combine = Dense(h, dtype=dtype)
    self.dropout = nn.Dropout(c.dropout_rate)
    self.head = Dense(self.target_vocab_size, dtype=dtype)

  def encode(self, inputs: jax.Array, train: bool = False) -> dict:
    """inputs `[batch, src_len]` -> {'outputs': `[batch, src_len, hidden * directions]`,
    'valid': bool `[batch, src_len]`, 'carry': the decoder's initial state (one per layer)}."""
    outputs, finals = self.encoder(self.source_embed(inputs), token_lengths(inputs), train=train)
    carry = self.bridge(finals) if self.config.bidirectional else finals
    return {'outputs': outputs, 'valid': token_valid(inputs), 'carry': carry}

  def decode(self, encoded: dict, decoder_inputs: jax.Array, carry: Optional[list] = None,
             train: bool = False) -> tuple[jax.Array, list]:
    """decoder_inputs `[batch, tgt_len]` from `carry` (default: `encoded['carry']`) ->
    (float32 logits `[batch, tgt_len, target_vocab]`, final carry)."""
    carry = encoded['carry'] if carry is None else carry
    s = self.target_embed(decoder_inputs)
    finals = []
    if self.attention == 'bahdanau':
      first, s, context = self.attentive(s, carry[0], encoded['outputs'], encoded['valid'])
      finals, carry = [first], carry[1:]
    if carry:
      s, rest = self.decoder(s, carries=carry, train=train)
      finals += rest
    if self.attention == 'luong':
      scores = luong_scores(s, self.luong_key(encoded['outputs']))
      context, weights = attend_source(scores, encoded['outputs'], encoded['valid'])
      self.sow('intermediates', 'attention_weights', weights[:, None])
    if self.attention != 'none':
      s = jnp.tanh(self.combine(jnp.concatenate([context, s], axis=-1)))
    s = self.dropout(s, deterministic=not train)
    return self.head(s).astype(jnp.float32), finals

  def __call__(self, inputs: jax.Array, decoder_inputs: jax.Array, train: bool = False):
    """inputs `[batch, src_len]`, decoder_inputs `[batch, tgt_len]` -> logits `[batch, tgt_len, vocab]`."""
    return self.decode(self.encode(inputs, train), decoder_inputs, train=train)[0]

  def init_carry(self, encoded: dict) -> list:
    """The decoder's state before the first target token."""
    return encoded['carry']

  def step(self, carry: list, tokens: jax.Array, encoded: dict) -> tuple[list, jax.Array]:
    """One target token per example `[batch]` -> (next carry, float32 logits `[batch, vocab]`)."""
    logits, carry = self.decode(encoded, tokens[:, None], carry)
    return carry, logits[:, 0]
