"""Runs `launch.py` in a subprocess (so that device-count flags apply) and reads its workdir;
loads the config files it takes."""
import functools
import glob
import importlib.util
import json
import os
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, 'experiments', 'configs')


def start(config: str, workdir, *overrides: str, devices: int = 1, extra_flags=(),
          env=None) -> subprocess.Popen:
  """Starts `python launch.py --config=experiments/configs/CONFIG --workdir=DIR --config.K=V ...`
  (text stdout and stderr piped; `env` adds to this process's environment)."""
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
             JAX_PLATFORMS='cpu', TF_CPP_MIN_LOG_LEVEL='3', **(env or {}))
  command = [sys.executable, os.path.join(REPO, 'launch.py'),
             f'--config={os.path.join(CONFIGS, config)}', f'--workdir={workdir}',
             *[f'--config.{o}' for o in overrides], *extra_flags]
  return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=REPO)


def finish(process: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess:
  """Waits for a process of `start` (killing it after `timeout` s) and returns its outputs."""
  try:
    stdout, stderr = process.communicate(timeout=timeout)
  finally:
    process.kill()
  return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def launch(config: str, workdir, *overrides: str, devices: int = 1, extra_flags=(),
           timeout: float = 300) -> subprocess.CompletedProcess:
  """`python launch.py --config=experiments/configs/CONFIG --workdir=DIR --config.K=V ...`."""
  return finish(start(config, workdir, *overrides, devices=devices, extra_flags=extra_flags),
                timeout)


def free_port() -> int:
  """A TCP port free on localhost now (for a jax.distributed coordinator)."""
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def metric_lines(workdir, split: str = 'train') -> list[dict]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [line for line in map(json.loads, f) if line['split'] == split]


def losses(workdir, split: str = 'train') -> dict[int, float]:
  return {line['step']: line['loss'] for line in metric_lines(workdir, split)}


def load_config_file(path: str):
  """A config file (`experiments/configs/NAME.py`) loaded as a module named NAME."""
  spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def config_variants() -> list[tuple[str, object]]:
  """(path, variant) of every config file and each of its `VARIANTS` (None where it has none)."""
  return [(path, variant) for path in sorted(glob.glob(os.path.join(CONFIGS, '*.py')))
          for variant in getattr(load_config_file(path), 'VARIANTS', [None])]


def tiny_char_lm_config():
  """`char_lm.py:transformer` made tiny: 12 steps of batch 8, a checkpoint every 4 steps."""
  module = load_config_file(os.path.join(CONFIGS, 'char_lm.py'))
  config = module.get_config('transformer')
  config.model.update(num_layers=1, hidden_size=32, num_heads=2, mlp_dim=64, dropout_rate=0.1)
  config.data.seq_len = 32
  config.train.update(batch_size=8, num_steps=12, log_every=1, eval_every=4,
                      checkpoint_every=4, keep_checkpoints=5)
  config.sample.num_samples = 0
  return config


@functools.cache
def launch_module():
  """`launch.py` imported as a module, once per process (its absl flags can be defined once)."""
  spec = importlib.util.spec_from_file_location('launch', os.path.join(REPO, 'launch.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
