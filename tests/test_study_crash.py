"""kill -9 at random moments of a study, then the same command again, until it finishes: its tables
hold the rows of an uninterrupted run (no row lost, duplicated or half-written; values equal
where they are not wall-clock times), and every file reads back.

Slow (every start imports JAX and compiles): `python -m pytest -m slow tests/test_study_crash.py`.
"""
import csv
import importlib.util
import os
import random
import re
import time

import pytest

from crash_runs import killed
from launcher import CONFIGS, finish, start

# Each study with a tiny size: (config file, overrides).
SEQ_LEN = ('seq_len_scaling.py', {'models': 'lstm,transformer', 'lengths': '8,16'})
STUDIES = {
    'seq_len_scaling': SEQ_LEN,
    'scan_generalisation': ('scan_generalisation.py', {}),
    'benchmark': ('benchmark.py', {}),
}
# Wall-clock columns (and those derived from them, and the machine's load as they were timed):
# the only values allowed to differ.
TIMING = re.compile(r'(^|_)(ms|us|s|seconds|ratio|gflops|time|speedup|share|percent|load)(_|$)')
# Per-operation profiles list what one timed step spent where: their rows are timings.
TIMING_FILES = ('profile.csv',)
KILLS_PER_STUDY = 4


def smoke_overrides(config: str, extra: dict) -> list[str]:
  """The config file's `SMOKE_TEST` overrides with `extra`, as `key=value` strings."""
  spec = importlib.util.spec_from_file_location(f'crash_{config[:-3]}',
                                                os.path.join(CONFIGS, config))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return [f'{k}={v}' for k, v in {**getattr(module, 'SMOKE_TEST', {}), **extra}.items()]


def launch(config, workdir, overrides, kill_after: float = 0):
  process = start(config, workdir, *overrides)
  if kill_after:
    try:
      process.wait(timeout=kill_after)
    except Exception:  # pylint: disable=broad-except  # still running: the moment to kill
      process.kill()
  return finish(process, timeout=900)


def tables(workdir) -> dict[str, list[dict]]:
  """{csv file: its rows without the wall-clock columns}, every CSV under `workdir` (run
  directories of training runs included), read whole."""
  out = {}
  for folder, _, files in os.walk(workdir):
    for name in sorted(f for f in files if f.endswith('.csv')):
      path = os.path.join(folder, name)
      with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
      out[os.path.relpath(path, workdir)] = [] if name in TIMING_FILES else [
          {k: v for k, v in r.items() if not TIMING.search(k)} for r in rows]
  return out


@pytest.mark.slow
@pytest.mark.parametrize('study', sorted(STUDIES))
def test_a_study_killed_at_random_moments_ends_with_the_uninterrupted_rows(study, tmp_path):
  config, extra = STUDIES[study]
  overrides = smoke_overrides(config, extra)
  started = time.time()
  result = launch(config, tmp_path / 'uninterrupted', overrides)
  assert result.returncode == 0, result.stderr[-3000:]
  whole = time.time() - started
  rng, kills, workdir = random.Random(study), 0, tmp_path / 'killed'
  while True:
    result = launch(config, workdir, overrides,
                    kill_after=rng.uniform(0.5, whole) if kills < KILLS_PER_STUDY else 0)
    if result.returncode == 0:
      break
    assert killed(result), result.stderr[-3000:]
    kills += 1
  assert kills >= 2, f'only {kills} kill(s) landed before the study finished'
  expected = tables(tmp_path / 'uninterrupted')
  got = tables(workdir)
  assert sorted(got) == sorted(expected)
  for name, rows in expected.items():
    assert got[name] == rows, name
  print(f'{study}: {kills} kills survived; tables {sorted(expected)}', flush=True)
