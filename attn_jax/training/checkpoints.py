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


class Checkpointer:
  """Saves every `checkpoint_every` steps (and on demand), keeps the newest `keep`."""

  def __init__(self, workdir: str, *, keep: int):
    self.workdir = os.path.abspath(workdir)
    self.manager = ocp.CheckpointManager(
        os.path.join(self.workdir, 'checkpoints'),
        # A save killed midway leaves a temporary folder: removed when the next run starts.
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             cleanup_tmp_directories=True))

  def save(self, state, base_key: jax.Array, examples_seen: int):
    """Saves an unreplicated state (host arrays) at `state.step`; waits until it is written.

    Orbax writes into a temporary folder and renames it to `<step>` once complete, so a crash
    or a full disk (`disk_full.saving`: one `error:` line) leaves the previous checkpoints intact.
    """
    step = int(state.step)
    meta = {'step': step, 'examples_seen': int(examples_seen),
            'base_key': np.asarray(jax.random.key_data(base_key)).tolist()}
    with disk_full.saving(self.workdir, f'step {step}'):
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(jax.device_get(state)), meta=ocp.args.JsonSave(meta)),
          force=True)
      durable.crash_point('checkpoint_write')  # test hook: the write is under way
      self.manager.wait_until_finished()

  def restore_latest(self, template_state):
    """The newest readable checkpoint as `(state, base_key)`, or None when there is none.

    A checkpoint that cannot be read is moved to `DIR/unreadable_checkpoints/` with a warning
    (so that training can save that step again), falling back to the one before.
    """
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(jax.device_get(template_state)),
            meta=ocp.args.JsonRestore()))
      except Exception as error:  # pylint: disable=broad-except  # any unreadable file
        self._move_aside(step, error)
        continue
      base_key = jax.random.wrap_key_data(np.asarray(restored.meta['base_key'], np.uint32))
      return restored.state, base_key
    return None

  def _move_aside(self, step: int, error: Exception):
    aside = os.path.join(self.workdir, 'unreadable_checkpoints', str(step))
    logging.warning('checkpoint at step %d cannot be read (%s); moved to %s, trying the one '
                    'before', step, error, aside)
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(aside), exist_ok=True)
      os.replace(os.path.join(self.workdir, 'checkpoints', str(step)), aside)
    self.manager.reload()

  def close(self):
    self.manager.close()
