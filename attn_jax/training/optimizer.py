"""The optimizer: AdamW with warm-up then decay, global-norm clipping and a non-finite guard."""
import optax

# The optimizer skips every step with non-finite gradients however many come in a row, so the
# parameters stay finite; the loop ends a run after `train.max_nonfinite_steps` in a row.
_SKIP_NONFINITE_ALWAYS = 2**31 - 1


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


def make_optimizer(train) -> optax.GradientTransformation:
  """AdamW(schedule) after optional global-norm clipping, skipped on non-finite gradients.

  A step whose gradients hold a NaN or an infinity leaves parameters and moments unchanged;
  `optax.apply_if_finite` counts it in its state: `notfinite_count` (in a row, read by the
  loop's divergence check) and `total_notfinite`.
  """
  chain = []
  if train.grad_clip_norm:
    chain.append(optax.clip_by_global_norm(train.grad_clip_norm))
  chain.append(optax.adamw(make_schedule(train), weight_decay=train.weight_decay))
  return optax.apply_if_finite(optax.chain(*chain), _SKIP_NONFINITE_ALWAYS)
