"""Losses and metrics per task kind, as weighted sums plus their weight (the denominator).

Sums stay exact under padding and any device count: they are added across devices and micro-
batches, and divided only on the host (`summarise`). Per-step values of the train step (gradient
and parameter norms, already reduced over devices) are added over a logging window too, with the
count of its steps, and divided by that count.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax


def metric_sums(kind: str, logits: jax.Array, batch: dict) -> dict[str, jax.Array]:
  """Weighted sums of the per-example (or per-token) loss and accuracy.

  Args:
    kind: the task kind (`attn_jax.task.TASK_KINDS`).
    logits: `[batch, classes]`, `[batch, 1]` (regression) or `[batch, length, vocab]`.
    batch: with `targets` (`[batch]` or `[batch, length]`) and `weights` of the same shape.

  Returns:
    `loss` (sum of weighted losses), `weight` (sum of weights) and, except for regression,
    `accuracy` (sum of weighted correct predictions); float32 scalars (float64 for float64
    logits).
  """
  dtype = jnp.promote_types(logits.dtype, jnp.float32)  # float32 at least (float64 under x64)
  targets, weights = batch['targets'], batch['weights'].astype(dtype)
  logits = logits.astype(dtype)
  if kind == 'regression':
    losses = jnp.square(logits[..., 0] - targets)
    return {'loss': jnp.sum(losses * weights), 'weight': jnp.sum(weights)}
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  correct = jnp.argmax(logits, axis=-1) == targets
  return {'loss': jnp.sum(losses * weights), 'accuracy': jnp.sum(correct * weights),
          'weight': jnp.sum(weights)}


def summarise(kind: str, sums: dict) -> dict[str, float]:
  """Host side: divides summed metrics by their weight; adds perplexity for language models.

  Args:
    kind: the task kind.
    sums: `metric_sums` output added over devices and batches (arrays or floats), plus any
      counters (keys starting with `count_`) that are reported as they are, and per-step values
      (keys starting with `mean_`, such as a train step's gradient norm) added over the `steps`
      that are reported as their mean over those steps.
  """
  sums = {key: float(np.asarray(value)) for key, value in sums.items()}
  weight = max(sums.pop('weight'), 1e-9)
  steps = max(sums.pop('steps', 1.0), 1.0)
  per_step = ('count_', 'mean_')
  summary = {key: value / weight for key, value in sums.items() if not key.startswith(per_step)}
  summary.update({key[len('count_'):]: value for key, value in sums.items()
                  if key.startswith('count_')})
  summary.update({key[len('mean_'):]: value / steps for key, value in sums.items()
                  if key.startswith('mean_')})
  if kind == 'lm':
    summary['perplexity'] = float(np.exp(min(summary['loss'], 50.0)))
  return summary
