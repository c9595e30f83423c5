"""Runs `launch.py` in a subprocess (so that device-count flags apply) and reads its workdir."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, 'experiments', 'configs')


def launch(config: str, workdir, *overrides: str, devices: int = 1, extra_flags=(),
           timeout: float = 300) -> subprocess.CompletedProcess:
  """`python launch.py --config=experiments/configs/CONFIG --workdir=DIR --config.K=V ...`."""
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
             JAX_PLATFORMS='cpu', TF_CPP_MIN_LOG_LEVEL='3')
  command = [sys.executable, os.path.join(REPO, 'launch.py'),
             f'--config={os.path.join(CONFIGS, config)}', f'--workdir={workdir}',
             *[f'--config.{o}' for o in overrides], *extra_flags]
  return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                        cwd=REPO, check=False)


def metric_lines(workdir, split: str = 'train') -> list[dict]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [line for line in map(json.loads, f) if line['split'] == split]


def losses(workdir, split: str = 'train') -> dict[int, float]:
  return {line['step']: line['loss'] for line in metric_lines(workdir, split)}
