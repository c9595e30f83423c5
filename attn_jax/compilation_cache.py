"""JAX's persistent compilation cache, on by default for every launch and the test suite.

A compiled program is stored on disk under a key of the program, the devices, the XLA flags and
the jax/jaxlib versions, so the second launch of the same experiment (in any workdir) loads its
programs instead of compiling them. Where it lives, by priority:

  ATTN_JAX_COMPILATION_CACHE=off      no persistent cache
  ATTN_JAX_COMPILATION_CACHE=DIR      DIR
  JAX_COMPILATION_CACHE_DIR=DIR       DIR (JAX's own variable; left as JAX set it)
  otherwise                           $XDG_CACHE_HOME/attn_jax/jax (default ~/.cache/attn_jax/jax)

Every program is cached whatever its compile time. Nothing is evicted: JAX's eviction takes a
file lock around every read, which deadlocked a test process against itself here; delete the
folder to reclaim the space. A damaged entry (a process killed while writing it) fails to load
with a warning and the program is compiled again.
"""
import os

import jax

ENV = 'ATTN_JAX_COMPILATION_CACHE'


def cache_dir() -> str | None:
  """The cache directory this process should use, or None for no cache (see the docstring)."""
  chosen = os.environ.get(ENV, '').strip()
  if chosen.lower() in ('off', '0', 'false', 'no'):
    return None
  if chosen:
    return os.path.abspath(os.path.expanduser(chosen))
  if os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    return os.environ['JAX_COMPILATION_CACHE_DIR']
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'attn_jax', 'jax')


def enable() -> str | None:
  """Points JAX at `cache_dir()` (before anything is compiled); returns the directory or None."""
  path = cache_dir()
  if path is None:
    jax.config.update('jax_enable_compilation_cache', False)
    return None
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  return path
