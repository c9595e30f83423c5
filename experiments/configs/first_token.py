"""Remember the first token: classify a sequence by its first token, after seq_len - 1
distractors drawn from the same alphabet.

Generated on the fly (no files); `--config.data.seq_len=N` sets the distance to remember over.
The sequence-length scaling study uses this task.

Command:
  python launch.py --config=experiments/configs/first_token.py:transformer --workdir=runs/first
  (variants: transformer, lstm, gru)

Run time and result (transformer, the command above at its defaults, on the 2-core CPU shared
with other jobs; re-measured 2026-12-05 with token embeddings scaled by sqrt(d)): 1000 steps of
32 at seq_len 64, 160 s for the loop; eval accuracy 1.0 already at step 250 and 1.0 (loss
0.0009) at step 1000, as before the scale. Chance accuracy is 0.1; a model
that carries the first token to the end reaches 1.

gru: its update gate is chrono-initialised (`attn_jax/models/initializers.py`). At these defaults
(learning rate 1e-3) it reached 0.273 after 1000 steps (0.105 with the former zero bias); with
`--config.train.learning_rate=3e-3` 1.0 (a zero bias: 0.104 at 3e-3 too). One seed each, shared CPU.
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import EVAL_250, LOG_100, ONE_LAYER, TRANSFORMER, named

VARIANTS = {'transformer': TRANSFORMER, **named('lstm', 'gru', **ONE_LAYER)}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='first_token', seq_len=64),
      train=dict(warmup_steps=50, **LOG_100, **EVAL_250),
  )
