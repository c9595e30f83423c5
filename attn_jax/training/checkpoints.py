"""Orbax checkpoints of the train state, the base PRNG key and the data position.

The data position is the number of steps taken: batches are a pure function of (seed, step), so
restoring the step restores the data order exactly.
"""
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from attn_jax import durable
from attn_jax.training import disk_full


BEST = 'best_checkpoint'  # `DIR/best_checkpoint/<step>/`: the best by `train.best_metric`
MINIMISED = ('loss', 'perplexity')  # eval metrics where lower is better; higher for the others


class Checkpointer:
  """Saves every `checkpoint_every` steps (and on demand), keeps the newest `keep`.

  With `best_metric` (an eval metric's name) it keeps instead the `keep` best by that metric
  (lowest for `MINIMISED`, else highest), given to `save` as `metrics`; `DIR/<subdir>/` holds
  them (`checkpoints`, or `BEST` for the best).
  """

  def __init__(self, workdir: str, *, keep: int, subdir: str = 'checkpoints',
               best_metric: str = ''):
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, subdir)
    best = dict(best_fn=lambda metrics: metrics[best_metric],
                best_mode='min' if best_metric in MINIMISED else 'max') if best_metric else {}
    self.manager = ocp.CheckpointManager(
        self.directory,
        # A save killed midway leaves a temporary folder: removed when the next run starts.
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             cleanup_tmp_directories=True, **best))

  def save(self, state, base_key: jax.Array, examples_seen: int,
           metrics: dict[str, float] | None = None):
    """Saves an unreplicated state (host arrays) at `state.step`, with the eval `metrics` that
    rank it for a best-keeping Checkpointer; waits until it is written.

    Orbax writes into a temporary folder and renames it to `<step>` once complete, so a crash
    or a full disk (`disk_full.saving`: one `error:` line) leaves the previous checkpoints intact.
    """
    step = int(state.step)
    meta = {'step': step, 'examples_seen': int(examples_seen),
            'base_key': np.asarray(jax.random.key_data(base_key)).tolist()}
    with disk_full.saving(self.workdir, f'step {step}'):
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(jax.device_get(state)), meta=ocp.args.JsonSave(meta)),
          metrics=metrics, force=True)
      durable.crash_point('checkpoint_write')  # test hook: the write is under way
      self.manager.wait_until_finished()

  def steps(self) -> list[int]:
    """The steps saved, oldest first."""
    return sorted(self.manager.all_steps())

  def restore(self, step: int, template_state=None):
    """The checkpoint at `step` as `(state, base_key)`; with no `template_state` the state is
    the nested dict of arrays as saved (`params`, `opt_state`, `step`)."""
    template = None if template_state is None else jax.device_get(template_state)
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()))
    base_key = jax.random.wrap_key_data(np.asarray(restored.meta['base_key'], np.uint32))
    return restored.state, base_key

  def restore_latest(self, template_state):
    """The newest readable checkpoint as `(state, base_key)`, or None when there is none.

    A checkpoint that cannot be read is moved to `DIR/unreadable_checkpoints/` with a warning
    (so that training can save that step again), falling back to the one before.
    """
    for step in reversed(self.steps()):
      try:
        return self.restore(step, template_state)
      except Exception as error:  # pylint: disable=broad-except  # any unreadable file
        self._move_aside(step, error)
    return None

  def _move_aside(self, step: int, error: Exception):
    aside = os.path.join(self.workdir, 'unreadable_checkpoints', str(step))
    logging.warning('checkpoint at step %d cannot be read (%s); moved to %s, trying the one '
                    'before', step, error, aside)
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(aside), exist_ok=True)
      os.replace(os.path.join(self.directory, str(step)), aside)
    self.manager.reload()

  def close(self):
    self.manager.close()
