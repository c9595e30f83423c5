"""`load_dataset`: a data config -> a `Dataset`, for every dataset name we know."""
import importlib

from attn_jax.data import catalog
from attn_jax.data import pipeline
from attn_jax.errors import ConfigError

# Name -> module whose `load(config, seed)` builds the dataset (imported on use).
_LOADERS = {
    'iris': 'attn_jax.data.iris',
    'digits': 'attn_jax.data.digits',
    'text': 'attn_jax.data.text',
    'toy_translation': 'attn_jax.data.toy_translation',
    'scan': 'attn_jax.data.scan',
    'listops': 'attn_jax.data.listops',
    'copy': 'attn_jax.data.generated',
    'recall': 'attn_jax.data.generated',
    'first_token': 'attn_jax.data.generated',
    'adding': 'attn_jax.data.generated',
    'mqar': 'attn_jax.data.generated',
    'parity': 'attn_jax.data.generated',
}
DATASET_NAMES = tuple(_LOADERS)
# The `data.*` settings `load_dataset` reads for every dataset.
COMMON_SETTINGS = ('name', 'eval_split')


def settings_read(name: str) -> tuple[str, ...]:
  """The `data.*` settings dataset `name` reads: the loader module's `SETTINGS` (a tuple, or a
  dict by dataset name) and `COMMON_SETTINGS`; a TFDS dataset's are `catalog.SETTINGS`."""
  settings = (importlib.import_module(_LOADERS[name]).SETTINGS if name in _LOADERS
              else catalog.SETTINGS)
  return COMMON_SETTINGS + tuple(settings[name] if isinstance(settings, dict) else settings)


def load_dataset(data_config, *, seed: int) -> pipeline.Dataset:
  """The dataset `data_config.name` (ours, or any TFDS dataset prepared in `data.data_dir`).

  Raises:
    ConfigError: unknown or unprepared dataset, missing file, or a bad option.
  """
  name = data_config.name
  if name in _LOADERS:
    module = importlib.import_module(_LOADERS[name])
    dataset = module.load(data_config, seed)
  else:
    dataset = catalog.load(data_config, seed, DATASET_NAMES)
  if data_config.get('eval_split'):
    if data_config.eval_split not in dataset.eval_sources:
      raise ConfigError('data.eval_split', f'{name!r} has no split {data_config.eval_split!r}; '
                        f'accepted: {", ".join(dataset.eval_sources)}')
    dataset.default_eval_split = data_config.eval_split
  return dataset
