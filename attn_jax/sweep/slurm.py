"""The sweep as a SLURM array job: one task per unfinished point, with the README's cluster
conventions (SIGTERM two minutes before the time limit, requeue).

`DIR/sweep.sbatch` runs `python -m attn_jax.sweep --workdir=DIR --task=$SLURM_ARRAY_TASK_ID`:
the task runs that point's `launch.py` command and records it in `DIR/sweep.json`, as the local
runner does. A run stopped by SIGTERM saves a checkpoint and exits 0; the task then exits
`REQUEUE_STATUS` and the script requeues the task (`scontrol requeue`), which resumes from the
checkpoint. SLURM limits a task to its allocated cores itself (`--cpus-per-task`).
"""
import os
import shlex
import signal
import subprocess
import sys

from attn_jax.errors import ConfigError
from attn_jax.sweep import point_runs, record

SCRIPT = 'sweep.sbatch'
REQUEUE_STATUS = 75  # EX_TEMPFAIL: the point stopped with a checkpoint; requeue the task
DEFAULT_SBATCH = ('--time=04:00:00',)  # kept unless `sbatch` sets the same option


def script_text(sweep_dir: str, indices: list[int], parallel: int, sbatch: list[str]) -> str:
  """The array job's script over the points at `indices` of the record, `parallel` at a time
  (`%N`; 0: no limit); `sbatch` lines (`--partition=...`) are added as given."""
  sweep_dir = os.path.abspath(sweep_dir)
  task = shlex.join([sys.executable, '-m', 'attn_jax.sweep', f'--workdir={sweep_dir}'])
  options = [f'--job-name=sweep-{os.path.basename(sweep_dir)}',
             f'--array={",".join(map(str, indices))}' + (f'%{parallel}' if parallel else ''),
             f'--output={os.path.join(sweep_dir, "slurm", "%A_%a.out")}',
             '--ntasks=1',
             '--signal=TERM@120      # SIGTERM 2 minutes before the limit: save and stop',
             '--requeue              # a preempted task is requeued and resumes', *sbatch,
             *(o for o in DEFAULT_SBATCH
               if o.split('=')[0] not in {given.split('=')[0] for given in sbatch})]
  return '\n'.join([
      '#!/bin/bash', *(f'#SBATCH {option}' for option in options),
      f'# written by `python -m attn_jax.sweep --slurm`; the tasks update {record.SWEEP_FILE}',
      f'cd {shlex.quote(os.getcwd())}',
      f'srun {task} --task="$SLURM_ARRAY_TASK_ID"',
      'status=$?',
      f'if [ "$status" -eq {REQUEUE_STATUS} ]; then',
      '  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
      '  exit 0',
      'fi',
      'exit "$status"', ''])


def write_script(sweep_dir: str, indices: list[int], parallel: int, sbatch: list[str]) -> str:
  """Writes `DIR/sweep.sbatch` (and `DIR/slurm/` for the tasks' logs); returns its path."""
  os.makedirs(os.path.join(sweep_dir, 'slurm'), exist_ok=True)
  path = os.path.join(sweep_dir, SCRIPT)
  with open(path, 'w') as f:
    f.write(script_text(sweep_dir, indices, parallel, sbatch))
  return path


def submit(sweep_dir: str, script: str) -> str:
  """Submits `script` with `sbatch --parsable`, records the job id in the record, returns it.

  Raises:
    ConfigError('submit', ...): no `sbatch` here, or it refused the job.
  """
  try:
    done = subprocess.run(['sbatch', '--parsable', script], capture_output=True, text=True,
                          check=False)
  except FileNotFoundError:
    raise ConfigError('submit', 'no sbatch command on this machine; accepted: --submit on a '
                      f'SLURM login node, or submit {script} there') from None
  if done.returncode:
    raise ConfigError('submit', f'sbatch refused {script}: {done.stderr.strip()}')
  job = done.stdout.strip().split(';')[0]
  with record.updating(sweep_dir) as sweep:
    sweep.setdefault('slurm_jobs', []).append(job)
  return job


def run_task(sweep_dir: str, index: int) -> int:
  """Runs the point at `index` of the record on the cores SLURM gave this task; returns 0 when it
  is finished, `REQUEUE_STATUS` when it stopped with a checkpoint, else its exit status.

  Raises:
    ConfigError('task', ...): no point at `index`.
  """
  points = record.read(sweep_dir)['points']
  if not 0 <= index < len(points):
    raise ConfigError('task', f'no point {index} in {sweep_dir}; accepted: 0 to {len(points) - 1}')
  point = points[index]
  if record.is_finished(record.point_dir(sweep_dir, point['name'])):
    return 0
  task = f'{os.environ.get("SLURM_ARRAY_JOB_ID", "")}_{os.environ.get("SLURM_ARRAY_TASK_ID", "")}'
  process = point_runs.begin(sweep_dir, point, sorted(os.sched_getaffinity(0)), slurm_task=task)
  signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signal.SIGTERM))
  state = point_runs.end(sweep_dir, point['name'], process.wait())
  if state == record.FINISHED:
    return 0
  return REQUEUE_STATUS if state in ('stopped', 'busy') else process.returncode
