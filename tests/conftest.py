"""Test session setup: CPU only, and datasets built into a fresh temporary TFDS directory.

Set `TFDS_DATA_DIR` yourself to reuse datasets that are already built. Subprocesses started by
the tests (see `launcher.py`) inherit both settings.
"""
import os
import tempfile

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# Implicit rank promotion (adding a [n] array to a [m, n] one without saying so) is an error in the
# tests, library code and subprocesses alike: silent broadcasting bugs fail loudly (nanodo's habit).
os.environ.setdefault('JAX_NUMPY_RANK_PROMOTION', 'raise')
# One persistent compilation cache for the whole session (its workers and the launches they start):
# a program compiled once is loaded by every later process (attn_jax/compilation_cache.py).
os.environ.setdefault('ATTN_JAX_COMPILATION_CACHE',
                      os.path.join(tempfile.gettempdir(), 'attn_jax_test_compilation_cache'))
# Each test process (pytest-xdist worker) builds into its own directory, so that no two processes
# build the same dataset into one place at once.
if 'TFDS_DATA_DIR' not in os.environ or os.environ.get('ATTN_JAX_TEST_TFDS_DIR'):
  worker = os.environ.get('PYTEST_XDIST_WORKER', 'main')
  os.environ['TFDS_DATA_DIR'] = tempfile.mkdtemp(prefix=f'attn_jax_tfds_{worker}_')
  os.environ['ATTN_JAX_TEST_TFDS_DIR'] = '1'  # ours, not the user's: replaced in each worker

from attn_jax import compilation_cache  # pylint: disable=wrong-import-position  # after the settings

compilation_cache.enable()
