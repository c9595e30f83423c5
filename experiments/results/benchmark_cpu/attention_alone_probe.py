"""Causal self-attention alone, forward and backward, the study transformer's heads (batch 64,
4 heads of 16): the project's explicit attention (`attention.dot_product_attention`, one dense
product; and the query chunks of `MultiHeadAttention`'s explicit path, `attention.query_chunks`)
against PyTorch's `scaled_dot_product_attention` (a fused kernel on the CPU), the three taking
turns (`benchmark.time_alternating`, medians of 15 after 3 warm-up steps).

    PYTHONPATH=. python experiments/results/benchmark_cpu/attention_alone_probe.py [L ...]

Default lengths 64 and 256. Results in this folder's README.md.
"""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import torch

from attn_jax.models import attention
from attn_jax.studies.benchmark import benchmark

BATCH, HEADS, HEAD_DIM = 64, 4, 16


def chunked(q, k, v, mask):
  """The explicit path's query chunks without the module: `[batch, L, heads, d]` -> same."""
  return jnp.concatenate([
      attention.dot_product_attention(q[:, start:end], k[:, :keys], v[:, :keys],
                                      attention.mask_span(mask, start, end, keys))[0]
      for start, end, keys in attention.query_chunks(mask, q.shape[1], k.shape[1])], axis=1)


def main():
  for length in [int(a) for a in sys.argv[1:]] or [64, 256]:
    q, k, v = (jax.random.normal(key, (BATCH, length, HEADS, HEAD_DIM))
               for key in jax.random.split(jax.random.key(0), 3))
    mask = attention.causal_mask(length)
    weight = jnp.cos(q)  # a loss that weights every output differently
    sides = {}
    for name, fn in (('dense', lambda q, k, v: attention.dot_product_attention(q, k, v, mask)[0]),
                     ('chunked', lambda q, k, v: chunked(q, k, v, mask))):
      grad = jax.jit(jax.grad(lambda q, k, v, fn=fn: jnp.sum(fn(q, k, v) * weight),
                              argnums=(0, 1, 2)))
      sides[name] = lambda grad=grad: jax.block_until_ready(grad(q, k, v))
    tq, tk, tv = (torch.tensor(np.asarray(jnp.swapaxes(x, 1, 2))).requires_grad_()
                  for x in (q, k, v))
    tweight = torch.tensor(np.asarray(jnp.swapaxes(weight, 1, 2)))

    def torch_step():
      for x in (tq, tk, tv):
        x.grad = None
      out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
      (out * tweight).sum().backward()
    sides['torch'] = torch_step
    median = benchmark.time_alternating(sides, warmup=3, timed=15)
    print(f'L={length}: ' + ', '.join(f'{k} {1e3 * v:.1f} ms' for k, v in median.items()) +
          f' (forward and backward of one layer\'s attention; chunked/torch '
          f'{median["chunked"] / median["torch"]:.2f})', flush=True)


if __name__ == '__main__':
  main()
