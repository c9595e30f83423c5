"""Next-character prediction on English text: a transformer or an RNN language model.

The default text is the Python documentation topics that ship with every CPython
(`pydoc_data.topics`, about 465 KB); `--config.data.path=FILE_OR_FOLDER` trains on your own text.

Command:
  python launch.py --config=experiments/configs/char_lm.py:transformer --workdir=runs/char-lm
  (variants: transformer, lstm, gru, rnn, mingru, linear_attention (the transformer's shape with
  causal linear attention); `--config.mode=sample` continues `sample.prompt` from the workdir's
  latest checkpoint)

Run time and result (2-core CPU, `--config.train.num_steps=300`): transformer eval loss 2.235
nats/char at 3.40 steps/s (1.7 min for the command), lstm 1.942 at 3.86 steps/s (1.5 min); the
text's unigram entropy is 3.25 nats per character. linear_attention: eval loss 2.199 (accuracy
0.413) at 300 steps (2026-12-05, on a CPU shared with other jobs, so its 0.57 steps/s is not a
speed to compare).
"""
from attn_jax.config_base import base_config, variant_of

_RECURRENT = dict(num_layers=1, hidden_size=256, dropout_rate=0.0)
VARIANTS = {
    'transformer': dict(name='transformer', num_layers=2, hidden_size=128, num_heads=4,
                        mlp_dim=512, dropout_rate=0.0, positional='sinusoidal'),
    'lstm': dict(name='lstm', **_RECURRENT),
    'gru': dict(name='gru', **_RECURRENT),
    'rnn': dict(name='rnn', **_RECURRENT),
    'mingru': dict(name='mingru', **_RECURRENT),
    'linear_attention': dict(name='linear_attention', num_layers=2, hidden_size=128, num_heads=4,
                             mlp_dim=512, dropout_rate=0.0, positional='sinusoidal'),
}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='text', seq_len=128),
      train=dict(num_steps=1000, batch_size=32, learning_rate=3e-3, warmup_steps=50,
                 log_every=50, eval_every=250, checkpoint_every=250),
  )
