"""Delayed copy: read 10 symbols, wait through blanks, write them back after a GO marker.

Generated on the fly (no files): every batch is a function of (seed, step); `data.seq_len` sets
the delay (seq_len - 21 blanks between the last symbol and GO), so the same config serves any
length: `--config.data.seq_len=512`.

Command:
  python launch.py --config=experiments/configs/copy.py:transformer --workdir=runs/copy
  (variants: transformer, lstm, gru)

Expect (transformer, defaults): token accuracy 1.0 on the copied positions from step 500 (chance
1/8), about 3 minutes on a 2-core CPU. Results: experiments/results/copy/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, ONE_LAYER_128, TRANSFORMER, named

VARIANTS = {'transformer': TRANSFORMER, **named('lstm', 'gru', **ONE_LAYER_128)}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='copy', seq_len=64),
      train=dict(num_steps=2000, learning_rate=3e-3, **LOG_100),
  )
