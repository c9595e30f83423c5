"""Any TFDS catalog dataset prepared in `data.data_dir`, read through `tfds.data_source`."""
from attn_jax.data import registry
from attn_jax.errors import ConfigError


def load(config, seed: int):
  del seed
  raise ConfigError('data.name', f'unknown dataset {config.name!r}; accepted: '
                    f'{", ".join(registry.DATASET_NAMES)}, or a TFDS catalog name that is '
                    f'prepared in data.data_dir')
