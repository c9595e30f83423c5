"""Metric writers: `DIR/metrics.jsonl` (the contract of DESIGN §3.2) and TensorBoard events."""
import json
import os

from tensorboardX import SummaryWriter


class MetricsWriter:
  """Appends one JSON line per (step, split) and mirrors scalars to `DIR/events/`.

  Only the process that is given `enabled=True` (process 0) writes anything.
  """

  def __init__(self, workdir: str, *, enabled: bool = True):
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self.enabled = enabled
    self.events = SummaryWriter(os.path.join(workdir, 'events')) if enabled else None

  def drop_after(self, step: int):
    """Removes lines logged after `step` by a run that stopped before its next checkpoint."""
    if not self.enabled or not os.path.exists(self.path):
      return
    with open(self.path) as f:
      kept = [line for line in f if json.loads(line)['step'] <= step]
    with open(self.path, 'w') as f:
      f.writelines(kept)

  def write(self, step: int, split: str, metrics: dict[str, float]):
    if not self.enabled:
      return
    record = {'step': int(step), 'split': split, **{k: float(v) for k, v in metrics.items()}}
    with open(self.path, 'a') as f:
      f.write(json.dumps(record) + '\n')
    for name, value in metrics.items():
      self.events.add_scalar(f'{split}/{name}', value, step)
    self.events.flush()

  def close(self):
    if self.enabled:
      self.events.close()


def read_metrics(workdir: str) -> list[dict]:
  """All lines of `DIR/metrics.jsonl`, in order (empty if there is none)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f]
