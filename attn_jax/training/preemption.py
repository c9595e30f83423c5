"""Stopping a training run cleanly on SIGTERM or SIGINT (a scheduler's preemption, Ctrl-C).

The signal handler only records the signal. The loop asks `should_stop(step)` after every step;
when it answers True the loop logs, saves a checkpoint at that step, closes its writers and
raises `Preempted`, which `launch.py` turns into one line and exit status 0:

    stopped at step N by SIGTERM; checkpoint saved; rerun the same command to continue

Exit status 0, because the stop was handled and nothing is lost: schedulers (SLURM's `--requeue`,
Kubernetes) treat a non-zero status as a failed job, and rerunning the same command resumes.
Further signals while the checkpoint is written are noted and ignored, so that a second Ctrl-C or
a repeated SIGTERM cannot leave a half-written checkpoint (SIGKILL still ends the process; orbax
writes each step to a temporary folder and renames it when complete, so a killed save leaves the
previous checkpoint readable).

Several processes (jax.distributed): every process must stop at the same step, or the others
would wait forever in the next collective. JAX's preemption service (started by
`jax.distributed.initialize`) catches SIGTERM, tells every process, and agrees on a step;
`jax.experimental.multihost_utils.reached_preemption_sync_point(step)` answers True on every
process at that step. So with several processes SIGTERM is left to JAX, and SIGINT is passed on to
it as a SIGTERM to this process.
"""
import os
import signal
import sys
import threading

import jax
from jax.experimental import multihost_utils

from attn_jax.errors import Preempted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal:
  """Context manager: while active, SIGTERM and SIGINT ask the run to stop after its current step.

  Outside the main thread (where Python cannot install signal handlers) it does nothing and
  signals keep their usual effect.
  """

  def __init__(self):
    self.signal_name = None
    self.stopped_at = None  # the step `should_stop` said to stop after
    self._previous = {}
    self._multi_process = jax.process_count() > 1

  def __enter__(self):
    if threading.current_thread() is not threading.main_thread():
      return self
    # With several processes, JAX's preemption service owns SIGTERM (see the module docstring).
    for signum in ((signal.SIGINT,) if self._multi_process else SIGNALS):
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}
    return False

  def _handle(self, signum, frame):
    del frame
    name = signal.Signals(signum).name
    if self.signal_name is not None:
      print(f'{name} received again: still stopping, the checkpoint is being saved',
            file=sys.stderr, flush=True)
      return
    self.signal_name = name
    print(f'{name} received: stopping after the current step and saving a checkpoint',
          file=sys.stderr, flush=True)
    if self._multi_process:
      os.kill(os.getpid(), signal.SIGTERM)  # to JAX's preemption service, which tells the others

  def should_stop(self, step: int) -> bool:
    """Whether to save and stop after `step` (the number of steps done); the same answer on every
    process. Call it after every step."""
    if self._multi_process:
      stop = multihost_utils.reached_preemption_sync_point(step)
      if stop and self.signal_name is None:
        self.signal_name = 'SIGTERM'  # the preemption service's signal, here or on another host
    else:
      stop = self.signal_name is not None
    if stop:
      self.stopped_at = step
    return stop

  def raise_if_stopped(self):
    """Raises `Preempted` if the run was stopped (call after the checkpoint is saved)."""
    if self.stopped_at is not None:
      raise Preempted(self.stopped_at, self.signal_name)
