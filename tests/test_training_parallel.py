"""The same global batch gives the same losses on 1 device, 4 devices and 2 processes."""
import socket
import subprocess
import sys

import numpy as np
import pytest

from launcher import CONFIGS, REPO, launch, losses

# Small enough to run in seconds; dropout off, since dropout keys differ per device by design.
TINY_LM = ('model.num_layers=1', 'model.hidden_size=32', 'model.num_heads=2', 'model.mlp_dim=64',
           'model.dropout_rate=0.0', 'data.seq_len=32', 'train.batch_size=8',
           'train.num_steps=6', 'train.log_every=1', 'train.eval_every=6',
           'train.checkpoint_every=6', 'train.warmup_steps=1', 'sample.num_samples=0')


@pytest.mark.parametrize('variant', ['transformer', 'lstm'])
def test_one_device_equals_four_devices(tmp_path, variant):
  runs = {}
  for devices in (1, 4):
    result = launch(f'char_lm.py:{variant}', tmp_path / str(devices), *TINY_LM, devices=devices)
    assert result.returncode == 0, result.stderr[-3000:]
    runs[devices] = losses(tmp_path / str(devices))
  assert sorted(runs[1]) == list(range(1, 7))
  np.testing.assert_allclose([runs[4][s] for s in sorted(runs[1])],
                             [runs[1][s] for s in sorted(runs[1])], rtol=2e-5)
  assert runs[1][6] < runs[1][1]  # it trains


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_two_processes_equal_one_process(tmp_path):
  """A 2-process jax.distributed run on localhost (CPU collectives) logs the 1-process losses."""
  single = launch('char_lm.py:lstm', tmp_path / 'single', *TINY_LM, devices=2)
  assert single.returncode == 0, single.stderr[-3000:]
  port = _free_port()
  workdir = tmp_path / 'multi'
  processes = []
  for process_id in range(2):
    command = [sys.executable, f'{REPO}/launch.py', f'--config={CONFIGS}/char_lm.py:lstm',
               f'--workdir={workdir}', *[f'--config.{o}' for o in TINY_LM],
               f'--coordinator_address=localhost:{port}', '--num_processes=2',
               f'--process_id={process_id}']
    processes.append(subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**__import__('os').environ, 'JAX_PLATFORMS': 'cpu',
             'XLA_FLAGS': '--xla_force_host_platform_device_count=1'}))
  try:
    outputs = [p.communicate(timeout=240) for p in processes]
  finally:
    for p in processes:
      p.kill()
  for p, (_, err) in zip(processes, outputs):
    assert p.returncode == 0, err[-3000:]
  expected, got = losses(tmp_path / 'single'), losses(workdir)
  assert sorted(got) == sorted(expected)
  np.testing.assert_allclose([got[s] for s in sorted(expected)],
                             [expected[s] for s in sorted(expected)], rtol=2e-5)
