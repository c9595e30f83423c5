"""Kill and resume: a run interrupted after a checkpoint, rerun, logs the uninterrupted losses."""
import os

import numpy as np
import pytest

from attn_jax.training import loop
from attn_jax.training.checkpoints import Checkpointer
from launcher import launch, losses, tiny_char_lm_config


class Interrupted(Exception):
  pass


def test_resume_after_kill_equals_uninterrupted_run(tmp_path, monkeypatch):
  config = tiny_char_lm_config()
  loop.train_and_evaluate(config, str(tmp_path / 'whole'))

  save = Checkpointer.save

  def save_then_die(self, state, *args, **kwargs):  # the process dies right after step 8 is saved
    save(self, state, *args, **kwargs)
    if int(state.step) == 8:
      raise Interrupted

  monkeypatch.setattr(Checkpointer, 'save', save_then_die)
  with pytest.raises(Interrupted):
    loop.train_and_evaluate(config, str(tmp_path / 'resumed'))
  monkeypatch.setattr(Checkpointer, 'save', save)
  assert max(losses(tmp_path / 'resumed')) == 8
  loop.train_and_evaluate(config, str(tmp_path / 'resumed'))

  whole, resumed = losses(tmp_path / 'whole'), losses(tmp_path / 'resumed')
  assert sorted(resumed) == list(range(1, 13))  # each step logged once
  np.testing.assert_allclose([resumed[s] for s in range(9, 13)],
                             [whole[s] for s in range(9, 13)], rtol=1e-6)
  assert losses(tmp_path / 'resumed', 'eval') == pytest.approx(losses(tmp_path / 'whole', 'eval'))


def test_unreadable_newest_checkpoint_falls_back(tmp_path):
  config = tiny_char_lm_config()
  workdir = tmp_path / 'run'
  loop.train_and_evaluate(config, str(workdir))
  newest = workdir / 'checkpoints' / '12'
  for root, _, files in os.walk(newest):
    for name in files:
      with open(os.path.join(root, name), 'wb') as f:
        f.write(b'corrupt')
  config.train.num_steps = 16
  loop.train_and_evaluate(config, str(workdir))
  steps = sorted(losses(workdir))
  assert steps == list(range(1, 17))  # resumed from step 8, re-logged 9..16
  assert os.listdir(workdir / 'unreadable_checkpoints') == ['12']


def test_finished_run_is_not_trained_again(tmp_path):
  result = launch('char_lm.py:lstm', tmp_path, 'model.hidden_size=16', 'data.seq_len=16',
                  'train.batch_size=4', 'train.num_steps=3', 'sample.num_samples=0')
  assert result.returncode == 0, result.stderr[-2000:]
  again = launch('char_lm.py:lstm', tmp_path, 'model.hidden_size=16', 'data.seq_len=16',
                 'train.batch_size=4', 'train.num_steps=3', 'sample.num_samples=0')
  assert again.returncode == 0, again.stderr[-2000:]
  assert 'nothing to do' in again.stdout
