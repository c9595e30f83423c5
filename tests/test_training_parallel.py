"""The same global batch gives the same losses on 1 device, 4 devices and 2 processes."""
import json

import numpy as np
import pytest

from launcher import finish, free_port, launch, losses, metric_lines, start

# Small enough to run in seconds; dropout off, since dropout keys differ per device by design.
TINY_LM = ('model.num_layers=1', 'model.hidden_size=32', 'model.dropout_rate=0.0',
           'data.seq_len=32', 'train.batch_size=8', 'train.num_steps=6', 'train.log_every=1',
           'train.eval_every=6', 'train.checkpoint_every=6', 'train.warmup_steps=1',
           'sample.num_samples=0')
# What only the transformer reads (a setting a model does not read is refused).
TRANSFORMER = ('model.num_heads=2', 'model.mlp_dim=64')


@pytest.mark.parametrize('variant', ['transformer', 'lstm'])
def test_one_device_equals_four_devices(tmp_path, variant):
  runs, norms = {}, {}
  for devices in (1, 4):
    result = launch(f'char_lm.py:{variant}', tmp_path / str(devices), *TINY_LM,
                    *(TRANSFORMER if variant == 'transformer' else ()), devices=devices)
    assert result.returncode == 0, result.stderr[-3000:]
    runs[devices] = losses(tmp_path / str(devices))
    norms[devices] = [(line['grad_norm'], line['param_norm'])
                      for line in metric_lines(tmp_path / str(devices))]
  assert sorted(runs[1]) == list(range(1, 7))
  np.testing.assert_allclose([runs[4][s] for s in sorted(runs[1])],
                             [runs[1][s] for s in sorted(runs[1])], rtol=2e-5)
  np.testing.assert_allclose(norms[4], norms[1], rtol=2e-5)  # of the global gradient
  assert runs[1][6] < runs[1][1]  # it trains


def _two_processes_equal_one_process(tmp_path, process_args):
  """Runs `launch.py` as 2 processes, `process_args(i) -> (extra flags, extra environment)`, and
  checks their losses against a 1-process run of the same global batch on 2 devices."""
  single = launch('char_lm.py:lstm', tmp_path / 'single', *TINY_LM, devices=2)
  assert single.returncode == 0, single.stderr[-3000:]
  workdir = tmp_path / 'multi'
  processes = []
  for process_id in range(2):
    extra_flags, env = process_args(process_id)
    processes.append(start('char_lm.py:lstm', workdir, *TINY_LM, extra_flags=extra_flags,
                           env=env))
  results = [finish(p, timeout=240) for p in processes]
  for result in results:
    assert result.returncode == 0, result.stderr[-3000:]
  expected, got = losses(tmp_path / 'single'), losses(workdir)
  assert sorted(got) == sorted(expected)
  np.testing.assert_allclose([got[s] for s in sorted(expected)],
                             [expected[s] for s in sorted(expected)], rtol=2e-5)
  return results


def test_two_processes_equal_one_process(tmp_path):
  """A 2-process jax.distributed run on localhost (CPU collectives) logs the 1-process losses."""
  port = free_port()
  _two_processes_equal_one_process(tmp_path, lambda process_id: (
      [f'--coordinator_address=localhost:{port}', '--num_processes=2',
       f'--process_id={process_id}'], {}))


@pytest.mark.slow
def test_slurm_job_with_distributed_auto_equals_one_process(tmp_path):
  """`--distributed=auto` in the environment `srun --ntasks=2` gives its tasks on one node: JAX's
  SLURM detection (jax._src.clusters.SlurmCluster) finds the coordinator, count and index."""
  port = free_port()

  def slurm_task(process_id):
    return ['--distributed=auto'], {
        'SLURM_JOB_ID': '4242', 'SLURM_STEP_NODELIST': 'localhost', 'SLURM_NTASKS': '2',
        'SLURM_STEP_NUM_NODES': '1', 'SLURM_PROCID': str(process_id),
        'SLURM_LOCALID': str(process_id), 'JAX_COORDINATOR_PORT': str(port)}

  results = _two_processes_equal_one_process(tmp_path, slurm_task)
  assert 'done: step 6' in results[0].stdout and 'done:' not in results[1].stdout  # process 0
  workdir = tmp_path / 'multi'
  assert json.load(open(workdir / 'run.json'))['process_count'] == 2


def test_distributed_auto_without_a_cluster_is_a_user_error(tmp_path):
  result = launch('iris_mlp.py:mlp', tmp_path, extra_flags=['--distributed=auto'], timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: distributed: no cluster environment found')
