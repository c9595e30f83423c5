"""Points N at a time on this machine, each on its share of the cores, with one progress line.

On SIGTERM or SIGINT the sweep starts nothing more, passes SIGTERM to its running points (each
saves a checkpoint and stops: docs/design.md §3.5) and waits for them; rerunning the sweep's
command resumes them.
"""
import os
import signal
import time

from attn_jax import progress
from attn_jax.sweep import point_runs, record

POLL_S = 0.5  # how often running points are checked


class _Stop:
  """Notes SIGTERM / SIGINT (the sweep's own handlers, for the sweep's lifetime)."""

  def __init__(self):
    self.signal_name, self.passed_on = None, False
    for signum in (signal.SIGTERM, signal.SIGINT):
      signal.signal(signum, self._handle)

  def _handle(self, signum, frame):
    del frame
    self.signal_name = self.signal_name or signal.Signals(signum).name


def run(sweep_dir: str, points: list[dict], parallel: int, *, done_before: int = 0) -> dict:
  """Runs `points` (record entries), `parallel` at a time; returns {name: state} of those it
  started or found busy, and `signal` (the signal that stopped the sweep, or None)."""
  cores = sorted(os.sched_getaffinity(0))
  queue, running, states, stop = list(points), {}, {}, _Stop()
  bar = progress.bar(total=done_before + len(points), initial=done_before, desc='sweep',
                     unit='point')
  while (queue and not stop.signal_name) or running:
    for slot in sorted(set(range(parallel)) - set(running)):
      if queue and not stop.signal_name:
        _start(sweep_dir, queue.pop(0), slot, point_runs.core_share(slot, parallel, cores),
               running, states)
    time.sleep(POLL_S)
    if stop.signal_name and not stop.passed_on:
      stop.passed_on = True
      for _, process in running.values():
        process.send_signal(signal.SIGTERM)
    for slot, (name, process) in list(running.items()):
      if process.poll() is not None:
        del running[slot]
        states[name] = point_runs.end(sweep_dir, name, process.returncode)
        bar.set_postfix(running=len(running), failed=list(states.values()).count('failed'))
        _report(bar, sweep_dir, name, states[name])
  bar.close()
  return {'states': states, 'signal': stop.signal_name}


def _start(sweep_dir: str, point: dict, slot: int, cores: list[int], running: dict,
           states: dict):
  """Starts `point` in `slot` unless another process holds its workdir (then it is busy)."""
  if point_runs.is_busy(record.point_dir(sweep_dir, point['name'])):
    states[point['name']] = 'busy'
    return
  running[slot] = (point['name'], point_runs.begin(sweep_dir, point, cores))


def _report(bar, sweep_dir: str, name: str, state: str):
  """Counts a finished or failed point on the bar; writes a failed point's error line."""
  if state in (record.FINISHED, 'failed'):
    bar.update(1)
  if state == 'failed':
    error = next(p for p in record.read(sweep_dir)['points'] if p['name'] == name)['error']
    bar.write(f'{name}: failed: {error}')
