"""Next-character prediction on English text: a transformer or an RNN language model.

The default text is the Python documentation topics that ship with every CPython
(`pydoc_data.topics`, about 465 KB); `--config.data.path=FILE_OR_FOLDER` trains on your own text.

Command:
  python launch.py --config=experiments/configs/char_lm.py:transformer --workdir=runs/char-lm
  (variants: transformer, lstm, gru, rnn, mingru, linear_attention (the transformer's shape with
  causal linear attention), mamba (width 128, 4 blocks: two Mamba blocks per transformer block,
  as Gu & Dao 2023 match them); `--config.mode=sample` continues `sample.prompt` from the
  workdir's latest checkpoint)

Expect (`--config.train.num_steps=300`): eval loss 1.84 nats/char (transformer), 1.94 (lstm), 2.08
(linear_attention), against the text's unigram entropy of 3.25. Results:
experiments/results/char_lm/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import EVAL_250, TRANSFORMER, named

# The transformer at width 128 (MLP 512), and linear attention in the same shape.
_WIDE = dict(TRANSFORMER, hidden_size=128, mlp_dim=512)
VARIANTS = {'transformer': _WIDE,
            **named('lstm', 'gru', 'rnn', 'mingru', num_layers=1, hidden_size=256),
            'linear_attention': dict(_WIDE, name='linear_attention'),
            'mamba': dict(name='mamba', num_layers=4, hidden_size=128)}


def get_config(variant: str = 'transformer'):
  # data: the default dataset, `text`, in windows of 128 characters.
  return base_config(
      model=variant_of(VARIANTS, variant),
      train=dict(learning_rate=3e-3, warmup_steps=50, **EVAL_250),
  )
