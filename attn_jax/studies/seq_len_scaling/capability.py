"""Capability as a curve: ONE training per (task, family, seed) gives held-out accuracy at every
length of a grid, and beyond it.

The protocol of Zoology (Arora et al. 2024: multi-query recall trained on a mixture of lengths,
each length evaluated) and of Deletang et al. 2023 (trained on lengths up to N, tested beyond):
a member (seed s, peak learning rate r) trains on the lengths `train_lengths`. Each chunk of
`check_every` steps is split into equal groups, one per length, shortest first: every batch has
one length (no padding), and every length is seen equally often. After each chunk the member is
evaluated on the held-out split at every training length; a length is solved at the first check
where its accuracy reaches `solve_accuracy`; the member is done at the check where every training
length is at or above it (or when `max_steps` are spent) and stops there. The extrapolation
lengths beyond them (the rest of `eval_lengths`) are read once, after the member's last step, as
Deletang et al. read theirs: they gate nothing, and reading the longest sequences at every check
cost up to half of a short task's time (first_token's 256-token split against 60 steps of batch
16).

Rates without waste: with several rates, a pilot trains the first seed at every rate for
`pilot_steps`; the rate whose member solved first (else the best mean held-out accuracy over the
training lengths, then the earlier rate) becomes the rate of every seed of this (task, family).
The first seed's member at that rate continues from where the pilot left it; the other rates stop
there. Each member is exactly the run `train_and_evaluate` would make with that seed and rate
(`create_train_state` with `key(s)`, the training package's `train_step`, the dropout key
`fold_in(key(s), 1)`, batch `step` of the data of length `L` loaded with seed s), except that its
steps cycle through the lengths.

Members train through programs compiled once per point (one train program per training length,
one evaluation program per evaluation length; the rate is a traced argument), so a member that
solved, or whose rate lost the pilot, costs nothing more. Members train on the threads of a
`pool` (XLA runs with Python's lock released; the study shares one pool between the curves in
flight, so its size is how many members train at a time whichever curve they belong to): the
pilot's rates side by side, then the seeds. A member's steps, batches and keys are its own
whichever train beside it, so its results are the same; its seconds (`Curve.train_s`) are
wall-clock and include sharing the cores with the others.
"""
import concurrent.futures
import dataclasses
import os
import time
import types
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from attn_jax.models import mamba
from attn_jax.studies.seq_len_scaling import results_table
from attn_jax.training.optimizer import make_optimizer
from attn_jax.training.state import dropout_base_key, train_state_initialiser
from attn_jax.training.steps import eval_step, train_step


def member_optimizer(train, learning_rate):
  """`make_optimizer(train)` at peak `learning_rate` (a traced scalar)."""
  return make_optimizer(types.SimpleNamespace(**{**train.to_dict(),
                                                 'learning_rate': learning_rate}))


def make_train_fn(train, kind: str) -> Callable:
  """`(state, rate, batches [steps, batch, ...], key) -> (state, losses [steps])`, jitted, the
  state donated: `steps` train steps of one member at peak learning rate `rate`."""
  def train_steps(state, rate, batches, key):
    tx = state.tx

    def step(s, batch):
      s, sums = train_step(s, batch, key, kind=kind, grad_accum_steps=train.grad_accum_steps)
      return s, sums['loss'] / jnp.maximum(sums['weight'], 1e-9)

    new, losses = jax.lax.scan(step, state.replace(tx=member_optimizer(train, rate)), batches)
    return new.replace(tx=tx), losses

  return jax.jit(train_steps, donate_argnums=(0,))


def make_eval_fn(apply_fn, kind: str) -> Callable:
  """`(params, batch) -> metric sums`, jitted."""
  return jax.jit(lambda params, batch: eval_step(params, batch, apply_fn=apply_fn, kind=kind))


# Held-out tokens per evaluation call at most (256 sequences of 256 tokens): longer lengths are
# read in fewer sequences per call. The transformer's scores grow with batch x L^2: cpu_full's
# 256 sequences of 1024 tokens held 4 GiB of scores per layer, and two curves in flight ran a
# 23 GiB machine out of memory.
MAX_EVAL_TOKENS = 256 * 256


def sequences_per_call(length: int, batch_size: int) -> int:
  """Held-out sequences per evaluation call at `length`: `batch_size`, fewer where that many
  would hold more than `MAX_EVAL_TOKENS` tokens. The accuracy is the same whatever the batch
  (`held_out_accuracy` sums every example's)."""
  return max(1, min(batch_size, MAX_EVAL_TOKENS // length))


def held_out_accuracy(eval_fn, params, dataset, batch_size: int = 256) -> float:
  """Accuracy of `params` on every example of `dataset`'s held-out split."""
  correct = weight = 0.0
  for batch in dataset.eval_batches(batch_size):
    sums = eval_fn(params, batch)
    correct += float(sums['accuracy'])
    weight += float(sums['weight'])
  return correct / max(weight, 1e-9)


def stacked_batches(dataset, start: int, num_steps: int, batch_size: int) -> dict:
  """Batches of steps `start .. start + num_steps - 1` of `dataset`, leaves `[steps, ...]`."""
  steps = [dataset.train_batch(step, batch_size) for step in range(start, start + num_steps)]
  return jax.tree.map(lambda *xs: np.stack(xs), *steps)


@dataclasses.dataclass
class Curve:
  """What one member did, per evaluation length; arrays `[eval_lengths]`.

  steps_to_solve / seconds_to_solve: the first reading at which that length's held-out accuracy
  reached the threshold (NaN: never), and the member's training seconds up to it (compiling and
  evaluating excluded; wall-clock, members beside it included). best_accuracy: the highest
  reading; final_accuracy: the last (NaN before the first). A training length is read at every
  check, an extrapolation length after the last step only. steps_trained: the member's last
  step; done_step: the check where every training length was solved together (NaN: never).
  """
  steps_to_solve: np.ndarray
  seconds_to_solve: np.ndarray
  best_accuracy: np.ndarray
  final_accuracy: np.ndarray
  steps_trained: int = 0
  train_s: float = 0.0
  done_step: float = float('nan')

  @classmethod
  def empty(cls, num_lengths: int) -> 'Curve':
    nan = np.full(num_lengths, np.nan)
    return cls(nan.copy(), nan.copy(), np.zeros(num_lengths), nan.copy())

  def record(self, accuracy: np.ndarray, step: int, solve_accuracy: float, at: np.ndarray):
    """Adds the reading at `step` of held-out `accuracy [len(at)]` at the evaluation lengths of
    indices `at`."""
    first = np.zeros(len(self.steps_to_solve), bool)
    first[at] = np.isnan(self.steps_to_solve[at]) & (accuracy >= solve_accuracy)
    self.steps_to_solve[first] = step
    self.seconds_to_solve[first] = self.train_s
    self.best_accuracy[at] = np.maximum(self.best_accuracy[at], accuracy)
    self.final_accuracy[at] = accuracy
    self.steps_trained = step


@dataclasses.dataclass
class Member:
  """One (seed, rate) run: its train state, dropout key and curve."""
  seed: int
  rate: float
  state: object
  key: jax.Array
  curve: Curve

  def done(self, trained: np.ndarray, solve_accuracy: float) -> bool:
    """Whether every training length (`trained`: a mask over the evaluation lengths) reached
    `solve_accuracy` at the last check."""
    return bool(np.all(self.curve.final_accuracy[trained] >= solve_accuracy))


class Protocol(NamedTuple):
  """How a point trains: its lengths, checks and budget.

  train_lengths: the lengths trained on (each chunk cycles through them) and read at every check;
  eval_lengths: every length read (the training lengths first, then the extrapolation lengths,
  read after a member's last step).
  """
  train_lengths: tuple
  eval_lengths: tuple
  batch_size: int
  check_every: int
  max_steps: int
  pilot_steps: int
  solve_accuracy: float


class Programs(NamedTuple):
  """The compiled programs of one point (its states share one initialiser: their optimizer
  object, static pytree metadata, is the one the programs were compiled for) and its data."""
  init: Callable     # key -> train state (`train_state_initialiser`)
  train: dict        # {length: make_train_fn(...)}
  evaluate: Callable  # (params, indices into eval_lengths) -> accuracy [len(indices)]
  train_data: dict   # {(seed, length): dataset}


def train_member(member: Member, programs: Programs, protocol: Protocol, until: int, *,
                 clock: Callable[[], float] = time.perf_counter) -> Member:
  """Trains `member` check by check until it is done or has `until` steps, then reads the
  extrapolation lengths."""
  group = protocol.check_every // len(protocol.train_lengths)
  trained = np.isin(protocol.eval_lengths, protocol.train_lengths)
  read = lambda at, step: member.curve.record(
      np.asarray(programs.evaluate(member.state.params, at), np.float64), step,
      protocol.solve_accuracy, at)
  rate = jnp.asarray(member.rate, jnp.float32)
  done = lambda: member.done(trained, protocol.solve_accuracy)
  while member.curve.steps_trained < until and not done():
    start = member.curve.steps_trained
    for i, length in enumerate(protocol.train_lengths):
      batches = jax.device_put(stacked_batches(programs.train_data[member.seed, length],
                                               start + i * group, group, protocol.batch_size))
      begin = clock()
      member.state, losses = programs.train[length](member.state, rate, batches, member.key)
      jax.block_until_ready(losses)
      member.curve.train_s += clock() - begin
    read(np.flatnonzero(trained), start + protocol.check_every)
    if done():
      member.curve.done_step = member.curve.steps_trained
  if not trained.all():
    read(np.flatnonzero(~trained), member.curve.steps_trained)
  return member


def pilot_score(member: Member, trained: np.ndarray) -> tuple:
  """Sort key of a pilot member (lower is better): done first, then fewer steps, then the higher
  mean held-out accuracy over the training lengths."""
  done = not np.isnan(member.curve.done_step)
  return (not done, member.curve.done_step if done else 0.0,
          -float(np.mean(member.curve.final_accuracy[trained])))


class CurveResult(NamedTuple):
  """One point's outcome.

  members: the chosen rate's member of each seed; pilot: the first seed's member at every rate
  (its accuracy when the pilot ended, `[eval_lengths]` each; empty without a pilot); rate: the
  chosen rate; compile_s: seconds compiling its programs; and, for probes of the first seed's
  member: the model, task kind, its parameters at initialisation and at the end, and a held-out
  batch at the longest training length (`sequences_per_call` sequences).
  """
  members: list
  pilot: dict
  rate: float
  compile_s: float
  model: object
  kind: str
  init_params: object
  params: object
  probe_batch: dict


def new_member(init: Callable, seed: int, rate: float, num_lengths: int) -> Member:
  """A member at step 0: `init(key(seed))` (`train_state_initialiser`: `create_train_state`
  with that key, as a run with that seed would start)."""
  return Member(seed, rate, init(jax.random.key(seed)), dropout_base_key(seed),
                Curve.empty(num_lengths))


def compile_concurrently(lowered: Sequence) -> list:
  """`[l.compile() for l in lowered]`, on as many threads as there are CPU cores: XLA compiles
  with Python's lock released, so the programs of a curve compile side by side (tracing and
  lowering, which hold it, happen before)."""
  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
    return list(pool.map(lambda program: program.compile(), lowered))


def compile_programs(config, model, info, protocol: Protocol, train_data: dict,
                     eval_data: Sequence, eval_batch_size: int) -> tuple[Programs, float]:
  """The point's programs, all compiled before the first step (seconds spent returned): a train
  program per training length, an evaluation program per evaluation length (reading
  `sequences_per_call(length, eval_batch_size)` held-out sequences per call)."""
  begin = time.perf_counter()
  init = train_state_initialiser(config, model, info)
  example = new_member(init, config.seed, 1e-3, 1)
  train_fn = make_train_fn(config.train, info.kind)
  eval_fn = make_eval_fn(model.apply, info.kind)
  group = protocol.check_every // len(protocol.train_lengths)
  rate = jnp.asarray(1e-3, jnp.float32)
  seed = next(iter(train_data))[0]
  lowered = [train_fn.lower(example.state, rate, stacked_batches(
      train_data[seed, length], 0, group, protocol.batch_size), example.key)
             for length in protocol.train_lengths]
  sizes = [sequences_per_call(length, eval_batch_size) for length in protocol.eval_lengths]
  lowered += [eval_fn.lower(example.state.params, next(d.eval_batches(size)))
              for d, size in zip(eval_data, sizes)]
  programs = compile_concurrently(lowered)
  train = dict(zip(protocol.train_lengths, programs))
  evaluators = programs[len(train):]
  evaluate = lambda params, at: np.array([held_out_accuracy(evaluators[i], params, eval_data[i],
                                                            sizes[i]) for i in at])
  return Programs(init, train, evaluate, train_data), time.perf_counter() - begin


def train_members(members: Sequence[Member], programs: Programs, protocol: Protocol, until: int,
                  pool: concurrent.futures.Executor | None) -> list[Member]:
  """`train_member(m, ..., until)` for each of `members`, on `pool`'s threads (None: one after
  another on this one)."""
  train = lambda member: train_member(member, programs, protocol, until)
  return list(pool.map(train, members) if pool is not None else map(train, members))


def measure_curve(config, model, info, protocol: Protocol, *, seeds: Sequence[int],
                  rates: Sequence[float], train_data: dict, eval_data: Sequence,
                  eval_batch_size: int = 256, compiled: tuple | None = None,
                  pool: concurrent.futures.Executor | None = None) -> CurveResult:
  """Trains the members of one point (`config`: its training config, `config.train.num_steps`
  the schedule's length; `train_data`: {(seed, length): dataset}; `eval_data`: a dataset per
  evaluation length) by the protocol of the module docstring, on `pool`'s threads (None: one
  after another). `compiled`: the point's `compile_programs(...)` result when it was compiled
  beforehand (None: compiled here)."""
  programs, compile_s = compiled or compile_programs(config, model, info, protocol, train_data,
                                                     eval_data, eval_batch_size)
  make = lambda seed, rate: new_member(programs.init, seed, rate, len(protocol.eval_lengths))
  trained = np.isin(protocol.eval_lengths, protocol.train_lengths)
  first = make(seeds[0], rates[0])
  init_params = jax.tree.map(np.asarray, first.state.params)  # the state is donated later
  pilot = {}
  if len(rates) > 1:
    trial = train_members([first] + [make(seeds[0], r) for r in rates[1:]], programs, protocol,
                          protocol.pilot_steps, pool)
    pilot = {m.rate: m.curve.final_accuracy.copy() for m in trial}
    first = min(trial, key=lambda m: pilot_score(m, trained))
  members = train_members([first] + [make(seed, first.rate) for seed in seeds[1:]], programs,
                          protocol, protocol.max_steps, pool)
  top = protocol.train_lengths[-1]
  probe = next(eval_data[protocol.eval_lengths.index(top)].eval_batches(
      sequences_per_call(top, eval_batch_size)))
  return CurveResult(members, pilot, first.rate, compile_s, model, info.kind, init_params,
                     jax.tree.map(np.asarray, members[0].state.params), probe)


def curve_rows(result: CurveResult, protocol: Protocol, rates: Sequence[float]) -> list[dict]:
  """One row per (seed, evaluation length) (capability.csv's columns, see results_table):
  accuracy_2x / _4x are the member's final accuracy at 2L / 4L where those were evaluated."""
  lengths = list(protocol.eval_lengths)
  by_rate = '/'.join(f'{float(np.mean(result.pilot[r][:len(protocol.train_lengths)])):.3f}'
                     for r in rates) if result.pilot else ''
  at = lambda curve, length: (float(curve.final_accuracy[lengths.index(length)])
                              if length in lengths else float('nan'))
  rows = []
  for member in result.members:
    c = member.curve
    for i, length in enumerate(lengths):
      rows.append(dict(
          seed=member.seed, seq_len=length, trained=int(length in protocol.train_lengths),
          train_lengths=results_table.lengths_text(protocol.train_lengths),
          learning_rate=float(result.rate), learning_rates='/'.join(f'{x:g}' for x in rates),
          best_accuracy_by_lr=by_rate, steps_to_solve=c.steps_to_solve[i],
          seconds_to_solve=c.seconds_to_solve[i], best_accuracy=c.best_accuracy[i],
          final_accuracy=c.final_accuracy[i], accuracy_2x=at(c, 2 * length),
          accuracy_4x=at(c, 4 * length), steps_trained=c.steps_trained,
          pilot_steps=protocol.pilot_steps if result.pilot else 0, compile_s=result.compile_s))
  return rows


def state_bytes(model_config, seq_len: int, bytes_per_value: int = 4) -> int:
  """Bytes a model (`model_config`: its `config.model`) carries per sequence to predict the next
  token after `seq_len` tokens.

  Recurrent models carry their state: `num_layers * hidden_size` values (twice that for the
  LSTM: hidden and cell state), whatever the length. The transformer carries its KV cache: a key
  and a value of `hidden_size` per layer per position, `2 * num_layers * seq_len * hidden_size`.
  Linear attention carries, per layer, S `[num_heads, d, d]` and z `[num_heads, d]` with
  d = hidden_size / num_heads: `num_layers * (hidden_size * d + hidden_size)`, whatever the length.
  Mamba carries, per layer, h `[d_inner, N]` and its convolution's window
  `[conv_width - 1, d_inner]` (`mamba.carried_values`), whatever the length.
  """
  name, layers, hidden = model_config.name, model_config.num_layers, model_config.hidden_size
  if name == 'transformer':
    values = 2 * layers * seq_len * hidden
  elif name == 'linear_attention':
    values = layers * (hidden * (hidden // model_config.num_heads) + hidden)
  elif name == 'mamba':
    values = mamba.carried_values(mamba.MambaConfig(
        hidden_size=hidden, num_layers=layers, state_size=model_config.ssm_state_size,
        expand=model_config.ssm_expand, conv_width=model_config.ssm_conv_width))
  else:
    values = layers * hidden * (2 if name == 'lstm' else 1)
  return values * bytes_per_value
