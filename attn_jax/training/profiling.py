"""Tracing a range of training steps with `jax.profiler` into `DIR/profile/`.

`train.profile_steps='A,B'` traces the updates after step A up to step B (steps taken; B - A
updates), waiting for the last to finish. The trace is TensorBoard's (`tensorboard --logdir
DIR/profile`, Profile tab, with the `tensorboard-plugin-profile` package) and Perfetto's
(`DIR/profile/plugins/profile/<time>/perfetto_trace.json.gz`, open in https://ui.perfetto.dev).
Choose steps after the first, which compiles.
"""
import os

import jax

from attn_jax.errors import ConfigError


def parse_steps(setting: str, num_steps: int) -> tuple[int, int] | None:
  """`'A,B'` -> `(A, B)`; `''` -> None.

  Raises:
    ConfigError('train.profile_steps', ...): not two steps with 0 <= A < B <= num_steps.
  """
  if not setting:
    return None
  parts = str(setting).split(',')
  if len(parts) == 2 and all(p.strip().isdecimal() for p in parts):
    first, last = (int(p) for p in parts)
    if first < last <= num_steps:
      return first, last
  raise ConfigError('train.profile_steps', f'accepted: empty (off) or "A,B", steps with 0 <= A < '
                    f'B <= train.num_steps ({num_steps}), e.g. "10,15"; got {setting!r}')


class StepTracer:
  """Calls `jax.profiler.start_trace` before the update after step A and `stop_trace` once the
  update to step B has finished (or at `close`, if the loop ends first)."""

  def __init__(self, setting: str, num_steps: int, workdir: str):
    self.steps = parse_steps(setting, num_steps)
    self.directory = os.path.join(workdir, 'profile')
    self.tracing = False

  def before(self, step: int):
    """Before the update from `step` steps taken (a run resumed inside the range starts there)."""
    if self.steps and not self.tracing and self.steps[0] <= step < self.steps[1]:
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True)
      self.tracing = True

  def after(self, done: int, outputs):
    """After dispatching the update to step `done`, whose results are `outputs`."""
    if self.tracing and done == self.steps[1]:
      jax.block_until_ready(outputs)
      self.close()

  def close(self):
    if self.tracing:
      jax.profiler.stop_trace()
      self.tracing = False
