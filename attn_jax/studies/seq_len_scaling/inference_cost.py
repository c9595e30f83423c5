"""Inference cost: milliseconds per generated token and bytes of carried state, against context.

The half of the trade-off where recurrent models win. A language model generates one token at a
time through its `attn_jax.decoding.lm_stepper`: a recurrent LM carries a fixed-size state (h, or
(c, h) for the LSTM, per layer), whatever the context; the transformer carries its key/value cache,
2 * layers * batch * N * d numbers for N positions, and every new token attends over all of them.
Linear attention (its 'cache' collection) carries per layer S `[batch, heads, d_k, d_v]` and the
normaliser z `[batch, heads, d_k]`, layers * batch * (d * d / heads + d) numbers: it grows with
the width, not with the context. Bytes are counted from the state itself (`state_bytes`).

At a context length N the state has consumed N - 1 tokens (`prefill`) and the timed step feeds the
N-th: the transformer's cache holds exactly N positions, so the step attends over N keys. Timing
(`time_step`): the one-token step is jit-compiled with the state donated (updated in place, as in
the generators' while loop), warmed up, then called `repeats` times on fresh copies of the same
state (the copy is not timed) with `block_until_ready`; the median is reported. The time includes
one host dispatch per token (tens of microseconds on a CPU), which the generators' on-device loop
avoids, and counts the same for every family.
"""
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from attn_jax.decoding import Stepper, lm_stepper
from attn_jax.models.registry import build_model
from attn_jax.task import TaskInfo


def lm_model(model_config, *, vocab_size: int, max_len: int):
  """The language-model form of `model_config` (any family's config, e.g. a study point's
  matched width) for a `vocab_size` vocabulary and contexts up to `max_len` tokens."""
  info = TaskInfo('lm', max_len, vocab_size, target_vocab_size=vocab_size, input_shape=(max_len,))
  return build_model(model_config, info)


def state_bytes(state) -> int:
  """Bytes of a decoding state (every array leaf: carry, or KV cache with its index counters)."""
  return int(sum(np.dtype(x.dtype).itemsize * int(np.prod(x.shape))
                 for x in jax.tree.leaves(state)))


def prefill(stepper: Stepper, params, tokens: jax.Array, capacity: int):
  """The state after feeding `tokens` `[batch, n]` one at a time from a fresh state whose cache
  (transformer) holds `capacity` positions (capacity > n leaves room for the next tokens)."""
  def body(state, token):
    return stepper.step(params, state, token)[0], None
  state = stepper.init(params, tokens.shape[0], capacity)
  return jax.lax.scan(body, state, jnp.swapaxes(tokens, 0, 1))[0]


def time_step(stepper: Stepper, params, state, tokens: jax.Array, *, warmup: int = 3,
              repeats: int = 20) -> tuple[float, float]:
  """(median, minimum) milliseconds of one jitted, state-donating `stepper.step(params, state,
  tokens)`, tokens `[batch]`; every call starts from a copy of `state` (the copy is not timed).
  On a shared machine the minimum is the less disturbed of the two."""
  step = jax.jit(stepper.step, donate_argnums=1)
  times = []
  for i in range(warmup + repeats):
    fresh = jax.block_until_ready(jax.tree.map(jnp.copy, state))
    start = time.perf_counter()
    jax.block_until_ready(step(params, fresh, tokens))
    if i >= warmup:
      times.append((time.perf_counter() - start) * 1e3)
  return statistics.median(times), min(times)


def measure(name: str, model, params, context_lengths, *, batch_size: int = 1,
            warmup: int = 3, repeats: int = 20, seed: int = 0) -> list[dict]:
  """Rows (model, context_len, batch_size, ms_per_token (median), ms_per_token_min, state_bytes)
  for one language model.

  Args:
    name: the model's name in the rows.
    model: a language model (`lm_model`); a transformer's positions must reach the longest
      context.
    params: its parameters (timing does not depend on their values: init is enough).
    context_lengths: the contexts N (positive ints): N - 1 tokens prefilled, the N-th timed.
    batch_size: sequences decoded together.
    warmup, repeats: untimed and timed calls per context length.
    seed: the random context tokens.
  """
  stepper = lm_stepper(model)
  vocab_size = model.vocab_size
  rows = []
  rng = np.random.RandomState(seed)
  fill = jax.jit(prefill, static_argnames=('stepper', 'capacity'))
  for n in sorted(int(n) for n in context_lengths):
    if stepper.max_len is not None and n > stepper.max_len:
      raise ValueError(f'{name}: context {n} exceeds the model\'s {stepper.max_len} positions; '
                       'build it with lm_model(..., max_len >= the longest context)')
    tokens = jnp.asarray(rng.randint(1, vocab_size, (batch_size, n)), jnp.int32)
    state = fill(stepper, params, tokens[:, :-1], n)
    median, fastest = time_step(stepper, params, state, tokens[:, -1], warmup=warmup,
                                repeats=repeats)
    rows.append(dict(model=name, context_len=n, batch_size=batch_size, ms_per_token=median,
                     ms_per_token_min=fastest, state_bytes=state_bytes(state)))
  return rows


def measure_config(name: str, model_config, context_lengths, *, vocab_size: int = 64,
                   batch_size: int = 1, warmup: int = 3, repeats: int = 20,
                   seed: int = 0) -> list[dict]:
  """`measure` for the LM form of `model_config` (`lm_model`, positions up to the longest
  context), with parameters from its initialiser."""
  max_len = max(int(n) for n in context_lengths)
  model = lm_model(model_config, vocab_size=vocab_size, max_len=max_len)
  params = jax.jit(model.init)(jax.random.key(seed),
                               jnp.zeros((1, max_len), jnp.int32))['params']
  return measure(name, model, params, context_lengths, batch_size=batch_size, warmup=warmup,
                 repeats=repeats, seed=seed)
