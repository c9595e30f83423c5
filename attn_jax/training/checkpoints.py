"""Orbax checkpoints of the train state, the base PRNG key and the data position.

The data position is the number of steps taken: batches are a pure function of (seed, step), so
restoring the step restores the data order exactly.
"""
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:
  """Saves every `checkpoint_every` steps (and on demand), keeps the newest `keep`."""

  def __init__(self, workdir: str, *, keep: int):
    self.manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, 'checkpoints')),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def save(self, state, base_key: jax.Array, examples_seen: int):
    """Saves an unreplicated state (host arrays) at `state.step`; waits until it is written."""
    step = int(state.step)
    meta = {'step': step, 'examples_seen': int(examples_seen),
            'base_key': np.asarray(jax.random.key_data(base_key)).tolist()}
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(jax.device_get(state)), meta=ocp.args.JsonSave(meta)),
        force=True)
    self.manager.wait_until_finished()

  def restore_latest(self, template_state):
    """The newest readable checkpoint as `(state, base_key)`, or None when there is none.

    A checkpoint that cannot be read is skipped with a warning, falling back to the one before.
    """
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(jax.device_get(template_state)),
            meta=ocp.args.JsonRestore()))
      except Exception as error:  # pylint: disable=broad-except  # any unreadable file
        logging.warning('checkpoint at step %d cannot be read (%s); trying the one before',
                        step, error)
        continue
      base_key = jax.random.wrap_key_data(np.asarray(restored.meta['base_key'], np.uint32))
      return restored.state, base_key
    return None

  def close(self):
    self.manager.close()
