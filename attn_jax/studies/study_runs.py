"""What the studies that train several runs share: training a run once (resumable, its wall time
kept), and writing their CSV tables (markdown: `attn_jax.tables`)."""
import json
import os
import time

import jax

from attn_jax import durable
from attn_jax.training import disk_full
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
    durable.write_json(path, {'num_steps': config.train.num_steps, 'train_s': seconds})
  return seconds


def write_csv(path: str, rows: list[dict], columns=None):
  """Replaces `path` with `rows` as CSV (the header `columns`, by default the first row's keys)
  atomically, so that a crash leaves the old table or the new one, never a half row
  (docs/design.md §3.5); a full disk is one `error:` line that leaves the old table in place."""
  workdir = os.path.dirname(os.path.abspath(path))
  with disk_full.saving(workdir, os.path.basename(path),
                        intact=f'{os.path.basename(path)} as saved before is intact'):
    durable.write_csv(path, rows, columns or list(rows[0]))

