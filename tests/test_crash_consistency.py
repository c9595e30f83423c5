"""kill -9 at each named moment of a training run, then the same command again: the run ends with
the parameters, optimizer state and metrics of an uninterrupted run, bitwise (same machine, XLA on
CPU is deterministic), every step logged once in metrics.jsonl and shown once by TensorBoard.

The moments are aimed with `attn_jax.durable.crash_point` (ATTN_JAX_CRASH_AT=name[:n]); the random
kills of the slow test land anywhere. `python -m pytest -m slow tests/test_crash_consistency.py`
runs the slow one: every start of `launch.py` imports JAX and compiles, so it takes long (its
first attempt ran 38 minutes for 2 runs and about 14 starts, on 2 cores at load average 14).
"""
import collections
import os
import random
import re
import time

import pytest

from attn_jax.training.disk_full import checkpoint_steps
from attn_jax.training.metrics import read_metrics
from crash_runs import (EVAL_STEPS, TRAIN_STEPS, final_state, killed, metrics_without_timing,
                        run, state_differences, tensorboard_scalars)

# (moment, how it is reached); each kill resumes from the newest complete checkpoint.
MOMENTS = (
    ('during the first checkpoint write (step 4): none is complete yet, the rerun starts over',
     dict(crash_at='checkpoint_write:1')),
    ('mid-interval: before the train line of step 6', dict(crash_at='train_line:3')),
    ('during the evaluation at step 8, before its line', dict(crash_at='eval_line:1')),
    ('during the final checkpoint write (step 12)', dict(crash_at='checkpoint_write:2')),
    ('start-up, 1 s after launch', dict(kill_after=1.0)),
)


_SECONDS = {}  # workdir -> wall time of its uninterrupted run


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('uninterrupted')
  started = time.time()
  result = run(workdir)
  _SECONDS[workdir] = time.time() - started
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def uninterrupted_seconds(workdir) -> float:
  return _SECONDS[workdir]


def assert_same_run(workdir, reference):
  assert state_differences(final_state(workdir), final_state(reference)) == []
  lines = metrics_without_timing(workdir)
  keys = [(line['split'], line['step']) for line in lines]
  assert keys == [('train', s) for s in TRAIN_STEPS] + [('eval', s) for s in EVAL_STEPS]
  assert lines == metrics_without_timing(reference)  # bitwise: floats compared with ==
  shown = tensorboard_scalars(workdir, 'train/loss')
  assert shown == {s: v[:1] for s, v in tensorboard_scalars(reference, 'train/loss').items()}
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['12', '8']  # no tmp left


def test_killed_at_each_moment_and_rerun_equals_uninterrupted(tmp_path, uninterrupted):
  workdir = tmp_path / 'run'
  for moment, how in MOMENTS:  # one workdir: each rerun resumes from the kill before it
    result = run(workdir, **how)
    assert killed(result), (moment, result.returncode, result.stderr[-3000:])
  result = run(workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  assert_same_run(workdir, uninterrupted)


def _kill_figures(workdir, result, resumed_from: int) -> dict:
  """What one kill did: where it landed, the newest complete checkpoint after it, and the steps
  the killed process had taken past that checkpoint (lost: the next run takes them again)."""
  progress = [int(m) for m in re.findall(r'(\d+)/12 step', result.stderr)]
  logged = [line['step'] for line in read_metrics(workdir) if line['step'] > resumed_from]
  reached = max([resumed_from, *progress, *logged])
  names = os.listdir(workdir / 'checkpoints') if (workdir / 'checkpoints').exists() else []
  steps = checkpoint_steps(workdir)
  newest = steps[-1] if steps else 0
  moment = ('inside a checkpoint write' if any(not n.isdigit() for n in names) else
            'start-up' if reached == resumed_from else 'training or evaluation')
  return dict(moment=moment, reached=reached, checkpoint=newest, lost=reached - newest)


@pytest.mark.slow
def test_random_kills_lose_nothing(tmp_path, uninterrupted):
  """At least 20 SIGKILLs at seeded random moments (every fourth aimed inside a checkpoint
  write), each workdir rerun until it finishes, then compared with the uninterrupted run."""
  rng, kills, started = random.Random(0), [], time.time()
  whole = uninterrupted_seconds(uninterrupted)
  for trial in range(12):
    workdir, resumed_from = tmp_path / f'trial{trial}', 0
    while True:
      aimed = len(kills) % 4 == 3
      how = (dict(crash_at=f'checkpoint_write:{rng.randint(1, 2)}') if aimed
             else dict(kill_after=rng.uniform(0.5, whole)))
      result = run(workdir, **how)
      if result.returncode == 0:
        break
      assert killed(result), result.stderr[-3000:]
      figures = _kill_figures(workdir, result, resumed_from)
      assert figures['checkpoint'] >= resumed_from  # a complete checkpoint is never lost
      assert figures['lost'] <= 4  # at most the steps since the last checkpoint
      kills.append(dict(figures, trial=trial, aimed=aimed, **how))
      print(f'kill {len(kills)}: {kills[-1]}', flush=True)
      resumed_from = figures['checkpoint']
    assert_same_run(workdir, uninterrupted)
    if len(kills) >= 20:
      break
  moments = collections.Counter(k['moment'] for k in kills)
  print(f'\n{len(kills)} kills survived in {trial + 1} runs, {time.time() - started:.0f} s; '
        f'moments: {dict(moments)}; steps lost per kill: '
        f'{sorted(collections.Counter(k["lost"] for k in kills).items())}; '
        'final state and metrics bitwise equal to the uninterrupted run in every run')
  assert len(kills) >= 20 and len(moments) == 3
