"""One point's process: the `launch.py` command, its share of the cores, its log, and what its
end means for the record.

Threads: a point runs pinned to its cores (`os.sched_setaffinity` in the child before `exec`,
what `taskset` does): the kernel schedules its threads, XLA's pool included, on those cores
only, and XLA sizes that pool by the cores it may use. OpenMP, MKL and OpenBLAS are told the
same count. A point also gets SIGTERM when the process that started it dies (Linux
`PR_SET_PDEATHSIG`), so a sweep killed with SIGKILL leaves no orphan training: each run saves a
checkpoint where it is and stops, as on a preemption (docs/design.md §3.5).
"""
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time

from attn_jax.sweep import record

LAUNCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), 'launch.py')
LOG_FILE = 'sweep.log'  # in the point's workdir: the run's stdout and stderr, appended
THREAD_VARIABLES = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS')
PR_SET_PDEATHSIG = 1
BUSY = 'error: workdir: in use by'  # launch.py's line when another process holds the workdir
RUN_LOCK = 'run.lock'  # the workdir's lock file (attn_jax/training/workdir_lock.py)
START_LINE = '--- sweep: start'  # written to the log before each start of the point's run


def launch_args(config_arg: str, settings: dict, workdir: str) -> list[str]:
  """The flags of `launch.py` for one point: the config, its workdir, then `--config.KEY=V`."""
  return [f'--config={config_arg}', f'--workdir={workdir}',
          *(f'--config.{key}={value}' for key, value in settings.items())]


def core_share(slot: int, parallel: int, cores: list[int]) -> list[int]:
  """The cores of run slot `slot` of `parallel`: an even share of `cores`, disjoint between
  slots; with more slots than cores, slots share cores one each, in turn."""
  if parallel > len(cores):
    return [cores[slot % len(cores)]]
  return cores[slot * len(cores) // parallel:(slot + 1) * len(cores) // parallel]


def _in_child(cores: list[int], parent: int):
  """Runs in the child between fork and exec: pin to `cores`, die with the parent."""
  os.sched_setaffinity(0, cores)
  ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
  if os.getppid() != parent:  # the parent died before the line above
    os._exit(1)


def is_busy(workdir: str) -> bool:
  """Whether another process holds the workdir's run lock now (a run of another sweep)."""
  path = os.path.join(workdir, RUN_LOCK)
  if not os.path.exists(path):
    return False
  with open(path, 'a') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      return True
    fcntl.flock(f, fcntl.LOCK_UN)
  return False


def begin(sweep_dir: str, point: dict, cores: list[int], **fields) -> subprocess.Popen:
  """Starts `point`'s run on `cores` (its output appended to `DIR/<name>/sweep.log`) and records
  it as running, with its pid, cores and `fields`."""
  workdir = record.point_dir(sweep_dir, point['name'])
  os.makedirs(workdir, exist_ok=True)
  env = dict(os.environ, **{name: str(len(cores)) for name in THREAD_VARIABLES})
  with open(os.path.join(workdir, LOG_FILE), 'ab') as log:
    log.write(f'{START_LINE} {time.strftime("%Y-%m-%d %H:%M:%S")} ---\n'.encode())
    log.flush()
    process = subprocess.Popen([sys.executable, LAUNCH, *point['args']], stdout=log,
                               stderr=subprocess.STDOUT, env=env, start_new_session=True,
                               preexec_fn=lambda parent=os.getpid(): _in_child(cores, parent))
  record.set_point(sweep_dir, point['name'], state='running', pid=process.pid, cores=cores,
                   started=time.time(), exit_status=None, error=None, **fields)
  return process


def end(sweep_dir: str, name: str, exit_status: int) -> str:
  """Records how point `name`'s run ended and returns its state: finished or stopped (exit 0, or
  killed by SIGTERM before it could save: it resumes from its last checkpoint), busy (its
  workdir was held by another process), else failed with its error line."""
  workdir = record.point_dir(sweep_dir, name)
  stopped = exit_status in (0, -signal.SIGTERM)
  error = None if stopped else _error_line(workdir)
  if stopped:
    state = record.state_after(workdir)
  else:
    state = 'busy' if error.startswith(BUSY) else 'failed'
  record.set_point(sweep_dir, name, state=state, exit_status=exit_status, error=error, pid=None)
  return state


def _error_line(workdir: str) -> str:
  """The last `error:` line of the point's latest start in its log, else that start's last
  line (a traceback's end)."""
  with open(os.path.join(workdir, LOG_FILE), errors='replace') as f:
    lines = [line.strip() for line in f if line.strip()]
  starts = [i for i, line in enumerate(lines) if line.startswith(START_LINE)]
  lines = lines[starts[-1] + 1:] if starts else lines
  errors = [line for line in lines if line.startswith('error:')]
  return (errors or lines or ['(no output)'])[-1]
