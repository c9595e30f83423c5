"""Associative recall: key-value pairs, then a query key; answer the value stored under it.

Generated on the fly (no files); `data.seq_len` sets the number of pairs ((seq_len - 2) // 2),
so the same config serves any length: `--config.data.seq_len=512`.

Command:
  python launch.py --config=experiments/configs/recall.py:transformer --workdir=runs/recall
  (variants: transformer, lstm, gru)

Expect (transformer, defaults): NOT solved: 0.246 after 3000 steps, the guessing level (0.241;
a uniform guess scores 0.1). Results: experiments/results/recall/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, ONE_LAYER_128, TRANSFORMER, named

VARIANTS = {'transformer': dict(TRANSFORMER, pooling='last'),
            **named('lstm', 'gru', **ONE_LAYER_128)}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='recall', seq_len=32),
      train=dict(num_steps=3000, batch_size=64, **LOG_100),
  )
