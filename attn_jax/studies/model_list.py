"""The comma-separated model lists that studies take (`models='lstm,transformer'`)."""
from typing import Sequence

from attn_jax.errors import ConfigError


def parse_model_list(text: str, accepted: Sequence[str], setting: str) -> tuple[str, ...]:
  """'lstm, transformer' -> ('lstm', 'transformer'), without repeats, in the order given.

  Raises:
    ConfigError: on `setting`, when the list is empty or names a model not in `accepted`.
  """
  names = tuple(dict.fromkeys(n.strip() for n in str(text).split(',') if n.strip()))
  unknown = [n for n in names if n not in accepted]
  if not names or unknown:
    what = f'unknown model {unknown[0]!r}' if unknown else 'no model given'
    raise ConfigError(setting, f'{what}; accepted: a comma-separated list of '
                      f'{", ".join(accepted)}')
  return names
