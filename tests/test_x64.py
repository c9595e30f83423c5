"""The attention, decoding and train-step tests once more under `JAX_ENABLE_X64=1` (how reference checks run).

Under x64 Python integer literals become int64, so index arithmetic that mixes them with int32
arrays (a KV cache's position) is a TypeError there only. Each case runs a subset of those tests
in a subprocess, since x64 must be set before JAX starts.
"""
import os
import subprocess
import sys

import pytest

from launcher import REPO

SUBSETS = {
    'attention': ['tests/test_models_attention.py'],
    'decoding': ['tests/test_decoding.py::test_cached_lm_decoding_equals_recomputation[transformer]',
                 'tests/test_decoding.py::test_beam_search_finds_what_greedy_misses'],
    'train_step': ['tests/test_training_steps.py'],
}


@pytest.mark.parametrize('subset', sorted(SUBSETS))
def test_passes_under_x64(subset):
  result = subprocess.run(
      [sys.executable, '-m', 'pytest', '-q', '-n', '0', '-p', 'no:cacheprovider',
       *SUBSETS[subset]], cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
      env=dict(os.environ, JAX_ENABLE_X64='1', JAX_PLATFORMS='cpu'))
  assert result.returncode == 0, result.stdout[-4000:]
  assert ' passed' in result.stdout.splitlines()[-1]
