"""Losses and metrics per task kind, as weighted sums plus their weight (the denominator).

Sums stay exact under padding and any device count: they are added across devices and micro-
batches, and divided only on the host (`summarise`).
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
    `accuracy` (sum of weighted correct predictions); all float32 scalars.
  """
  targets, weights = batch['targets'], batch['weights'].astype(jnp.float32)
  logits = logits.astype(jnp.float32)
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
      counters (keys starting with `count_`) that are reported as they are.
  """
  sums = {key: float(np.asarray(value)) for key, value in sums.items()}
  weight = max(sums.pop('weight'), 1e-9)
  summary = {key: value / weight for key, value in sums.items() if not key.startswith('count_')}
  summary.update({key[len('count_'):]: value for key, value in sums.items()
                  if key.startswith('count_')})
  if kind == 'lm':
    summary['perplexity'] = float(np.exp(min(summary['loss'], 50.0)))
  return summary
