"""The adding problem (Hochreiter & Schmidhuber 1997): inputs [seq_len, 2] of uniform values
and a marker channel with one mark in each half; predict the sum of the two marked values.

Generated on the fly (no files); `--config.data.seq_len=N` sets the length.

Command:
  python launch.py --config=experiments/configs/adding.py:lstm --workdir=runs/adding
  (variants: lstm, gru, transformer)

Run time and result (lstm, the command above at its defaults, measured at commit 21816ae on the
2-core CPU while other jobs shared it, load about 15): 2000 steps of 64 at seq_len 100 in 678 s
of training (loop wall time, 2.95 steps/s; 723 s for the whole command); eval mean squared error
0.0040 at step 500, 0.0021 at 1000, 0.00077 at 2000. Always answering 1 gives a mean squared
error of about 0.167; solving the task means a loss near 0.
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
