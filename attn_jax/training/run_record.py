"""What ran: the resolved config (`DIR/config.json`) and each start of the run (`DIR/run.json`)."""
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import socket
import subprocess
import sys

import flax
import jax

from attn_jax import durable
from attn_jax.host_cpu import cpu_model

# Packages whose versions each start records (distribution names).
VERSIONED = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'tensorflow-datasets')


def _git(*args: str) -> str | None:
  """The output of `git ARGS` in this package's checkout, or None outside one."""
  try:
    return subprocess.run(['git', *args], capture_output=True, text=True, timeout=10,
                          cwd=os.path.dirname(os.path.abspath(__file__)),
                          check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None


def git_state() -> dict:
  """`git_commit` ('unknown' outside a checkout) and `git_dirty` (tracked files changed since
  that commit; None when unknown)."""
  status = _git('status', '--porcelain', '--untracked-files=no')
  return {'git_commit': _git('rev-parse', 'HEAD') or 'unknown',
          'git_dirty': None if status is None else bool(status)}


def package_versions() -> dict[str, str]:
  """The installed version of each package of `VERSIONED` ('not installed' where absent)."""
  versions = {}
  for name in VERSIONED:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = 'not installed'
  return versions


def platform_info() -> dict:
  """Device kind and count, process count, jax/flax versions, CPU and Python."""
  return {
      'device_kind': jax.devices()[0].device_kind,
      'platform': jax.default_backend(),
      'device_count': jax.device_count(),
      'process_count': jax.process_count(),
      'jax_version': jax.__version__,
      'flax_version': flax.__version__,
      'cpu': platform.processor() or platform.machine(),
      'python': platform.python_version(),
  }


def report_platform() -> dict:
  """`platform_info()` with the CPU's model name and core count: the machine a study's report
  names."""
  return {**platform_info(), 'cpu_model': cpu_model(), 'cpu_count': os.cpu_count()}


def start_record(step: int, **extra) -> dict:
  """One start of a run from `step` (0 for a fresh run): time (UTC), command line, git state,
  package versions, platform and host, plus `extra` (e.g. `init_from`)."""
  return {'time': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
          'step': int(step), 'command': shlex.join(sys.argv), **git_state(),
          'versions': package_versions(), **platform_info(), 'host': socket.gethostname(),
          **extra}


def record_run(config, workdir: str, step: int, **extra):
  """Writes `config.json` (the resolved config) and adds this start to `run.json`: the latest
  start's keys at the top level, and every start in order under `starts` (docs/design.md §3.2).

  Args:
    config: the resolved config.
    workdir: the run's directory.
    step: the step this start resumes from (0 for a fresh run).
    **extra: more keys for this start's record.
  """
  os.makedirs(workdir, exist_ok=True)
  durable.write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  path = os.path.join(workdir, 'run.json')
  previous = {}
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
  starts = previous.get('starts', [previous] if previous else [])  # older files: one start
  latest = start_record(step, **extra)
  durable.write_json(path, {**latest, 'starts': [*starts, latest]})
