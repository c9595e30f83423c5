"""Remember the first token: classify a sequence by its first token, after seq_len - 1
distractors drawn from the same alphabet.

Generated on the fly (no files); `--config.data.seq_len=N` sets the distance to remember over.
The sequence-length scaling study uses this task.

Command:
  python launch.py --config=experiments/configs/first_token.py:transformer --workdir=runs/first
  (variants: transformer, lstm, gru, mamba)

The gru's update gate is chrono-initialised (`attn_jax/models/initializers.py`).

Expect (defaults): transformer accuracy 1.0 by step 250 (chance 0.1); gru 0.27 after 1000 steps,
1.0 with `--config.train.learning_rate=3e-3`. Results: experiments/results/first_token/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import EVAL_250, LOG_100, ONE_LAYER, TRANSFORMER, named

VARIANTS = {'transformer': TRANSFORMER, **named('lstm', 'gru', 'mamba', **ONE_LAYER)}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='first_token', seq_len=64),
      train=dict(warmup_steps=50, **LOG_100, **EVAL_250),
  )
