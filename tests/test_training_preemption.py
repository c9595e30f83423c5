"""SIGTERM / SIGINT: the run finishes its step, saves a checkpoint there, and resumes exactly."""
import os
import signal
import time

import numpy as np
import pytest

from attn_jax.errors import Preempted
from attn_jax.training import loop, preemption
from attn_jax.training.checkpoints import Checkpointer
from launcher import finish, free_port, losses, start, tiny_char_lm_config


def test_signal_saves_the_step_it_stopped_at_and_resume_equals_uninterrupted(tmp_path,
                                                                               monkeypatch):
  config = tiny_char_lm_config()  # checkpoints every 4 steps: step 6 is mid-interval
  loop.train_and_evaluate(config, str(tmp_path / 'whole'))
  sigint_before = signal.getsignal(signal.SIGINT)  # a pytest-xdist worker may ignore SIGINT

  should_stop, save = preemption.StopOnSignal.should_stop, Checkpointer.save

  def signal_after_step_6(self, step):
    if step == 6:
      os.kill(os.getpid(), signal.SIGTERM)
    return should_stop(self, step)

  def save_under_a_second_signal(self, state, *args, **kwargs):
    if int(state.step) == 6:
      os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the save: noted, the save completes
    save(self, state, *args, **kwargs)

  monkeypatch.setattr(preemption.StopOnSignal, 'should_stop', signal_after_step_6)
  monkeypatch.setattr(Checkpointer, 'save', save_under_a_second_signal)
  with pytest.raises(Preempted) as stopped:
    loop.train_and_evaluate(config, str(tmp_path / 'resumed'))
  assert (stopped.value.step, stopped.value.signal_name) == (6, 'SIGTERM')
  assert str(stopped.value) == ('stopped at step 6 by SIGTERM; checkpoint saved; rerun the same '
                                'command to continue')
  assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers are put back
  assert signal.getsignal(signal.SIGINT) is sigint_before
  assert sorted(os.listdir(tmp_path / 'resumed' / 'checkpoints')) == ['4', '6']
  assert max(losses(tmp_path / 'resumed')) == 6

  monkeypatch.setattr(preemption.StopOnSignal, 'should_stop', should_stop)
  monkeypatch.setattr(Checkpointer, 'save', save)
  loop.train_and_evaluate(config, str(tmp_path / 'resumed'))  # resumes from step 6
  whole, resumed = losses(tmp_path / 'whole'), losses(tmp_path / 'resumed')
  assert sorted(resumed) == list(range(1, 13))
  np.testing.assert_allclose([resumed[s] for s in range(7, 13)],
                             [whole[s] for s in range(7, 13)], rtol=1e-6)


def _train_lines(workdir) -> int:
  try:
    return len(losses(workdir))
  except (OSError, ValueError):  # not written yet, or a line being written
    return 0


@pytest.mark.slow
def test_sigterm_to_launch_exits_0_after_saving(tmp_path):
  """A real `kill -TERM` of `launch.py` mid-interval (about 20-40 s on 2 busy cores)."""
  process = start('char_lm.py:lstm', tmp_path, 'model.hidden_size=16', 'data.seq_len=16',
                  'train.batch_size=4', 'train.num_steps=100000', 'train.log_every=1',
                  'train.checkpoint_every=100000', 'sample.num_samples=0')
  deadline = time.time() + 240
  while _train_lines(tmp_path) < 3 and process.poll() is None and time.time() < deadline:
    time.sleep(0.2)
  process.send_signal(signal.SIGTERM)
  result = finish(process, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  last = max(losses(tmp_path))
  assert (f'stopped at step {last} by SIGTERM; checkpoint saved; rerun the same command to '
          'continue') in result.stdout
  assert os.listdir(tmp_path / 'checkpoints') == [str(last)]
  assert 'Traceback' not in result.stderr


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_stops_both_at_one_step(tmp_path):
  """JAX's preemption service tells the other process; both save the same step and exit 0."""
  port = free_port()
  processes = [start('char_lm.py:lstm', tmp_path, 'model.hidden_size=16', 'data.seq_len=16',
                     'train.batch_size=4', 'train.num_steps=100000', 'train.log_every=1',
                     'train.checkpoint_every=100000', 'sample.num_samples=0',
                     extra_flags=[f'--coordinator_address=localhost:{port}',
                                  '--num_processes=2', f'--process_id={i}']) for i in range(2)]
  deadline = time.time() + 240
  while _train_lines(tmp_path) < 3 and processes[1].poll() is None and time.time() < deadline:
    time.sleep(0.2)
  processes[1].send_signal(signal.SIGTERM)
  results = [finish(p, timeout=180) for p in processes]
  last = max(losses(tmp_path))
  for result in results:
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'stopped at step {last} by SIGTERM; checkpoint saved' in result.stdout
  assert os.listdir(tmp_path / 'checkpoints') == [str(last)]
