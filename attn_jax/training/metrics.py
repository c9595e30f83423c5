"""Metric writers: `DIR/metrics.jsonl` (contract: docs/design.md §3.2) and TensorBoard events."""
import json
import math
import os

from tensorboardX import SummaryWriter

from attn_jax import durable
from attn_jax.training import disk_full


class MetricsWriter:
  """Appends one JSON line per (step, split) and mirrors scalars to `DIR/events/`.

  Lines are strict JSON (RFC 8259 has no NaN or Infinity): a non-finite value is written as null,
  and the line counts them in `nonfinite_values`. Only the process that is given `enabled=True`
  (process 0) writes anything.
  """

  def __init__(self, workdir: str, *, enabled: bool = True):
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self.enabled = enabled
    self.events = SummaryWriter(os.path.join(workdir, 'events')) if enabled else None

  def drop_after(self, step: int):
    """Removes lines logged after `step` by a run that stopped before its next checkpoint (and a
    last line cut short), rewriting the file atomically; TensorBoard hides the events of those
    steps (`purge_step`), so it shows each step's value from the run that continued."""
    if not self.enabled:
      return
    if len(os.listdir(self.events.logdir)) > 1:  # an earlier start wrote events, maybe later ones
      self.events.close()
      self.events = SummaryWriter(self.events.logdir, purge_step=step + 1)
    if os.path.exists(self.path):
      durable.write_text(self.path, ''.join(line for line in durable.complete_lines(self.path)
                                            if json.loads(line)['step'] <= step))

  def write(self, step: int, split: str, metrics: dict[str, float]):
    if not self.enabled:
      return
    values = {k: float(v) for k, v in metrics.items()}
    record = {'step': int(step), 'split': split,
              **{k: v if math.isfinite(v) else None for k, v in values.items()}}
    nonfinite = sum(not math.isfinite(v) for v in values.values())
    if nonfinite:
      record['nonfinite_values'] = nonfinite
    durable.crash_point(f'{split}_line')  # test hook: killed before this line is written
    with disk_full.saving(os.path.dirname(self.path), f'step {step}'):
      durable.append_line(self.path, json.dumps(record, allow_nan=False))
      for name, value in metrics.items():
        self.events.add_scalar(f'{split}/{name}', value, step)
      self.events.flush()

  def write_events(self, step: int, scalars: dict[str, float] = None,
                   texts: dict[str, str] = None):
    """Scalars and texts (e.g. `samples/1`, a language model's continuation) under their tags in
    `DIR/events/` only (not `metrics.jsonl`)."""
    if not self.enabled:
      return
    for tag, value in (scalars or {}).items():
      self.events.add_scalar(tag, value, step)
    for tag, text in (texts or {}).items():
      self.events.add_text(tag, text, step)
    self.events.flush()

  def write_hparams(self, step: int, settings: dict, final: dict[str, float]):
    """TensorBoard's HParams view: `settings` (the flattened config, `{'train.num_steps': 12}`)
    against the final eval metrics (`eval/<name>`) of a session that finished at `step`, as the
    run `events/hparams_step<step>` (one HParams row per finished start of the workdir)."""
    if not self.enabled:
      return
    values = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
              for k, v in settings.items()}
    self.events.add_hparams(values, {f'eval/{k}': v for k, v in final.items()},
                            name=f'hparams_step{step}', global_step=step)

  def close(self):
    if self.enabled:
      self.events.close()


def read_metrics(workdir: str) -> list[dict]:
  """All complete lines of `DIR/metrics.jsonl`, in order (empty if there is none); a null
  (non-finite) value reads as NaN."""
  return [{k: math.nan if v is None else v for k, v in json.loads(line).items()}
          for line in durable.complete_lines(os.path.join(workdir, 'metrics.jsonl'))]
