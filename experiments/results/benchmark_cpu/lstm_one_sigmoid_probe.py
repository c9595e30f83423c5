"""The LSTM's gate activations two ways, in the sequence-length study's LSTM shapes
(`benchmark.py:study`: 2 layers, a dense head on every step), taking turns in one process
(`benchmark.time_alternating`, medians of 9 after 2 warm-up steps):

  four  sigmoid(i), sigmoid(f), tanh(g), sigmoid(o) of the split blocks (before 2026-12-07)
  one   one sigmoid over all four blocks, tanh(g) = 2 sigmoid(2 g) - 1 (`recurrent.lstm_gates`)

for the train step, its forward pass alone (the loss) and a one-token decode step.

    PYTHONPATH=. python experiments/results/benchmark_cpu/lstm_one_sigmoid_probe.py [shape,...]

Results in this folder's README.md.
"""
import sys

import flax.linen as nn
import jax.numpy as jnp

from attn_jax.models import recurrent
from attn_jax.studies.benchmark import benchmark
from experiments.configs import benchmark as benchmark_config

DEFAULT_SHAPES = ('lstm_w76_b64_L16,lstm_w76_b64_L64,lstm_w76_b64_L256,lstm_w39_b16_L64,'
                  'lstm_w39_b16_L256')


def four_activations(z):
  i, f, g, o = jnp.split(z, 4, axis=-1)
  return nn.sigmoid(i), nn.sigmoid(f), jnp.tanh(g), nn.sigmoid(o)


def main():
  config = benchmark_config.get_config('study')
  names = (sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SHAPES).split(',')
  shapes = {s.name: s for s in benchmark.study_shapes(config.study_shapes)}
  one_sigmoid = recurrent.lstm_gates
  for name in names:
    sides = {}
    for side, gates in (('four', four_activations), ('one', one_sigmoid)):
      recurrent.lstm_gates = gates  # read while tracing, at the first calls below
      train, decode = benchmark.cases_of(config, shapes[name])
      forward = train.phases['forward'][0]
      for fn in (train.ours, forward, decode.ours):
        fn()
      sides.update({side: train.ours, f'{side} forward': forward, f'{side} decode': decode.ours})
    recurrent.lstm_gates = one_sigmoid
    median = benchmark.time_alternating(sides, warmup=2, timed=9)
    ratio = lambda part: median[f'one{part}'] / median[f'four{part}']
    print(f'{name}: ' + ', '.join(f'{k} {1e3 * v:.2f} ms' for k, v in median.items()) +
          f'; one/four: step {ratio(""):.2f}, forward {ratio(" forward"):.2f}, '
          f'decode {ratio(" decode"):.2f}', flush=True)


if __name__ == '__main__':
  main()
