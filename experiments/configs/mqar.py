"""Multi-query associative recall (MQAR; Zoology, Arora et al. 2024): `data.seq_len // 4`
key-value pairs, then every key once more in random order, each followed by a blank; the loss
is on the value predicted at each query key, so one sequence gives `seq_len // 4` labels.

Generated on the fly (no files); the number of pairs grows with `--config.data.seq_len=N`
(keys from max(32, pairs), values from `data.num_classes`). A causal language model of any
family reads it: attention can look each key up, a recurrent state must hold every pair.

Command:
  python launch.py --config=experiments/configs/mqar.py:transformer --workdir=runs/mqar
  (variants: transformer, lstm, gru, mingru)

Chance accuracy is 1 / num_classes = 0.0625; the guessing level (answering the most frequent
value of the context, without any lookup) is 0.337 at 4 pairs and 0.192 at 16 pairs
(`generated.most_frequent_share`).
Result (2-core CPU shared with other jobs, one seed each; 2026-12-05, token embeddings scaled by
sqrt(d)) with `--config.data.seq_len=16` at these defaults: transformer 0.961 at step 250 and 1.0
from step 500 (before the scale: 0.35 at 500, 0.997 at 1000). At width 64
(`--config.model.hidden_size=64 --config.model.mlp_dim=256`) 0.995 at step 400 and 1.0 at 500
(before: 0.49 at step 1000); an independent PyTorch model of that shape solves it at 300-400.
At these defaults (seq_len 64, 16 pairs, width 128, 2000 steps) the transformer went from 0.183
at step 250 to 0.994 at 500 and 1.0 from 1000 (before the scale it stayed at 0.19, the guessing
level, for all 2000 steps). lstm (2026-12-01, L=16) 0.34 throughout: the guessing level, no
lookup learned.
Before the answers were hidden (a query followed by its value) every family plateaued near 0.56
by eliminating the values already answered (per-query 0.35 / 0.39 / 0.52 / 1.0).
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, TRANSFORMER, named

# Width 128 (2 layers, the default depth) for every family.
VARIANTS = {'transformer': dict(TRANSFORMER, hidden_size=128, mlp_dim=256),
            **named('lstm', 'gru', 'mingru', hidden_size=128)}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='mqar', seq_len=64, num_classes=16),
      train=dict(num_steps=2000, batch_size=64, **LOG_100, eval_every=250),
  )
