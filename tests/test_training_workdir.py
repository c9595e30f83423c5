"""One run per workdir (an OS lock), and a resumed run's config checked against `DIR/config.json`."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from attn_jax.errors import ConfigError
from attn_jax.training import config_changes, loop, workdir_lock
from launcher import REPO, finish, start, tiny_char_lm_config

HOLD = ('import sys, time\n'
        'from attn_jax.training import workdir_lock\n'
        'with workdir_lock.hold(sys.argv[1]):\n'
        '  print("held", flush=True)\n'
        '  time.sleep(600)\n')


def test_a_held_workdir_is_refused_and_freed_when_its_process_dies(tmp_path):
  holder = subprocess.Popen([sys.executable, '-c', HOLD, str(tmp_path)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, env=dict(os.environ, JAX_PLATFORMS='cpu'))
  try:
    assert holder.stdout.readline().strip() == 'held'
    with pytest.raises(ConfigError) as refused:
      with workdir_lock.hold(str(tmp_path)):
        pass
    assert refused.value.setting == 'workdir'
    assert refused.value.message.startswith(
        f'in use by process {holder.pid} on {socket.gethostname()} since ')
  finally:
    holder.send_signal(signal.SIGKILL)  # no clean-up runs: the OS releases the lock
    holder.wait()
  with workdir_lock.hold(str(tmp_path)):
    with workdir_lock.hold(str(tmp_path)):  # re-entrant within a process
      pass


def test_a_held_workdir_refuses_training_before_building_anything(tmp_path):
  with open(tmp_path / 'run.lock', 'w') as f:
    f.write('1 otherhost 2026-01-01 00:00:00 UTC\n')
  holder = subprocess.Popen([sys.executable, '-c', HOLD, str(tmp_path)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, env=dict(os.environ, JAX_PLATFORMS='cpu'))
  try:
    assert holder.stdout.readline().strip() == 'held'
    with pytest.raises(ConfigError, match=f'in use by process {holder.pid} on'):
      loop.train_and_evaluate(tiny_char_lm_config(), str(tmp_path))
  finally:
    holder.kill()
    holder.wait()
  assert not os.path.exists(tmp_path / 'config.json')


@pytest.mark.slow
def test_two_launches_on_one_workdir(tmp_path):
  """Two identical commands started together: one trains, the other ends with exit 2."""
  overrides = ('model.hidden_size=16', 'data.seq_len=16', 'train.batch_size=4',
               'train.num_steps=300', 'train.log_every=10', 'sample.num_samples=0')
  first = start('char_lm.py:lstm', tmp_path, *overrides)
  time.sleep(0.5)
  second = start('char_lm.py:lstm', tmp_path, *overrides)
  results = sorted([finish(first), finish(second)], key=lambda r: r.returncode)
  assert [r.returncode for r in results] == [0, 2], [r.stderr[-2000:] for r in results]
  assert results[1].stderr.strip().splitlines()[-1].startswith(
      'error: workdir: in use by process ')
  lines = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  keys = [(line['step'], line['split']) for line in lines]
  assert len(keys) == len(set(keys))  # no row written twice


def _trained_workdir(tmp_path, config) -> str:
  """A workdir as a run leaves it: `config.json` and a checkpoint folder."""
  workdir = tmp_path / 'run'
  os.makedirs(workdir / 'checkpoints' / '4')
  with open(workdir / 'config.json', 'w') as f:
    json.dump(config.to_dict(), f)
  return str(workdir)


def test_resuming_with_other_model_or_data_is_refused_before_building(tmp_path):
  config = tiny_char_lm_config()
  workdir = _trained_workdir(tmp_path, config)
  config.model.hidden_size = 64
  with pytest.raises(ConfigError) as refused:
    loop.train_and_evaluate(config, workdir)
  assert str(refused.value) == (f'workdir: {workdir} was trained with model.hidden_size=32, this '
                                'command asks 64; use a new --workdir or drop the override')
  config.model.name, config.data.seq_len, config.seed = 'lstm', 16, 3
  config.train.learning_rate = 0.5
  with pytest.raises(ConfigError) as refused:
    loop.train_and_evaluate(config, workdir)
  message = str(refused.value)
  for key in ('model.hidden_size', 'model.name', 'data.seq_len', 'seed'):
    assert f'{key}=' in message
  assert 'learning_rate' not in message
  assert message.endswith('drop the overrides')


def test_resuming_with_safe_changes_lists_them_in_one_warning(tmp_path, capsys):
  config = tiny_char_lm_config()
  workdir = _trained_workdir(tmp_path, config)
  config_changes.check_config(config, workdir)
  assert capsys.readouterr().err == ''
  old_rate, old_temperature = config.train.learning_rate, config.sample.temperature
  config.train.update(num_steps=40, learning_rate=0.25, eval_every=8)
  config.sample.temperature = 0.5
  config.data.data_dir = str(tmp_path / 'elsewhere')
  config_changes.check_config(config, workdir)
  warning = capsys.readouterr().err.strip().splitlines()
  assert len(warning) == 1 and warning[0].startswith(f'warning: resuming {workdir} with changed ')
  for change in ('train.num_steps 12 -> 40', f'train.learning_rate {old_rate} -> 0.25',
                 'train.eval_every 4 -> 8', f'sample.temperature {old_temperature} -> 0.5',
                 'data.data_dir'):
    assert change in warning[0]


def test_switching_gradient_clipping_on_or_off_is_refused(tmp_path):
  config = tiny_char_lm_config()
  workdir = _trained_workdir(tmp_path, config)
  config.train.grad_clip_norm = 0.5  # another norm: the optimizer state keeps its structure
  config_changes.check_config(config, workdir)
  config.train.grad_clip_norm = 0.0
  with pytest.raises(ConfigError, match='train.grad_clip_norm=1.0, this command asks 0.0'):
    config_changes.check_config(config, workdir)


def test_a_workdir_without_checkpoint_is_not_checked(tmp_path):
  config = tiny_char_lm_config()
  workdir = _trained_workdir(tmp_path, config)
  os.rmdir(os.path.join(workdir, 'checkpoints', '4'))
  config.model.hidden_size = 64
  config_changes.check_config(config, workdir)
