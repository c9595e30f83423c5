"""Named settings that experiment configs share, each holding only what differs from the
defaults (`models.registry.model_config_defaults()`, `training.config.train_config_defaults()`).

A config file states what differs from `config_base.base_config()` and nothing else
(`tests/test_config_defaults.py`); these presets name the differences that several files share:

    VARIANTS = {'transformer': TRANSFORMER, **named('lstm', 'gru', **ONE_LAYER_128)}
    base_config(model=variant_of(VARIANTS, variant), train=dict(num_steps=2000, **LOG_100))
"""
from typing import Sequence

from attn_jax.models.registry import model_config_defaults

# --- model.* ---
# The small transformer is the default model: 2 pre-LN blocks, d_model 64, 4 heads, MLP 128,
# sinusoidal positions, mean pooling, no dropout. A variant changes it with
# `dict(TRANSFORMER, pooling='last')`.
TRANSFORMER = {}
# Recurrent models (rnn, lstm, gru, mingru, ...) of one layer: 64 units (the default width) or 128.
ONE_LAYER = dict(num_layers=1)
ONE_LAYER_128 = dict(num_layers=1, hidden_size=128)


def named(*names: str, **settings) -> dict:
  """One variant per model name, each `settings` with its `name`:
  `named('lstm', 'gru', num_layers=1)` -> `{'lstm': {'name': 'lstm', 'num_layers': 1}, 'gru': ...}`.
  """
  return {name: dict(settings, name=name) for name in names}


# The keys a study section lists for a transformer (`bottleneck.transformer`,
# `scan_generalisation.transformer`), each overridable on the command line.
TRANSFORMER_KEYS = ('name', 'num_layers', 'hidden_size', 'num_heads', 'mlp_dim', 'dropout_rate',
                    'positional')


def spelled_out(settings: dict, keys: Sequence[str]) -> dict:
  """`settings` plus each of `keys` it leaves out, at its default: a study's per-model section
  (which the study applies over the model defaults) that lists those keys so that the command line
  can set them (`--config.bottleneck.transformer.hidden_size=16`)."""
  defaults = model_config_defaults()
  return {**{key: defaults[key] for key in keys}, **settings}


# --- train.* cadence: log_every / eval_every / checkpoint_every (defaults 50 / 500 / 500) ---
LOG_100 = dict(log_every=100)                                            # 100 / 500 / 500
EVAL_250 = dict(eval_every=250, checkpoint_every=250)                    # 50 / 250 / 250
EVAL_1000 = dict(log_every=100, eval_every=1000, checkpoint_every=1000)  # 100 / 1000 / 1000
