"""The adding problem (Hochreiter & Schmidhuber 1997): inputs [seq_len, 2] of uniform values
and a marker channel with one mark in each half; predict the sum of the two marked values.

Generated on the fly (no files); `--config.data.seq_len=N` sets the length.

Command:
  python launch.py --config=experiments/configs/adding.py:lstm --workdir=runs/adding
  (variants: lstm, gru, transformer)

Expect (lstm, defaults): eval mean squared error 0.00077 after 2000 steps (always answering 1:
about 0.167), about 12 minutes on a shared 2-core CPU.
Results: experiments/results/adding/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, ONE_LAYER, TRANSFORMER, named

VARIANTS = {**named('lstm', 'gru', **ONE_LAYER), 'transformer': TRANSFORMER}


def get_config(variant: str = 'lstm'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='adding', seq_len=100),
      train=dict(num_steps=2000, batch_size=64, **LOG_100),
  )
