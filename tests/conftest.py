"""Test session setup: CPU only, and datasets built into a fresh temporary TFDS directory.

Set `TFDS_DATA_DIR` yourself to reuse datasets that are already built. Subprocesses started by
the tests (see `launcher.py`) inherit both settings.
"""
import os
import tempfile

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TFDS_DATA_DIR', tempfile.mkdtemp(prefix='attn_jax_tfds_'))
