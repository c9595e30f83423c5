"""What ran: the resolved config (`DIR/config.json`) and the platform (`DIR/run.json`)."""
import os
import platform
import subprocess

import flax
import jax

from attn_jax import durable


def _git_commit() -> str:
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True, timeout=10,
                          cwd=os.path.dirname(os.path.abspath(__file__)),
                          check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return 'unknown'


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


def record_run(config, workdir: str):
  """Writes `config.json` (the resolved config) and `run.json` (git commit and platform)."""
  os.makedirs(workdir, exist_ok=True)
  durable.write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  durable.write_json(os.path.join(workdir, 'run.json'),
                     {'git_commit': _git_commit(), **platform_info()})
