"""The persistent compilation cache (attn_jax/compilation_cache.py): a second launch of the same
experiment in a new workdir compiles nothing that the first compiled (it adds no cache entry,
since every compiled program is written), and its results are the same."""
import os

from attn_jax import compilation_cache
from launcher import finish, losses, start

OVERRIDES = ('train.num_steps=6', 'train.log_every=2', 'train.eval_every=3')


def _entries(cache) -> set:
  return {name for name in os.listdir(cache) if name.endswith('-cache')}


def test_second_launch_compiles_nothing_new(tmp_path):
  cache = tmp_path / 'cache'
  env = {compilation_cache.ENV: str(cache)}
  first = finish(start('iris_mlp.py:mlp', tmp_path / 'a', *OVERRIDES, env=env))
  assert first.returncode == 0, first.stderr[-2000:]
  compiled = _entries(cache)
  assert compiled  # every program of the run
  second = finish(start('iris_mlp.py:mlp', tmp_path / 'b', *OVERRIDES, env=env))
  assert second.returncode == 0, second.stderr[-2000:]
  assert _entries(cache) == compiled
  assert losses(tmp_path / 'b') == losses(tmp_path / 'a')
  assert losses(tmp_path / 'b', 'eval') == losses(tmp_path / 'a', 'eval')


def test_cache_dir_settings(monkeypatch, tmp_path):
  monkeypatch.delenv('JAX_COMPILATION_CACHE_DIR', raising=False)
  monkeypatch.setenv(compilation_cache.ENV, 'off')
  assert compilation_cache.cache_dir() is None
  monkeypatch.setenv(compilation_cache.ENV, str(tmp_path / 'here'))
  assert compilation_cache.cache_dir() == str(tmp_path / 'here')
  monkeypatch.delenv(compilation_cache.ENV)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
  assert compilation_cache.cache_dir() == os.path.join(str(tmp_path), 'attn_jax', 'jax')
  monkeypatch.setenv('JAX_COMPILATION_CACHE_DIR', '/jax/own')
  assert compilation_cache.cache_dir() == '/jax/own'
