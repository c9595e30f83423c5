"""Autoregressive generation: sampling from a language model, greedy and beam search for seq2seq.

Every model is decoded one token at a time through a *stepper* (`lm_stepper`, `seq2seq_stepper`):
`init(params, ...) -> state` and `step(params, state, tokens [batch]) -> (state, logits
[batch, vocab])`. The state is the transformer's key/value cache (the 'cache' collection, one
fixed-size slot per position) or the RNN's carried hidden state. Each generator is one
`jax.lax.while_loop` over positions inside one `jax.jit`, compiled once per shape: prompts and
stopping points are traced values, not Python loops of recompiles.

Token choice (`choose_tokens`): temperature 0 is greedy; otherwise the logits are divided by the
temperature, cut to the `top_k` largest and to the smallest set whose probability reaches `top_p`
(nucleus), and sampled.

Beam search keeps `beam_size` hypotheses per example in one pool; finished ones (ended by EOS)
compete with live ones on the length-normalised score `log p(y) / len(y) ** length_penalty`.
With one beam it is greedy decoding exactly.
"""
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from attn_jax.errors import ConfigError
from attn_jax.models import transformer
from attn_jax.task import BOS_ID, EOS_ID, PAD_ID

State = Any


class SampleSettings(NamedTuple):
  """How the next token is chosen from the logits (hashable: a static jit argument)."""
  temperature: float = 1.0  # 0: greedy (argmax)
  top_k: int = 0            # 0: off
  top_p: float = 1.0        # 1: off


def choose_tokens(rng: jax.Array, logits: jax.Array, settings: SampleSettings) -> jax.Array:
  """logits `[batch, vocab]` -> int32 tokens `[batch]`: greedy, or sampled after temperature,
  top-k and top-p filtering."""
  if settings.temperature == 0:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  logits = logits.astype(jnp.float32) / settings.temperature
  neg_inf = jnp.finfo(jnp.float32).min
  if settings.top_k:
    kth = jax.lax.top_k(logits, min(settings.top_k, logits.shape[-1]))[0][..., -1:]
    logits = jnp.where(logits < kth, neg_inf, logits)
  if settings.top_p < 1.0:
    descending = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(descending, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass of the tokens ranked above
    kept = jnp.where(before < settings.top_p, descending, jnp.inf)
    logits = jnp.where(logits < jnp.min(kept, axis=-1, keepdims=True), neg_inf, logits)
  return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)


def allowed_outputs(logits: jax.Array) -> jax.Array:
  """Generation never emits PAD or BOS (no model is trained to predict them): their logits are
  set to the lowest float32."""
  return logits.at[..., jnp.array([PAD_ID, BOS_ID])].set(jnp.finfo(jnp.float32).min)


# --------------------------------------------------------------------------------------------
# Steppers: one-token views of the models.


@dataclasses.dataclass(frozen=True)
class Stepper:
  """A model decoded one token at a time.

  Attributes:
    init: `(params, context, length) -> state` for decoding `length` positions; `context` is the
      batch size for a LM and the source tokens `[batch, src_len]` for seq2seq.
    step: `(params, state, tokens [batch]) -> (state, float32 logits [batch, vocab])`.
    max_len: positions a LM's state can hold (its KV cache length), None for recurrent state.
  """
  init: Callable[[Any, Any, int], State]
  step: Callable[[Any, State, jax.Array], tuple[State, jax.Array]]
  max_len: Optional[int] = None


def _is_recurrent(model) -> bool:
  return hasattr(model, 'init_carry') and hasattr(model, 'step')


def _cached_step(model, method=None):
  """`(params, (cache, *args), tokens)` -> one `decode=True` call of a transformer."""
  def step(params, state, tokens):
    cache, *args = state
    kwargs = {} if method is None else {'method': method}
    logits, updates = model.apply({'params': params, 'cache': cache}, *args, tokens[:, None],
                                  decode=True, mutable=['cache'], **kwargs)
    return (updates['cache'], *args), logits[:, 0].astype(jnp.float32)
  return step


@functools.lru_cache(maxsize=64)
def lm_stepper(model) -> Stepper:
  """A language model: the transformer with its `decode=True` KV cache of `config.max_len`
  positions, or a recurrent LM carrying its state (`init_carry`, `step`)."""
  if _is_recurrent(model):
    return Stepper(
        init=lambda params, batch, length: model.apply({'params': params}, batch,
                                                       method='init_carry'),
        step=lambda params, carry, tokens: model.apply({'params': params}, carry, tokens,
                                                       method='step'))
  return Stepper(
      init=lambda params, batch, length: (transformer.init_cache(
          model, jnp.zeros((batch, length), jnp.int32)),),
      step=_cached_step(model), max_len=model.config.max_len)


@functools.lru_cache(maxsize=64)
def seq2seq_stepper(model) -> Stepper:
  """An encoder-decoder: the source is encoded once by `init`; the decoder then runs one token at
  a time from its KV cache (transformer) or its carried state (recurrent)."""
  if _is_recurrent(model):
    def init(params, inputs, length):
      del length
      encoded = model.apply({'params': params}, inputs, method='encode')
      return model.apply({'params': params}, encoded, method='init_carry'), encoded

    def step(params, state, tokens):
      carry, encoded = state
      carry, logits = model.apply({'params': params}, carry, tokens, encoded, method='step')
      return (carry, encoded), logits
    return Stepper(init, step)

  def init_transformer(params, inputs, length):
    encoded = model.apply({'params': params}, inputs, method='encode')
    cache = transformer.init_cache(model, inputs, jnp.zeros((inputs.shape[0], length), jnp.int32))
    return cache, encoded, inputs
  return Stepper(init_transformer, _cached_step(model, 'decode'))


# --------------------------------------------------------------------------------------------
# Language models: continue a prompt.


@functools.partial(jax.jit, static_argnames=('stepper', 'settings'))
def _fill(stepper: Stepper, params, buffer: jax.Array, start: jax.Array, end: jax.Array,
          rng: jax.Array, settings: SampleSettings) -> jax.Array:
  """Feeds `buffer` `[batch, length]` one position at a time from a fresh state and writes the
  chosen token at every position from `start` (the prompt length) to `end - 1`.

  Positions before `start` are the prompt (teacher forcing: their tokens only update the state).
  `start` and `end` are traced: one compilation serves every prompt length of a buffer shape.
  """
  def body(carry):
    t, state, buffer = carry
    state, logits = stepper.step(params, state, buffer[:, t])
    chosen = choose_tokens(jax.random.fold_in(rng, t), allowed_outputs(logits), settings)
    buffer = buffer.at[:, t + 1].set(jnp.where(t + 1 >= start, chosen, buffer[:, t + 1]))
    return t + 1, state, buffer

  state = stepper.init(params, buffer.shape[0], buffer.shape[1])
  _, _, buffer = jax.lax.while_loop(lambda c: c[0] + 1 < end, body,
                                    (jnp.int32(0), state, buffer))
  return buffer


def generate(model, params, prompt: list[int], num_tokens: int, rng: jax.Array, *,
             num_samples: int = 1, settings: SampleSettings = SampleSettings()) -> np.ndarray:
  """`num_samples` continuations of `prompt` (token ids), `[num_samples, num_tokens]` int32.

  A recurrent model carries its state over any length. A transformer's cache holds
  `model.max_len` positions; past that, generation goes on from a fresh cache primed with the
  last `max_len // 2` tokens (the same compiled function, so no recompilation).
  """
  if not prompt:
    raise ConfigError('sample.prompt', 'is empty after tokenization; give at least one token')
  stepper = lm_stepper(model)
  sequence = np.tile(np.asarray(prompt, np.int32), (num_samples, 1))
  total = len(prompt) + num_tokens
  chunk = 0
  while sequence.shape[1] < total:
    if stepper.max_len is None:
      context, length = sequence, total
    else:
      keep = sequence.shape[1] if sequence.shape[1] < stepper.max_len else stepper.max_len // 2
      context, length = sequence[:, sequence.shape[1] - keep:], stepper.max_len
    end = min(length, context.shape[1] + total - sequence.shape[1])
    buffer = np.zeros((num_samples, length), np.int32)
    buffer[:, :context.shape[1]] = context
    filled = _fill(stepper, params, jnp.asarray(buffer), jnp.int32(context.shape[1]),
                   jnp.int32(end), jax.random.fold_in(rng, chunk), settings)
    sequence = np.concatenate([sequence, np.asarray(filled[:, context.shape[1]:end])], axis=1)
    chunk += 1
  return sequence[:, len(prompt):]


# --------------------------------------------------------------------------------------------
# Sequence to sequence: greedy and beam search.


@functools.partial(jax.jit, static_argnames=('stepper', 'max_len'))
def greedy_decode(stepper: Stepper, params, inputs: jax.Array, max_len: int) -> jax.Array:
  """Greedy decoding: source tokens `[batch, src_len]` -> int32 `[batch, max_len]` output tokens,
  each row ending at its first EOS (kept) and PAD after it. Stops once every row has ended."""
  batch = inputs.shape[0]

  def body(carry):
    t, state, tokens, out, done = carry
    state, logits = stepper.step(params, state, tokens)
    best = jnp.argmax(allowed_outputs(logits), axis=-1).astype(jnp.int32)
    chosen = jnp.where(done, PAD_ID, best)
    return t + 1, state, chosen, out.at[:, t].set(chosen), done | (chosen == EOS_ID)

  carry = (jnp.int32(0), stepper.init(params, inputs, max_len),
           jnp.full((batch,), BOS_ID, jnp.int32), jnp.zeros((batch, max_len), jnp.int32),
           jnp.zeros((batch,), bool))
  return jax.lax.while_loop(lambda c: (c[0] < max_len) & ~jnp.all(c[4]), body, carry)[3]


def _gather_beams(tree, index: jax.Array, rows: int):
  """Reorders every leaf whose leading axis has `rows` (= batch * beams) entries by `index`."""
  return jax.tree.map(lambda x: x[index] if x.ndim and x.shape[0] == rows else x, tree)


@functools.partial(jax.jit, static_argnames=('stepper', 'max_len', 'beam_size',
                                             'length_penalty'))
def beam_search(stepper: Stepper, params, inputs: jax.Array, max_len: int, beam_size: int,
                length_penalty: float = 1.0) -> jax.Array:
  """Beam search: source tokens `[batch, src_len]` -> the best hypothesis per example, int32
  `[batch, max_len]` (ending at EOS, PAD after), by `log p / length ** length_penalty`.

  The `batch * beam_size` hypotheses are decoded as one batch; after each step the best
  `beam_size` of the `beam_size * vocab` extensions (a finished hypothesis extends only by
  itself) are kept and the decoder state is gathered to follow them.
  """
  batch, k = inputs.shape[0], beam_size
  rows = batch * k
  neg_inf = jnp.float32(-1e30)

  def body(carry):
    t, state, seqs, logp, lengths, done = carry
    state, logits = stepper.step(params, state, seqs[:, :, t].reshape(rows))
    vocab = logits.shape[-1]
    log_probs = jax.nn.log_softmax(allowed_outputs(logits)).reshape(batch, k, vocab)
    extend_only_pad = jnp.full((vocab,), neg_inf).at[PAD_ID].set(0.0)
    raw = logp[:, :, None] + jnp.where(done[:, :, None], extend_only_pad, log_probs)
    new_lengths = jnp.where(done, lengths, t + 1)
    scores = raw / (new_lengths[:, :, None].astype(jnp.float32) ** length_penalty)
    _, best = jax.lax.top_k(scores.reshape(batch, k * vocab), k)  # [batch, k], sorted
    beam, token = best // vocab, (best % vocab).astype(jnp.int32)
    take = lambda x: jnp.take_along_axis(x, beam, axis=1)
    seqs = jnp.take_along_axis(seqs, beam[:, :, None], axis=1).at[:, :, t + 1].set(token)
    logp = jnp.take_along_axis(raw.reshape(batch, k * vocab), best, axis=1)
    flat = (jnp.arange(batch)[:, None] * k + beam).reshape(rows)
    return (t + 1, _gather_beams(state, flat, rows), seqs, logp, take(new_lengths),
            take(done) | (token == EOS_ID))

  repeated = jnp.repeat(inputs, k, axis=0)
  seqs = jnp.zeros((batch, k, max_len + 1), jnp.int32).at[:, :, 0].set(BOS_ID)
  logp = jnp.tile(jnp.where(jnp.arange(k) == 0, 0.0, neg_inf), (batch, 1))  # one live beam
  carry = (jnp.int32(0), stepper.init(params, repeated, max_len), seqs, logp,
           jnp.ones((batch, k), jnp.int32), jnp.zeros((batch, k), bool))
  seqs = jax.lax.while_loop(lambda c: (c[0] < max_len) & ~jnp.all(c[5]), body, carry)[2]
  return seqs[:, 0, 1:]  # top_k is sorted: beam 0 is the best


def translate(model, params, inputs, max_len: int, beam_size: int = 1,
              length_penalty: float = 1.0) -> np.ndarray:
  """Source tokens `[batch, src_len]` -> output tokens `[batch, max_len]` (EOS-terminated, PAD
  after): greedy for `beam_size` 1, else beam search."""
  stepper = seq2seq_stepper(model)
  inputs = jnp.asarray(inputs, jnp.int32)
  if beam_size <= 1:
    return np.asarray(greedy_decode(stepper, params, inputs, max_len))
  return np.asarray(beam_search(stepper, params, inputs, max_len, beam_size, length_penalty))


def until_eos(tokens) -> list[int]:
  """Tokens up to (not including) the first EOS, trailing PAD dropped: an output or a target."""
  tokens = np.asarray(tokens).tolist()
  tokens = tokens[:tokens.index(EOS_ID)] if EOS_ID in tokens else tokens
  while tokens and tokens[-1] == PAD_ID:
    tokens.pop()
  return tokens
