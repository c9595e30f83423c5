"""Probe: does our linear attention recall on mqar once a short causal convolution precedes it,
as in the reference's MQAR models (Zoology / Based: every attention-like mixer is
`Hybrid([BaseConv(kernel_size=3), mixer])`)?

Not part of the library: it wraps `transformer.LinearAttention` in a depthwise causal
convolution of `--taps` taps over its input (`mamba.causal_conv`, identity-initialised: the
current tap 1, the others 0, so at step 0 it is the plain model) for training only, and trains
one member per (setting, width) on the default study's mqar mixture L = 8, 16, 32, 64 with its
budget (batch 64, constant rate after 50 warm-up steps, 1200 steps, checked every 100), printing
the held-out accuracy at each training length per check.

  PYTHONPATH=. python experiments/results/seq_len_scaling_cpu/frontier/short_conv_probe.py \
      --widths=64 --rate=3e-3 --taps=0,3
"""
import argparse
import time

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from attn_jax.data import load_dataset
from attn_jax.models import mamba, transformer
from attn_jax.models.registry import build_model
from attn_jax.studies.seq_len_scaling import capability, seq_len_scaling, settings
from experiments.configs import seq_len_scaling as study_config

LENGTHS = (8, 16, 32, 64)
PLAIN = transformer.LinearAttention


def with_short_conv(taps: int):
  """A module built as `LinearAttention` is (same fields) that passes its input through a
  depthwise causal convolution of `taps` taps, then the plain `LinearAttention`."""
  class ShortConvLinearAttention(nn.Module):
    num_heads: int
    features: int
    chunk_size: int = PLAIN.chunk_size
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs, decode=False):
      assert not decode, 'the probe trains only'
      identity = lambda key, shape, dtype=jnp.float32: jnp.zeros(shape, dtype).at[-1].set(1.0)
      kernel = self.param('short_conv_kernel', identity, (taps, inputs.shape[-1]))
      window = jnp.zeros((inputs.shape[0], taps - 1, inputs.shape[-1]), inputs.dtype)
      mixed, _ = mamba.causal_conv(inputs, kernel, jnp.zeros(inputs.shape[-1]), window)
      return PLAIN(self.num_heads, self.features, self.chunk_size, self.dtype,
                   name='linear')(mixed, decode)
  return ShortConvLinearAttention


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--widths', default='64')
  parser.add_argument('--rate', type=float, default=3e-3)
  parser.add_argument('--taps', default='0,3')
  parser.add_argument('--max_steps', type=int, default=1200)
  args = parser.parse_args()
  config = settings.per_task_config(study_config.get_config('cpu'), 'mqar')
  data = {l: load_dataset(seq_len_scaling.curve_data_config(config, 'mqar', l, 256), seed=0)
          for l in LENGTHS}
  info = data[8].info
  print('guessing:', [round(data[l].guessing_accuracy, 3) for l in LENGTHS])
  for taps in (int(t) for t in args.taps.split(',')):
    transformer.LinearAttention = with_short_conv(taps) if taps else PLAIN
    for width in (int(w) for w in args.widths.split(',')):
      point = seq_len_scaling.point_config(config, 'linear_attention', 64, width, task='mqar',
                                           max_len=256)
      point.train.num_steps = args.max_steps
      protocol = capability.Protocol(LENGTHS, LENGTHS, 64, 100, args.max_steps, 0, 0.99)
      programs, _ = capability.compile_programs(
          point, build_model(point.model, info), info, protocol,
          {(0, l): data[l] for l in LENGTHS}, [data[l] for l in LENGTHS], 256)
      member = capability.new_member(programs.init, 0, args.rate, len(LENGTHS))
      start = time.perf_counter()
      for until in range(100, args.max_steps + 1, 100):
        capability.train_member(member, programs, protocol, until)
        accuracy = ' '.join(f'{a:.2f}' for a in member.curve.final_accuracy)
        print(f'taps={taps} width={width} step={member.curve.steps_trained}: {accuracy}',
              flush=True)
        if member.curve.steps_trained < until:
          break
      print(f'taps={taps} width={width}: {time.perf_counter() - start:.0f} s', flush=True)


if __name__ == '__main__':
  main()
