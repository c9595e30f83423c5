"""Associative recall: key-value pairs, then a query key; answer the value stored under it.

Generated on the fly (no files); `data.seq_len` sets the number of pairs ((seq_len - 2) // 2),
so the same config serves any length: `--config.data.seq_len=512`.

Command:
  python launch.py --config=experiments/configs/recall.py:transformer --workdir=runs/recall
  (variants: transformer, lstm, gru)

Run time and result (transformer, the command above at its defaults, on the 2-core CPU shared
with other jobs; re-measured 2026-12-05 with token embeddings scaled by sqrt(d)): 3000 steps of 64
at seq_len 32 (15 pairs); eval accuracy 0.240 at step 500 and 0.246 at step 3000 (loss 1.98; 0.24
before the scale): NOT solved at these defaults. The guessing level (answering the most frequent
value of the context, `generated.most_frequent_share`) is 0.241 here, so the model learned that
and no lookup; a uniform guess scores 0.1 (10 values); attention can in principle look the key up
directly (two layers: one to bind each value to its key, one to match the query), a recurrent
state must hold every pair.
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
