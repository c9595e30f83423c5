"""Capability of one (task, model, length) point: every seed x learning rate trained as ONE program.

The members of a point are independent models of one shape: seed s in `seeds` and peak learning
rate r in `learning_rates`. Their parameters and optimizer states are stacked
`[seeds, rates, ...]` and trained by one jitted function, `jax.vmap` (or `lax.map`:
`members_mode`) over the seed axis (parameters, optimizer state, the seed's batches and dropout
key) and, inside it, over the rate axis (parameters, optimizer state, the rate). Each member is
exactly the run `train_and_evaluate` would make with `seed = s` and `train.learning_rate = r`:
the same initialisation (`create_train_state` with `key(s)`), the same batches
(`dataset.train_batch(step, batch)` of the data loaded with seed s: generated data is a pure
function of (seed, step, row)), the same dropout key (`fold_in(key(s), 1)`) and the training
package's own `train_step`. The rate enters as a traced value: each member rebuilds
`make_optimizer(train)` at its own rate inside the vmapped function (the optimizer state does not
depend on the rate), so nothing is approximated.

`check_every` steps run per call (`lax.scan` over the steps, one dispatch), then every member is
evaluated on the held-out split. A member whose accuracy reaches `solve_accuracy` is solved at that
step and frozen (later chunks leave its state unchanged), so each member's record is that of a run
that stopped when it solved. Per seed, the learning rate is chosen on the held-out split: best
accuracy, where every solved member counts as best and ties go to the one that solved in fewer
steps. So once every seed has a solved member no later check can change any seed's choice, and the
point stops there (or when `max_steps` are spent); the other rates' records end there too.
"""
import dataclasses
import time
import types
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from attn_jax import progress
from attn_jax.data import load_dataset
from attn_jax.models.registry import build_model
from attn_jax.training.optimizer import make_optimizer
from attn_jax.training.state import create_train_state, dropout_base_key
from attn_jax.training.steps import eval_step, train_step

# Length extrapolation: trained at L, evaluated at these multiples of L (`data.
# eval_length_multipliers`), on the splits `test_<m>x`, recorded in the columns `accuracy_<m>x`.
EXTRAPOLATION_MULTIPLIERS = (2, 4)
EXTRAPOLATION_SPLITS = {f'test_{m}x': f'accuracy_{m}x' for m in EXTRAPOLATION_MULTIPLIERS}


def member_optimizer(train, learning_rate):
  """`make_optimizer(train)` at peak `learning_rate` (a traced scalar under vmap)."""
  return make_optimizer(types.SimpleNamespace(**{**train.to_dict(),
                                                 'learning_rate': learning_rate}))


def init_members(config, model, info, seeds: Sequence[int], num_rates: int):
  """The train states of every member, leaves `[seeds, rates, ...]`.

  Seed s's members all start from `create_train_state(config, model, info, key(s))`, as separate
  runs with that seed and any learning rate would. One call per seed, not a vmap: XLA's CPU
  runtime can hang for good (every thread idle) running the vmapped initialisation, whose
  orthogonal initialisers batch a QR decomposition; the stacked result is the same.
  """
  per_seed = [create_train_state(config, model, info, jax.random.key(s)) for s in seeds]
  leaves = zip(*(jax.tree.leaves(state) for state in per_seed))
  return jax.tree.unflatten(jax.tree.structure(per_seed[0]), [
      jnp.repeat(jnp.stack(xs)[:, None], num_rates, axis=1) for xs in leaves])


def base_keys(seeds: Sequence[int]) -> jax.Array:
  """The dropout base key of each seed's runs, `[seeds]` (as `train_and_evaluate` derives it)."""
  return jax.vmap(dropout_base_key)(jnp.asarray(seeds, jnp.uint32))


# How the members of a point share one program: 'vmap' batches them into each operation, 'map'
# loops over them inside the program (`lax.map`: one dispatch, each member's operations at their
# own size). Where measured (experiments/results/members/README.md: the 2-core CPU, 6 members,
# L = 16 and 64), a model takes 'map' where it is more than 10% faster at L = 64; everything
# else, and every accelerator (not measured), batches with 'vmap'.
MEMBERS_BY_PLATFORM = {'cpu': {'mingru': 'map', 'transformer': 'map'}}
MEMBERS = ('auto', 'vmap', 'map')


def members_mode(setting: str, model: str, platform: str | None = None) -> str:
  """'vmap' or 'map': `setting`, or for 'auto' the measured choice for `model` on `platform`
  (default: JAX's default backend)."""
  if setting != 'auto':
    return setting
  return MEMBERS_BY_PLATFORM.get(platform or jax.default_backend(), {}).get(model, 'vmap')


def _over(axis_map: str, fn: Callable, in_axes: tuple) -> Callable:
  """`fn` over the leading axis of the arguments whose `in_axes` entry is 0 (others shared):
  `jax.vmap`, or `lax.map` over those arguments."""
  if axis_map == 'vmap':
    return jax.vmap(fn, in_axes=in_axes)

  def mapped(*args):
    mapped_args = tuple(a for a, axis in zip(args, in_axes) if axis == 0)

    def one(xs):
      it = iter(xs)
      return fn(*(next(it) if axis == 0 else a for a, axis in zip(args, in_axes)))
    return jax.lax.map(one, mapped_args)
  return mapped


def make_chunk_fn(train, kind: str, members: str = 'vmap') -> Callable:
  """`(states, active, rates, batches, keys) -> (states, losses)`, jitted, states donated.

  Args (of the returned function):
    states: train states, leaves `[seeds, rates, ...]`.
    active: bool `[seeds, rates]`; inactive (solved) members keep their state.
    rates: peak learning rates `[rates]`.
    batches: each seed's batches of the chunk, leaves `[seeds, steps, batch, ...]`.
    keys: dropout base keys `[seeds]`.
  `members`: 'vmap' or 'map' (`members_mode`); both compute every member's own run.

  Returns:
    The new states and each member's mean training loss per step, `[seeds, rates, steps]`.
  """
  def member(state, active, rate, batches, key):
    tx = state.tx

    def step(s, batch):
      s, sums = train_step(s, batch, key, kind=kind, grad_accum_steps=train.grad_accum_steps)
      return s, sums['loss'] / jnp.maximum(sums['weight'], 1e-9)

    new, losses = jax.lax.scan(step, state.replace(tx=member_optimizer(train, rate)), batches)
    new = jax.tree.map(lambda n, o: jnp.where(active, n, o), new.replace(tx=tx), state)
    return new, losses

  over_rates = _over(members, member, (0, 0, 0, None, None))
  over_seeds = _over(members, over_rates, (0, 0, None, 0, 0))
  return jax.jit(over_seeds, donate_argnums=(0,))


def make_eval_fn(apply_fn, kind: str) -> Callable:
  """`(params [seeds, rates, ...], batch) -> metric sums [seeds, rates]`, jitted."""
  one = lambda params, batch: eval_step(params, batch, apply_fn=apply_fn, kind=kind)
  return jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(0, None)))


def held_out_accuracy(eval_fn, params, dataset, *, split: str | None = None,
                      batch_size: int = 256) -> np.ndarray:
  """Accuracy of every member on every example of `split`, `[seeds, rates]`."""
  correct = weight = 0.0
  for batch in dataset.eval_batches(batch_size, split=split):
    sums = eval_fn(params, batch)
    correct = correct + np.asarray(sums['accuracy'], np.float64)
    weight = weight + np.asarray(sums['weight'], np.float64)
  return correct / np.maximum(weight, 1e-9)


def seed_batches(datasets: Sequence, start: int, num_steps: int, batch_size: int) -> dict:
  """Batches of steps `start .. start + num_steps - 1` of each seed's data, `[seeds, steps, ...]`."""
  per_seed = [[d.train_batch(step, batch_size) for step in range(start, start + num_steps)]
              for d in datasets]
  return jax.tree.map(lambda *xs: np.stack(xs), *[jax.tree.map(lambda *ys: np.stack(ys), *steps)
                                                  for steps in per_seed])


@dataclasses.dataclass
class MemberRecord:
  """What each member of a point did; arrays `[seeds, rates]`.

  steps_to_solve / seconds_to_solve: the check at which held-out accuracy first reached the
  threshold (NaN: never). seconds are the point's training time up to that check (compile and
  evaluation excluded) divided by the number of members trained together: each member's share.
  best_accuracy: the highest held-out accuracy at any check; final_accuracy: at the member's last
  check; steps_trained: the member's last step (its solve step, or the point's last).
  """
  steps_to_solve: np.ndarray
  seconds_to_solve: np.ndarray
  best_accuracy: np.ndarray
  final_accuracy: np.ndarray
  steps_trained: np.ndarray
  compile_s: float = float('nan')
  train_s: float = 0.0


def train_members(states, *, chunk_fn, evaluate: Callable, batches: Callable, rates, keys,
                  check_every: int, max_steps: int, solve_accuracy: float,
                  clock: Callable[[], float] = time.perf_counter):
  """Trains every member until it solves or `max_steps` are spent; returns (states, MemberRecord).

  Args:
    states: the stacked train states (`init_members`).
    chunk_fn: `make_chunk_fn(...)`; compiled once, before the first chunk.
    evaluate: `params -> held-out accuracy [seeds, rates]`.
    batches: `(start, num_steps) -> batches [seeds, num_steps, ...]`.
    rates: `[rates]`; keys: `[seeds]` base keys.
    check_every: steps between evaluations; `max_steps` must be a multiple of it.
    solve_accuracy: the held-out accuracy at which a member is solved.
    clock: seconds (a parameter for tests).
  """
  shape = jax.tree.leaves(states)[0].shape[:2]
  nan = np.full(shape, np.nan)
  record = MemberRecord(steps_to_solve=nan.copy(), seconds_to_solve=nan.copy(),
                        best_accuracy=np.zeros(shape), final_accuracy=nan.copy(),
                        steps_trained=np.zeros(shape, np.int64))
  active = np.ones(shape, bool)
  rates = jnp.asarray(rates, jnp.float32)
  compiled = None
  bar = progress.bar(total=max_steps, unit='step', desc='members')
  for start in range(0, max_steps, check_every):
    if not active.any() or np.isfinite(record.steps_to_solve).any(axis=1).all():
      break  # every member solved, or every seed's choice is final (see the module docstring)
    chunk = jax.device_put(batches(start, check_every))
    if compiled is None:
      begin = clock()
      compiled = chunk_fn.lower(states, jnp.asarray(active), rates, chunk, keys).compile()
      record.compile_s = clock() - begin
    begin = clock()
    states, losses = compiled(states, jnp.asarray(active), rates, chunk, keys)
    jax.block_until_ready(losses)
    record.train_s += clock() - begin
    done = start + check_every
    accuracy = np.asarray(evaluate(states.params), np.float64)
    record.final_accuracy[active] = accuracy[active]
    record.best_accuracy[active] = np.maximum(record.best_accuracy, accuracy)[active]
    record.steps_trained[active] = done
    solved = active & (accuracy >= solve_accuracy)
    record.steps_to_solve[solved] = done
    record.seconds_to_solve[solved] = record.train_s / active.size
    active &= ~solved
    bar.update(check_every)
    bar.set_postfix(best=f'{accuracy.max():.3f}', solved=f'{int((~active).sum())}/{active.size}')
  bar.close()
  return states, record


def choose_rates(best_accuracy: np.ndarray, steps_to_solve: np.ndarray) -> np.ndarray:
  """Per seed, the index of the chosen learning rate, `[seeds]`: a solved member before any
  unsolved one (solved is the best accuracy), among solved ones the fewest steps to solve, then
  the best held-out accuracy, then the earlier rate in the grid."""
  solved = np.isfinite(steps_to_solve)
  steps = np.where(solved, steps_to_solve, np.inf)
  return np.array([min(range(best_accuracy.shape[1]),
                       key=lambda r, s=s: (not solved[s, r], steps[s, r], -best_accuracy[s, r], r))
                   for s in range(best_accuracy.shape[0])])


def state_bytes(model: str, *, num_layers: int, hidden_size: int, seq_len: int,
                num_heads: int = 1, bytes_per_value: int = 4) -> int:
  """Bytes a model carries per sequence to predict the next token after `seq_len` tokens.

  Recurrent models carry their state: `num_layers * hidden_size` values (twice that for the
  LSTM: hidden and cell state), whatever the length. The transformer carries its KV cache: a key
  and a value of `hidden_size` per layer per position, `2 * num_layers * seq_len * hidden_size`.
  Linear attention carries, per layer, S `[num_heads, d, d]` and z `[num_heads, d]` with
  d = hidden_size / num_heads: `num_layers * (hidden_size * d + hidden_size)`, whatever the length.
  """
  if model == 'transformer':
    values = 2 * num_layers * seq_len * hidden_size
  elif model == 'linear_attention':
    values = num_layers * (hidden_size * (hidden_size // num_heads) + hidden_size)
  else:
    values = num_layers * hidden_size * (2 if model == 'lstm' else 1)
  return values * bytes_per_value


def eval_length(dataset, split: str) -> int:
  """The sequence length of an evaluation split's `inputs`."""
  return int(next(dataset.eval_batches(1, split=split))['inputs'].shape[1])


def extrapolation_splits(dataset) -> dict[str, str]:
  """{split: column} of the dataset's longer evaluation splits (`EXTRAPOLATION_SPLITS`)."""
  return {s: c for s, c in EXTRAPOLATION_SPLITS.items() if s in dataset.eval_splits}


class PointResult(NamedTuple):
  """One point's outcome.

  record: the `MemberRecord`; chosen: the chosen rate's index per seed `[seeds]`; longer:
  {column: accuracy of every member on that longer split `[seeds, rates]`}; and, for probes of the
  first seed's chosen member: the model, task kind, its parameters at initialisation and at the
  end, and the first held-out batch.
  """
  record: MemberRecord
  chosen: np.ndarray
  longer: dict
  model: object
  kind: str
  init_params: object
  params: object
  probe_batch: dict


def measure_members(point, *, seeds: Sequence[int], rates: Sequence[float], check_every: int,
                    max_steps: int, solve_accuracy: float, members: str = 'auto',
                    eval_batch_size: int = 256) -> PointResult:
  """Trains the members of one point (`point`: a training config; `point.train.num_steps` is the
  learning-rate schedule's length; `members`: see `members_mode`) and evaluates them on the
  longer splits."""
  datasets = [load_dataset(point.data, seed=s) for s in seeds]
  info = datasets[0].info
  model = build_model(point.model, info)
  eval_fn = make_eval_fn(model.apply, info.kind)
  evaluate = lambda params, split=None: held_out_accuracy(
      eval_fn, params, datasets[0], split=split, batch_size=eval_batch_size)
  states = init_members(point, model, info, seeds, len(rates))
  first = lambda tree, r=0: jax.tree.map(lambda x: np.asarray(x[0, r]), tree)
  init_params = first(states.params)  # copied: the states are donated to the training program
  states, record = train_members(
      states,
      chunk_fn=make_chunk_fn(point.train, info.kind, members_mode(members, point.model.name)),
      evaluate=evaluate,
      batches=lambda start, n: seed_batches(datasets, start, n, point.train.batch_size),
      rates=rates, keys=base_keys(seeds), check_every=check_every, max_steps=max_steps,
      solve_accuracy=solve_accuracy)
  chosen = choose_rates(record.best_accuracy, record.steps_to_solve)
  longer = {column: evaluate(states.params, split)
            for split, column in extrapolation_splits(datasets[0]).items()}
  return PointResult(record, chosen, longer, model, info.kind, init_params,
                    first(states.params, int(chosen[0])),
                    next(datasets[0].eval_batches(eval_batch_size)))


def seed_rows(result: PointResult, *, seeds: Sequence[int], rates: Sequence[float]) -> list[dict]:
  """One row per seed: its chosen rate's record (capability.csv columns, see results_table)."""
  record, chosen, longer = result.record, result.chosen, result.longer
  rows = []
  for s, seed in enumerate(seeds):
    r = int(chosen[s])
    rows.append(dict(
        seed=seed, learning_rate=float(rates[r]),
        learning_rates='/'.join(f'{x:g}' for x in rates),
        best_accuracy_by_lr='/'.join(f'{a:.3f}' for a in record.best_accuracy[s]),
        steps_to_solve=record.steps_to_solve[s, r], seconds_to_solve=record.seconds_to_solve[s, r],
        best_accuracy=record.best_accuracy[s, r], final_accuracy=record.final_accuracy[s, r],
        steps_trained=int(record.steps_trained[s, r]), compile_s=record.compile_s,
        **{column: float(values[s, r]) for column, values in longer.items()}))
  return rows
