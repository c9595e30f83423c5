"""Explicit attention's two products written on `[batch, length, heads, d]` operands (the code
before 2026-12-07: `'bqhd,bkhd->bhqk'` and `'bhqk,bkhd->bqhd'`) against heads-major operands
(`attention.heads_major`), in the study's transformer train step and its forward pass alone (the
loss; `benchmark.py:study` shapes),
query chunks as the explicit path runs them; the two take turns step by step in one process
(medians of 9 after 2 warm-up steps; `benchmark.time_alternating`).

    PYTHONPATH=. python experiments/results/benchmark_cpu/heads_major_probe.py [shape,...]

Results in this folder's README.md.
"""
import sys

import jax.numpy as jnp

from attn_jax.models import attention
from attn_jax.studies.benchmark import benchmark
from experiments.configs import benchmark as benchmark_config

DEFAULT_SHAPES = ','.join(f'transformer_w{w}_b{b}_L{n}' for w, b in ((64, 64), (32, 16))
                          for n in (64, 256))


def length_major_weights(q, k, mask=None):
  dtype = attention.softmax_dtype(q.dtype)
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, k, preferred_element_type=dtype)
  return attention.masked_softmax(logits / jnp.sqrt(jnp.asarray(q.shape[-1], dtype)), mask)


def length_major_attend(weights, v):
  return jnp.einsum('bhqk,bkhd->bqhd', weights.astype(v.dtype), v)


def main():
  config = benchmark_config.get_config('study')
  names = (sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SHAPES).split(',')
  shapes = {s.name: s for s in benchmark.study_shapes(config.study_shapes)}
  heads_major = (attention.attention_weights, attention.attend)
  for name in names:
    sides = {}
    for side, (weights, attend) in (('length-major', (length_major_weights, length_major_attend)),
                                    ('heads-major', heads_major)):
      attention.attention_weights, attention.attend = weights, attend  # read while tracing
      case = benchmark.cases_of(config, shapes[name])[0]
      forward = case.phases['forward'][0]
      case.ours()
      forward()
      sides[side], sides[f'{side} forward'] = case.ours, forward
    attention.attention_weights, attention.attend = heads_major
    median = benchmark.time_alternating(sides, warmup=2, timed=9)
    print(f'{name}: ' + ', '.join(f'{k} {1e3 * v:.1f} ms' for k, v in median.items()) +
          f', heads/length: step {median["heads-major"] / median["length-major"]:.2f}, forward '
          f'{median["heads-major forward"] / median["length-major forward"]:.2f}', flush=True)


if __name__ == '__main__':
  main()
