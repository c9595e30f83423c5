"""What the studies that train several runs share: training a run once (resumable, its wall time
kept). Their tables are written by `attn_jax.tables`."""
import json
import os
import time

import jax

from attn_jax.training.loop import train_and_evaluate


def train_once(config, workdir: str) -> float:
  """Trains (or resumes) into `workdir`; returns the training wall time in seconds (compilation
  and evaluation included), kept in `DIR/train_time.json` so that a rerun reports it again."""
  path = os.path.join(workdir, 'train_time.json')
  recorded = None
  if os.path.exists(path):
    with open(path) as f:
      recorded = json.load(f)
  start = time.perf_counter()
  train_and_evaluate(config, workdir)
  seconds = time.perf_counter() - start
  if recorded and recorded['num_steps'] == config.train.num_steps:
    return recorded['train_s']
  if jax.process_index() == 0:
    with open(path, 'w') as f:
      json.dump({'num_steps': config.train.num_steps, 'train_s': seconds}, f)
  return seconds
