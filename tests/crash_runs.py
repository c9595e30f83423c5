"""A tiny training run started, killed (SIGKILL) and restarted by the same command, and what its
workdir holds: the final train state and the metrics (tests/test_crash_consistency.py)."""
import os
import signal

import jax
import numpy as np
import orbax.checkpoint as ocp
from tensorboard.backend.event_processing import event_accumulator

from attn_jax.durable import CRASH_AT
from launcher import finish, metric_lines, start

# iris_mlp with dropout (so the restored PRNG key matters): 12 steps, an evaluation and a
# checkpoint every 4 steps (the oldest deleted), a train line every 3 steps and at checkpoints.
TINY = ('model.dropout_rate=0.1', 'train.num_steps=12', 'train.log_every=3',
        'train.eval_every=4', 'train.checkpoint_every=4', 'train.keep_checkpoints=2')
CONFIG = 'iris_mlp.py:mlp'
TRAIN_STEPS = [3, 4, 6, 8, 9, 12]  # the train lines of that run
EVAL_STEPS = [4, 8, 12]
TIMING = ('steps_per_s', 'tokens_per_s', 'step_ms')  # wall-clock: the only values allowed to differ


def run(workdir, *overrides, crash_at: str = '', kill_after: float = 0, timeout: float = 300):
  """Runs the tiny config in `workdir`; `crash_at` kills it at a `durable.crash_point`,
  `kill_after` (seconds) from outside. Returns the CompletedProcess."""
  process = start(CONFIG, workdir, *TINY, *overrides, env={CRASH_AT: crash_at})
  if kill_after:
    try:
      process.wait(timeout=kill_after)
    except Exception:  # pylint: disable=broad-except  # still running: the moment to kill
      process.send_signal(signal.SIGKILL)
  return finish(process, timeout)


def killed(result) -> bool:
  return result.returncode == -signal.SIGKILL


def final_state(workdir) -> dict:
  """The train state of the newest checkpoint, as numpy arrays (no template: orbax's tree)."""
  manager = ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), 'checkpoints'))
  step = manager.latest_step()
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  return jax.tree.map(np.asarray, restored.state)


def state_differences(a: dict, b: dict) -> list[str]:
  """The paths of leaves that are not bitwise equal (or differ in structure)."""
  flat_a = dict(jax.tree_util.tree_flatten_with_path(a)[0])
  flat_b = dict(jax.tree_util.tree_flatten_with_path(b)[0])
  if flat_a.keys() != flat_b.keys():
    return ['tree structure']
  return [jax.tree_util.keystr(k) for k in flat_a if not np.array_equal(flat_a[k], flat_b[k])]


def metrics_without_timing(workdir) -> list[dict]:
  return [{k: v for k, v in line.items() if k not in TIMING}
          for split in ('train', 'eval') for line in metric_lines(workdir, split)]


def tensorboard_scalars(workdir, tag: str) -> dict[int, list[float]]:
  """step -> the values TensorBoard shows for `tag` (events purged on resume left out)."""
  events = event_accumulator.EventAccumulator(os.path.join(workdir, 'events'))
  events.Reload()
  shown = {}
  for event in events.Scalars(tag):
    shown.setdefault(event.step, []).append(event.value)
  return shown
