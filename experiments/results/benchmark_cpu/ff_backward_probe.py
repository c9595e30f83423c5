"""Probe (issue 26 item 4): do the transformer's feed-forward backward products run slower
inside the train step than alone, or do they share the cores with other operations?

The benchmark's transformer train step (`TransformerLM`, 4 pre-LN blocks, d256, 4 heads, MLP
1024, batch 16, L=512, blocked attention; `experiments/configs/benchmark.py`) is traced with
`jax.profiler` for 3 steps after 2 warm-up steps. For every traced event of a feed-forward
backward product (HLO matmul whose JAX name holds `feed_forward` and `transpose(jvp`), it prints
its duration and the share of that duration during which another operation ran on another
thread. Then the same products alone, jitted, medians of 10: the input gradient `dY W^T`
(`[8192, 1024] x [1024, 256]`) and the weight gradient `X^T dY` (`[8192, 256]^T x [8192, 1024]`),
one at a time and both in one program.

    python experiments/results/benchmark_cpu/ff_backward_probe.py [HLO_PATH]
"""
import collections
import importlib.util
import os
import statistics
import sys
import time

import jax

from attn_jax.studies.benchmark import benchmark, step_profile

LENGTH, STEPS = 512, 3
CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'configs', 'benchmark.py')


def benchmark_config():
  """`experiments/configs/benchmark.py`'s config (loaded by path: its folder holds a `copy.py`
  that must not shadow the standard library's)."""
  spec = importlib.util.spec_from_file_location('benchmark_config', CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def overlap_share(event, others) -> float:
  """Share of `event`'s duration during which an event of `others` (other threads) ran."""
  start, end = event['ts'], event['ts'] + event['dur']
  spans = sorted((max(start, o['ts']), min(end, o['ts'] + o['dur'])) for o in others
                 if o['ts'] < end and o['ts'] + o['dur'] > start)
  covered, reach = 0.0, start
  for lo, hi in spans:
    lo = max(lo, reach)
    if hi > lo:
      covered, reach = covered + hi - lo, hi
  return covered / event['dur'] if event['dur'] else 0.0


def in_step():
  config = benchmark_config()
  step, args, *_ = benchmark.transformer_train(config.seed, config.transformer, LENGTH, 'blocked')
  text = step.lower(*args).compile().as_text()
  if len(sys.argv) > 1:  # a path: the optimised HLO of the step is written there
    with open(sys.argv[1], 'w') as f:
      f.write(text)
  hlo = step_profile.instructions(text)
  run = benchmark.blocking(step, list(args))
  for _ in range(2):
    run()
  start = time.perf_counter()
  events = step_profile.trace_events(run, STEPS)
  wall = (time.perf_counter() - start) / STEPS
  ops = [e for e in events if e['name'] in hlo]
  ff = [e for e in ops if hlo[e['name']].op_class == 'matmul'
        and 'feed_forward' in hlo[e['name']].op_name and 'transpose(jvp' in hlo[e['name']].op_name]
  by_name = collections.defaultdict(list)
  for e in ff:
    others = [o for o in ops if o['tid'] != e['tid']]
    by_name[e['name']].append((e['dur'] / 1e3, overlap_share(e, others)))
  print(f'train step L={LENGTH}: {wall * 1e3:.0f} ms per traced step')
  for name, rows in sorted(by_name.items(), key=lambda kv: -statistics.median(r[0] for r in kv[1])):
    print(f'  {name:16s} {hlo[name].op_name[-60:]:60s} '
          f'{statistics.median(r[0] for r in rows):6.1f} ms, '
          f'overlapped {statistics.median(r[1] for r in rows):4.0%}')
  total = sum(e['dur'] for e in ff) / 1e3 / STEPS
  print(f'  feed-forward backward products: {total:.0f} ms per step summed over events')


def alone():
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (8192, 256))
  w = jax.random.normal(keys[1], (256, 1024))
  dy = jax.random.normal(keys[2], (8192, 1024))
  programs = {'dY W^T': jax.jit(lambda dy, w: dy @ w.T),
              'X^T dY': jax.jit(lambda x, dy: x.T @ dy),
              'both in one program': jax.jit(lambda x, w, dy: (dy @ w.T, x.T @ dy))}
  inputs = {'dY W^T': (dy, w), 'X^T dY': (x, dy), 'both in one program': (x, w, dy)}
  for name, fn in programs.items():
    run = lambda fn=fn, args=inputs[name]: jax.block_until_ready(fn(*args))
    median = benchmark.time_alternating({name: run}, 2, 10)[name]
    flops = 2 * 8192 * 256 * 1024 * (2 if name.startswith('both') else 1)
    print(f'alone: {name:20s} {median * 1e3:6.1f} ms, {flops / median / 1e9:.0f} GFLOP/s')


if __name__ == '__main__':
  in_step()
  alone()
