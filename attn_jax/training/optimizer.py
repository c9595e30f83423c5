"""The optimizer: AdamW with warm-up then decay, global-norm clipping and a non-finite guard.

The clipping and the guard are optax's (`clip_by_global_norm`, `apply_if_finite`: same results,
same state), written so that XLA compiles them into few kernels: optax reduces each parameter
leaf apart (a kernel per leaf, twice: the norm and the finiteness test) and puts the update in
a `lax.cond`, which no fusion crosses. Here each test is ONE reduction over the leaves
concatenated and the update is selected with `where`, which fuses into AdamW's kernels. In the
sequence-length study's train program at its mqar shapes the 2-block transformer has 396
kernels instead of 590 and compiles in 1.80 s instead of 2.13, the recurrent families 28 fewer
kernels and within 8% of the compile time, every family at the same step time (0.97-1.01;
experiments/results/benchmark_cpu/optimizer_guard_probe.py and the README beside it).
"""
import jax
import jax.numpy as jnp
import optax


def make_schedule(train) -> optax.Schedule:
  """Learning rate by step: linear warm-up to `train.learning_rate`, then `train.lr_schedule`."""
  peak, warmup, total = train.learning_rate, train.warmup_steps, train.num_steps
  decay_steps = max(total - warmup, 1)
  if train.lr_schedule == 'cosine':
    decay = optax.cosine_decay_schedule(peak, decay_steps)
  elif train.lr_schedule == 'linear':
    decay = optax.linear_schedule(peak, 0.0, decay_steps)
  else:
    decay = optax.constant_schedule(peak)
  if warmup == 0:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def _concatenated(tree) -> jax.Array:
  """Every leaf of `tree` raveled, one after another: `[total size]`."""
  return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(tree)] or [jnp.zeros(0)])


def global_norm(tree) -> jax.Array:
  """The L2 norm of all the leaves of `tree` together (`optax.global_norm`), one reduction."""
  return jnp.sqrt(jnp.sum(jnp.square(_concatenated(tree))))


def all_finite(tree) -> jax.Array:
  """True where no leaf of `tree` holds a NaN or an infinity; one reduction."""
  return jnp.all(jnp.isfinite(_concatenated(tree)))


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
  """`optax.clip_by_global_norm(max_norm)` (same updates, same empty state) with `global_norm`:
  updates whose norm g reaches `max_norm` are scaled by max_norm / g."""
  def update(updates, state, params=None):
    del params
    norm = global_norm(updates)
    return jax.tree.map(lambda t: jnp.where(norm < max_norm, t, (t / norm) * max_norm),
                        updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def skip_nonfinite(inner: optax.GradientTransformation) -> optax.GradientTransformation:
  """`optax.apply_if_finite(inner, max_consecutive_errors=2**31 - 1)` with its state
  (`optax.ApplyIfFiniteState`): updates with a NaN or an infinity are replaced by zeros and
  leave `inner`'s state as it was, however many come in a row; `notfinite_count` counts them in
  a row, `total_notfinite` in all, `last_finite` says whether this one was applied. `inner`
  runs on every update and `where` keeps its result or not."""
  def init(params):
    return optax.ApplyIfFiniteState(
        notfinite_count=jnp.zeros([], jnp.int32), last_finite=jnp.array(True, jnp.bool_),
        total_notfinite=jnp.zeros([], jnp.int32), inner_state=inner.init(params))

  def update(updates, state, params=None):
    finite = all_finite(updates)
    new_updates, new_inner = inner.update(updates, state.inner_state, params)
    keep = lambda new, old: jnp.where(finite, new, old)
    new_state = optax.ApplyIfFiniteState(
        notfinite_count=keep(jnp.zeros([], jnp.int32), optax.safe_increment(state.notfinite_count)),
        last_finite=finite,
        total_notfinite=keep(state.total_notfinite, optax.safe_increment(state.total_notfinite)),
        inner_state=jax.tree.map(keep, new_inner, state.inner_state))
    return jax.tree.map(lambda u: keep(u, jnp.zeros_like(u)), new_updates), new_state

  return optax.GradientTransformation(init, update)


def make_optimizer(train) -> optax.GradientTransformation:
  """AdamW(schedule) after optional global-norm clipping, skipped on non-finite gradients
  however many come in a row, so the parameters stay finite (the loop ends a run after
  `train.max_nonfinite_steps` in a row).

  A step whose gradients hold a NaN or an infinity leaves parameters and moments unchanged;
  `skip_nonfinite` counts it in its state: `notfinite_count` (in a row, read by the loop's
  divergence check) and `total_notfinite`.
  """
  chain = []
  if train.grad_clip_norm:
    chain.append(clip_by_global_norm(train.grad_clip_norm))
  chain.append(optax.adamw(make_schedule(train), weight_decay=train.weight_decay))
  return skip_nonfinite(optax.chain(*chain))
