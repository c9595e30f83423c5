"""Probe: the mean held-out accuracy of one mqar member per (model, width, rate) at every check,
what a rule stopping stalled members would see (experiments/results/seq_len_scaling_cpu/README.md).

The default study's mqar curve (L = 8, 16, 32, 64; batch 64, constant rate after 50 warm-up
steps, checked every 100 steps), seed 0, no stopping: prints, per member, its seconds and the
mean accuracy over the four lengths after each check.

  PYTHONPATH=. python experiments/results/seq_len_scaling_cpu/stall_probe.py \
      transformer:32:1e-3,transformer:64:1e-3,transformer:16:1e-3,lstm:76:3e-3,\
linear_attention:64:3e-3,gru:88:3e-3,rnn:149:1e-3 1500
"""
import sys
import time

import numpy as np

from attn_jax.data import load_dataset
from attn_jax.models.registry import build_model
from attn_jax.studies.seq_len_scaling import capability, settings
from attn_jax.studies.seq_len_scaling import seq_len_scaling as S
from experiments.configs import seq_len_scaling as cfgmod

specs = [s.split(':') for s in sys.argv[1].split(',')]  # model:width:rate
max_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1200
config = cfgmod.get_config('cpu')
tc = settings.per_task_config(config, 'mqar')
lengths = (8, 16, 32, 64)
evals = lengths
for model, width, rate in specs:
  width, rate = int(width), float(rate)
  data = {l: load_dataset(S.curve_data_config(tc, 'mqar', l, 256), seed=0) for l in lengths}
  point = S.point_config(tc, model, 64, width, task='mqar', max_len=256)
  point.train.num_steps = max_steps
  info = data[8].info
  m = build_model(point.model, info)
  protocol = capability.Protocol(lengths, evals, 64, 100, max_steps, 0, 0.99)
  programs, cs = capability.compile_programs(point, m, info, protocol, {(0, l): data[l] for l in lengths}, [data[l] for l in evals], 256)
  member = capability.new_member(programs.init, 0, rate, len(evals))
  hist = []
  t0 = time.perf_counter()
  for until in range(100, max_steps + 1, 100):
    capability.train_member(member, programs, protocol, until)
    if member.curve.steps_trained < until: break
    hist.append(round(float(np.mean(member.curve.final_accuracy)), 3))
  print(f'{model}:{width}:{rate} {time.perf_counter()-t0:.0f}s', ' '.join(map(str, hist)), flush=True)
