"""Explicit attention's causal query chunks (`attention.query_chunks`) against one dense product,
in the sequence-length study's transformer train step (`benchmark.py:study` shapes), with
PyTorch's step at the same shape; the three take turns step by step in one process (medians of 9
after 2 warm-up steps):

  dense    one `[batch, heads, L, L]` product, as before 2026-12-07 (query_chunks patched to None)
  chunked  queries in chunks of 32 against the keys they reach (the explicit path since then)
  torch    `nn.TransformerEncoderLayer` blocks, fused `scaled_dot_product_attention`

    PYTHONPATH=. python experiments/results/benchmark_cpu/causal_chunks_probe.py [shape,...]

Default shapes: the transformer's study shapes at L = 16, 64, 128 (added here), 256. Results in
this folder's README.md.
"""
import sys

import ml_collections

from attn_jax.models import attention
from attn_jax.studies.benchmark import benchmark
from experiments.configs import benchmark as benchmark_config

DEFAULT_SHAPES = ','.join(f'transformer_w{w}_b{b}_L{n}' for w, b in ((64, 64), (32, 16))
                          for n in (16, 64, 128, 256))

def main():
  config = benchmark_config.get_config('study')
  config.study_shapes.lengths = '16,64,128,256'
  names = (sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SHAPES).split(',')
  shapes = {s.name: s for s in benchmark.study_shapes(config.study_shapes)}
  chunked_spans = attention.query_chunks
  for name in names:
    sides = {}
    for side, spans in (('dense', lambda *_, **__: None), ('chunked', chunked_spans)):
      attention.query_chunks = spans  # read while tracing, at the first call below
      case = benchmark.cases_of(config, shapes[name])[0]
      case.ours()
      sides[side] = case.ours
    attention.query_chunks = chunked_spans
    if case.torch is not None:
      sides['torch'] = case.torch
    median = benchmark.time_alternating(sides, warmup=2, timed=9)
    ratios = f', chunked/dense {median["chunked"] / median["dense"]:.2f}'
    if 'torch' in median:
      ratios += (f', dense/torch {median["dense"] / median["torch"]:.2f}, '
                 f'chunked/torch {median["chunked"] / median["torch"]:.2f}')
    print(f'{name}: ' + ', '.join(f'{k} {1e3 * v:.1f} ms' for k, v in median.items()) + ratios,
          flush=True)

if __name__ == '__main__':
  main()
