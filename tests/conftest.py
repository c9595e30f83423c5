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
# Each test process (pytest-xdist worker) builds into its own directory, so that no two processes
# build the same dataset into one place at once.
if 'TFDS_DATA_DIR' not in os.environ or os.environ.get('ATTN_JAX_TEST_TFDS_DIR'):
  worker = os.environ.get('PYTEST_XDIST_WORKER', 'main')
  os.environ['TFDS_DATA_DIR'] = tempfile.mkdtemp(prefix=f'attn_jax_tfds_{worker}_')
  os.environ['ATTN_JAX_TEST_TFDS_DIR'] = '1'  # ours, not the user's: replaced in each worker
