"""TensorFlow Datasets without TensorFlow: offline setup, building our builders, opening sources.

Everything that touches `tensorflow_datasets` internals lives here, so that a TFDS upgrade is
handled in one file. Data is written as `array_record` files and read back through
`ArrayRecordDataSource` (random access: `len(source)`, `source[i] -> example dict`);
`tfds.load`/`as_numpy` need TensorFlow and are never used.
"""
import contextlib
import dataclasses
import functools
import hashlib
import importlib.resources
import json
import logging
import os
import re
import sys
from typing import Any

from attn_jax.errors import ConfigError

FILE_FORMAT = 'array_record'


def default_data_dir() -> str:
  """TFDS's default data directory (`$TFDS_DATA_DIR`, else `~/tensorflow_datasets`)."""
  return os.environ.get('TFDS_DATA_DIR') or os.path.join(
      os.path.expanduser('~'), 'tensorflow_datasets')


@functools.cache
def tfds():
  """Imports `tensorflow_datasets` once, set up to run offline and quietly.

  TFDS refers to the `importlib_resources` backport, which its package does not require on
  Python >= 3.9 (a builder defined inside a package fails without it); the standard library's
  `importlib.resources` has what it uses.
  """
  try:
    import importlib_resources  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    sys.modules['importlib_resources'] = importlib.resources
  import tensorflow_datasets as tfds_module  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.utils import gcs_utils  # pylint: disable=g-import-not-at-top
  gcs_utils._is_gcs_disabled = True  # pylint: disable=protected-access  (no network here)
  tfds_module.disable_progress_bar()
  return tfds_module


@contextlib.contextmanager
def quiet_tfds():
  """Hides TFDS's warnings about custom configs and missing metadata while preparing."""
  logger = logging.getLogger('absl')
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def options_config(options: dict[str, Any], description: str = ''):
  """A TFDS BuilderConfig whose name is derived from the generation options.

  Different options (a ListOps length, a SCAN seed) are prepared side by side in
  `data_dir/<builder>/<config name>/<version>` and each is built once.
  """
  core = tfds().core

  @dataclasses.dataclass(eq=False)
  class OptionsConfig(core.BuilderConfig):
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

  raw = '_'.join(f'{k}{v}' for k, v in sorted(options.items()))
  readable = re.sub(r'[^A-Za-z0-9.\-]+', '-', raw)
  if len(readable) > 80 or not readable or readable != raw.replace('_', '-'):
    digest = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    readable = 'h' + digest
  return OptionsConfig(name=readable, description=description, options=dict(options))


def prepare(builder_cls, data_dir: str, options: dict[str, Any]) -> dict[str, Any]:
  """Builds `builder_cls` with `options` into `data_dir` (once), returns its split sources."""
  core_tfds = tfds()
  data_dir = resolve_data_dir(data_dir)
  with quiet_tfds():
    builder = builder_cls(
        data_dir=data_dir, config=options_config(options), file_format=FILE_FORMAT)
    if not builder.is_prepared():
      builder.download_and_prepare(
          download_config=core_tfds.download.DownloadConfig(try_download_gcs=False))
    return builder.as_data_source()


def random_access(builder) -> bool:
  """Whether a prepared builder's files can be read by `as_data_source` (no TensorFlow)."""
  formats = tfds().core.file_adapters.FileFormat.with_random_access()
  return bool(builder.info.available_file_formats() & set(formats))


def resolve_data_dir(data_dir: str) -> str:
  """`data_dir`, or TFDS's default when empty; created if missing."""
  data_dir = os.path.expanduser(data_dir or default_data_dir())
  try:
    os.makedirs(data_dir, exist_ok=True)
  except OSError as e:
    raise ConfigError('data.data_dir', f'cannot create {data_dir!r}: {e}') from e
  return data_dir


def read_all(source) -> list[dict[str, Any]]:
  """Every example of a random-access source, in index order."""
  getitems = getattr(source, '__getitems__', None)
  if getitems is not None:
    return list(getitems(range(len(source))))
  return [source[i] for i in range(len(source))]
