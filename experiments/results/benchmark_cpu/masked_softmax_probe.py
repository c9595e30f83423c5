"""The masked softmax of explicit attention two ways, in the study-shape transformer's train step
(TransformerLM, 2 blocks, 4 heads, mlp 4 x width, causal), taking turns step by step in one
process (medians of 9 after 2 warm-up steps, two rounds):

  select  the mask by selects over `[batch, heads, q_len, k_len]`: `where(mask, logits, lowest)`
          before the softmax and `where(mask, weights, 0)` after it (the code before 2026-12-07)
  bias    the mask as an additive bias (0 or the lowest value), empty rows zeroed by a
          `[..., q_len, 1]` factor (`attention.masked_softmax` since 2026-12-07)

    PYTHONPATH=. python experiments/results/benchmark_cpu/masked_softmax_probe.py [L] [width] [batch]

Both give the same initial loss; results in this folder's README.md.
"""
import sys

import jax
import jax.numpy as jnp
import ml_collections

from attn_jax.models import attention
from attn_jax.studies.benchmark import benchmark


def select_softmax(logits, mask=None):
  logits = logits.astype(attention.softmax_dtype(logits.dtype))
  if mask is None:
    return jax.nn.softmax(logits, axis=-1)
  logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
  return jnp.where(mask, jax.nn.softmax(logits, axis=-1), 0.0)


def main():
  length, width, batch = (int(a) for a in (sys.argv[1:] + ['256', '64', '64'][len(sys.argv) - 1:]))
  sizes = ml_collections.ConfigDict(dict(hidden_size=width, num_layers=2, num_heads=4,
                                         mlp_dim=4 * width, vocab_size=76, batch_size=batch))
  bias_softmax = attention.masked_softmax
  sides, losses = {}, {}
  for name, softmax in (('select', select_softmax), ('bias', bias_softmax)):
    attention.masked_softmax = softmax  # traced with this formulation at the first call below
    step, args, loss, *_ = benchmark.transformer_train(0, sizes, length)
    sides[name] = benchmark.blocking(step, list(benchmark._copy(args)))  # pylint: disable=protected-access
    sides[name]()
    losses[name] = loss
  attention.masked_softmax = bias_softmax
  print('initial losses', losses)
  for _ in range(2):
    median = benchmark.time_alternating(sides, warmup=2, timed=9)
    print(f'L={length} width={width} batch={batch}: select {1e3 * median["select"]:.1f} ms, '
          f'bias {1e3 * median["bias"]:.1f} ms, bias/select {median["bias"] / median["select"]:.2f}')


if __name__ == '__main__':
  main()
