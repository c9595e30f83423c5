"""`python -m attn_jax.sweep`: points of a grid, a sweep killed mid-way and rerun (each point
trained once to its end, none past its checkpoint twice), a failing point, `--parallel=2` pinned
to disjoint cores, the SLURM script's tasks run here with SLURM's variables (and one requeued
after SIGTERM), `compare` over the sweep, and the error lines."""
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from attn_jax import compare
from attn_jax.sweep import grid, point_runs, record
from launcher import CONFIGS, REPO, launch, metric_lines

IRIS = os.path.join(CONFIGS, 'iris_mlp.py') + ':mlp'
# Long enough to be caught mid-way (checkpointed every 100 steps): neither of two points finishes
# while the other, on a busy core, reaches step 100.
STEPS = 4000
SETTINGS = (f'--config.train.num_steps={STEPS}', '--config.train.eval_every=500',
            '--config.train.checkpoint_every=100', '--config.train.log_every=100')


@pytest.fixture(scope='module')
def iris_prepared(tmp_path_factory):
  """The iris dataset built once before points run side by side: two processes preparing one
  TFDS dataset at once can collide (`data/tfds_utils.prepare` takes no lock; the loser fails
  with FileExistsError on a fresh data dir and succeeds when the sweep is rerun)."""
  assert launch('iris_mlp.py:mlp', tmp_path_factory.mktemp('prepare'),
                'train.num_steps=1').returncode == 0


def sweep_command(workdir, *flags) -> list[str]:
  return [sys.executable, '-m', 'attn_jax.sweep', f'--config={IRIS}', f'--workdir={workdir}',
          *flags]


def run_sweep(workdir, *flags, env=None) -> subprocess.CompletedProcess:
  return subprocess.run(sweep_command(workdir, *flags), cwd=REPO, capture_output=True,
                        text=True, timeout=300, env=dict(os.environ, **(env or {})))


def points_of(workdir) -> dict[str, dict]:
  return {p['name']: p for p in record.read(str(workdir))['points']}


def starts(workdir) -> list[int]:
  """The step each start of the run began from (run.json)."""
  with open(os.path.join(workdir, 'run.json')) as f:
    return [start['step'] for start in json.load(f)['starts']]


def wait_for(condition, timeout: float = 120):
  deadline = time.monotonic() + timeout
  while not condition():
    assert time.monotonic() < deadline, 'timed out'
    time.sleep(0.2)


def lock_free(workdir) -> bool:
  """Whether no process holds the point's run lock (its run has ended)."""
  path = os.path.join(workdir, point_runs.RUN_LOCK)
  if not os.path.exists(path):
    return True
  with open(path) as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      return False
  return True


def test_points_are_the_product_of_the_axes_with_zipped_settings_together():
  points = grid.points([{'model.hidden_size': ['8', '16'], 'model.mlp_dim': ['32', '64']},
                        {'seed': [0, 1]}])
  assert [p.name for p in points] == [
      'model.hidden_size=8,model.mlp_dim=32,seed=0', 'model.hidden_size=8,model.mlp_dim=32,seed=1',
      'model.hidden_size=16,model.mlp_dim=64,seed=0',
      'model.hidden_size=16,model.mlp_dim=64,seed=1']
  assert points[2].settings == {'model.hidden_size': '16', 'model.mlp_dim': '64', 'seed': 0}
  assert grid.parse_axis('a.b=1, 2;c=x,y', '--zip') == {'a.b': ['1', '2'], 'c': ['x', 'y']}


def test_point_names_are_folder_names():
  slash, = grid.points([{'data.path': ['/data/a b.txt']}])
  assert slash.name == 'data.path=%2Fdata%2Fa%20b.txt'
  long_name, = grid.points([{'train.init_from': ['x' * 300]}])
  again, = grid.points([{'train.init_from': ['x' * 300]}])
  assert len(long_name.name) == grid.MAX_NAME and long_name.name == again.name


@pytest.mark.parametrize('slot, parallel, cores, share', [
    (0, 1, [0, 1], [0, 1]), (0, 2, [0, 1], [0]), (1, 2, [0, 1], [1]),
    (1, 2, [0, 1, 2, 3], [2, 3]), (2, 3, [4, 5], [4]), (1, 3, [0, 1, 2, 3, 4, 5], [2, 3])])
def test_each_slot_gets_its_share_of_the_cores(slot, parallel, cores, share):
  assert point_runs.core_share(slot, parallel, cores) == share


def test_a_config_files_get_sweep():
  axes, settings = grid.config_sweep(os.path.join(CONFIGS, 'mqar.py') + ':transformer')
  points = grid.points(axes)
  assert len(points) == 6 and points[-1].settings == {
      'model.hidden_size': 64, 'model.mlp_dim': 256, 'seed': 1}
  assert settings['train.num_steps'] == 600


@pytest.mark.parametrize('flags, message', [
    (['--grid=seed'], r"^error: --grid: 'seed' is not KEY=V1,V2"),
    (['--zip=seed=0,1;model.hidden_size=8'], r'^error: --zip: zipped settings need lists of '
                                             r"one length, got \{'seed': 2, 'model.hidden_size': 1\}"),
    (['--grid=seed=0,1', '--grid=seed=2'], r'^error: grid: each setting on one axis only'),
    ([], r'^error: grid: no --grid or --zip given and .*iris_mlp.py has no get_sweep\(\)'),
    (['--grid=seed=0', '--config.train.num_steps'], r'^error: --config.train.num_steps: accepted'),
    (['--grid=seed=0', '--parallel=-1'], r'^error: flag --parallel=-1'),
])
def test_bad_input_is_one_error_line(tmp_path, flags, message):
  done = run_sweep(tmp_path, *flags)
  assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
  assert re.match(message, done.stderr), done.stderr


@pytest.mark.parametrize('kill', [signal.SIGKILL, pytest.param(signal.SIGTERM,
                                                                marks=pytest.mark.slow)],
                         ids=['SIGKILL', 'SIGTERM'])
def test_killed_sweep_rerun_trains_each_point_once_and_records_a_failure(tmp_path, kill,
                                                                       iris_prepared):
  """4 iris points two at a time (and 2 whose seed is not a number), the sweep killed while
  its first two train: they save and stop (SIGTERM, from the kernel as their parent dies, or
  passed on by the sweep); the rerun resumes them from there, skips none and trains nothing
  twice."""
  flags = ('--grid=model.hidden_size=8,16', '--grid=seed=0,1,x', '--parallel=2',
           '--metric=accuracy', *SETTINGS)
  process = subprocess.Popen(sweep_command(tmp_path, *flags), cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  first = ['model.hidden_size=8,seed=0', 'model.hidden_size=8,seed=1']
  wait_for(lambda: all(record.trained_steps(tmp_path / n)[0] >= 100 for n in first))
  running = [p for p in points_of(tmp_path).values() if p['state'] == 'running']
  assert sorted(p['name'] for p in running) == first
  for point in running:  # each run is pinned to the core share recorded for it
    with open(f'/proc/{point["pid"]}/status') as f:
      allowed = re.search(r'Cpus_allowed_list:\s*(\S+)', f.read()).group(1)
    assert allowed == ','.join(map(str, point['cores']))
  cores = sorted(os.sched_getaffinity(0))
  assert [p['cores'] for p in running] == [point_runs.core_share(i, 2, cores) for i in (0, 1)]
  process.send_signal(kill)
  assert process.wait(timeout=120) == (0 if kill == signal.SIGTERM else -kill)
  wait_for(lambda: all(lock_free(tmp_path / n) for n in first))
  logged = {n: metric_lines(tmp_path / n)[-1]['step'] for n in first}
  assert all(100 <= step < STEPS for step in logged.values()), logged  # stopped mid-way

  done = run_sweep(tmp_path, *flags)
  assert done.returncode == 100 + 2, done.stderr
  points = points_of(tmp_path)
  for name, point in points.items():
    if name.endswith('seed=x'):
      assert point['state'] == 'failed' and point['exit_status'] == 2
      assert point['error'].startswith("error: config.seed: flag --config.seed=x: invalid")
      continue
    assert point['state'] == 'finished'
    assert record.trained_steps(tmp_path / name) == (STEPS, STEPS)
    # resumed from the step it stopped at (the last one logged), never restarted when done
    assert starts(tmp_path / name) == ([0, logged[name]] if name in first else [0])
    steps = [line['step'] for line in metric_lines(tmp_path / name)]
    assert steps == sorted(set(steps)) and steps[-1] == STEPS
  assert 'model.hidden_size=16,seed=x: failed: error: config.seed' in done.stdout
  assert re.search(r'sweep: .*running=\d+, failed=2', done.stderr)
  assert '## eval_accuracy over seeds' in done.stdout
  assert os.path.exists(tmp_path / 'sweep_eval_accuracy_by_model.hidden_size.png')

  again = run_sweep(tmp_path, *flags)  # nothing left but the failures, which fail again
  assert again.returncode == 102 and 'sweep: 4 finished, 2 failed' in again.stdout
  assert all(starts(tmp_path / n)[-1] < STEPS for n in points if not n.endswith('=x'))
  points = points_of(tmp_path)
  wider = run_sweep(tmp_path, '--grid=model.hidden_size=8,16,32', '--grid=seed=0,1,x', '--slurm',
                    *SETTINGS)  # a wider grid adds its new points only
  assert wider.returncode == 0 and '#SBATCH --array=2,5,6,7,8\n' in (
      tmp_path / 'sweep.sbatch').read_text()  # the failures and the new points
  assert {n: p for n, p in points_of(tmp_path).items() if n in points} == points
  assert [p['state'] for n, p in points_of(tmp_path).items() if n not in points] == ['pending'] * 3
  changed = run_sweep(tmp_path, '--grid=model.hidden_size=8', '--grid=seed=0', *SETTINGS[1:],
                      '--config.train.num_steps=20')
  assert changed.returncode == 2 and changed.stderr.startswith(
      'error: workdir: point model.hidden_size=8,seed=0 of ')  # other settings: refused
  assert {n: p for n, p in points_of(tmp_path).items() if n in points} == points


def _fake_slurm(folder) -> dict:
  """`srun`, `scontrol` and `sbatch` stand-ins on PATH: srun runs its command, the others note
  their arguments in `calls`; returns the environment to run with."""
  folder.mkdir()
  for name, body in {'srun': 'exec "$@"', 'scontrol': f'echo "scontrol $*" >> {folder}/calls',
                     'sbatch': f'echo "sbatch $*" >> {folder}/calls; echo "4242;cluster"'}.items():
    (folder / name).write_text(f'#!/bin/sh\n{body}\n')
    (folder / name).chmod(0o755)
  return {'PATH': f'{folder}:{os.environ["PATH"]}'}


def _task(script, index: int, env: dict) -> subprocess.Popen:
  """One array task of `script`, run as SLURM would: bash with the array's variables."""
  return subprocess.Popen(['bash', str(script)], env=dict(
      os.environ, **env, SLURM_ARRAY_JOB_ID='4242', SLURM_ARRAY_TASK_ID=str(index),
      SLURM_JOB_ID=str(5000 + index)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_slurm_array_tasks_run_here_and_a_stopped_one_requeues(tmp_path, iris_prepared):
  env = _fake_slurm(tmp_path / 'bin')
  sweep_dir = tmp_path / 'sweep'
  flags = ('--grid=seed=0,1', '--slurm', '--parallel=2', '--sbatch=--partition=cpu', *SETTINGS)
  done = run_sweep(sweep_dir, *flags, '--submit', env=env)
  assert done.returncode == 0 and 'job 4242' in done.stdout, done.stderr
  script = sweep_dir / 'sweep.sbatch'
  text = script.read_text()
  for line in ('#SBATCH --array=0,1%2', '#SBATCH --signal=TERM@120', '#SBATCH --requeue',
               '#SBATCH --time=04:00:00', '#SBATCH --partition=cpu'):
    assert line in text
  assert record.read(str(sweep_dir))['slurm_jobs'] == ['4242']
  assert (tmp_path / 'bin' / 'calls').read_text() == f'sbatch --parsable {script}\n'

  tasks = [_task(script, i, env) for i in (0, 1)]
  stopped = sweep_dir / 'seed=1'
  wait_for(lambda: record.trained_steps(stopped)[0] >= 100)
  task_process = subprocess.run(['pgrep', '-P', str(tasks[1].pid)], capture_output=True,
                                text=True, check=True).stdout.split()
  os.kill(int(task_process[0]), signal.SIGTERM)  # what --signal=TERM@120 does to the task
  assert [task.wait(timeout=120) for task in tasks] == [0, 0]
  points = points_of(sweep_dir)
  assert points['seed=0']['state'] == 'finished' and points['seed=0']['slurm_task'] == '4242_0'
  assert points['seed=1']['state'] == 'stopped'
  assert 'scontrol requeue 4242_1' in (tmp_path / 'bin' / 'calls').read_text()
  stopped_at = metric_lines(stopped)[-1]['step']
  assert 100 <= stopped_at < STEPS

  assert _task(script, 1, env).wait(timeout=120) == 0  # the requeued task resumes
  assert points_of(sweep_dir)['seed=1']['state'] == 'finished'
  assert starts(stopped) == [0, stopped_at] and starts(sweep_dir / 'seed=0') == [0]
  assert _task(script, 0, env).wait(timeout=60) == 0  # a finished point: nothing to do
  assert starts(sweep_dir / 'seed=0') == [0]
  rerun = run_sweep(sweep_dir, *flags)
  assert 'every point is finished' in rerun.stdout


def test_compare_over_seeds_and_against_each_swept_setting():
  rows = [{'model.hidden_size': h, 'model.mlp_dim': 4 * h, 'seed': s, 'lr': lr,
           'eval_accuracy': acc}
          for h, s, lr, acc in [(8, 0, 0.1, 0.5), (8, 1, 0.1, 0.7), (16, 0, 0.1, 0.9),
                                (16, 1, 0.1, 1.0), (8, 0, 0.2, 0.2), (8, 1, 0.2, 0.4),
                                (16, 0, 0.2, 0.6), (16, 1, 0.2, 0.6)]]
  settings = ['lr', 'model.hidden_size', 'model.mlp_dim', 'seed']
  groups = compare.swept_groups(rows, settings)
  assert groups == [['lr'], ['model.hidden_size', 'model.mlp_dim']]
  bands = compare.seed_bands(rows, groups[1], ['lr'], 'eval_accuracy')
  assert bands['lr=0.1'] == ([8, 16], [0.6, 0.95], [0.5, 0.9], [0.7, 1.0])
  assert bands['lr=0.2'] == ([8, 16], [pytest.approx(0.3), 0.6], [0.2, 0.6], [0.4, 0.6])
  summary = compare.seed_summary(rows, settings, 'eval_accuracy')
  assert summary[0] == {'lr': 0.1, 'model.hidden_size': 8, 'model.mlp_dim': 32, 'seeds': 2,
                        'eval_accuracy_mean': 0.6, 'eval_accuracy_min': 0.5,
                        'eval_accuracy_max': 0.7}
  assert len(summary) == 4
