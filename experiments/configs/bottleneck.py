"""The encoding bottleneck, measured: exact match against source length on toy French -> English
for an LSTM encoder-decoder without attention, the same LSTM with Bahdanau attention, and the
transformer, each trained for the same steps on the same data (`attn_jax/studies/bottleneck.py`).

Command:
  python launch.py --config=experiments/configs/bottleneck.py --workdir=runs/bottleneck
  (one model: --config.bottleneck.models=rnn; its settings: --config.bottleneck.rnn.hidden_size=256)

Writes DIR/<model>/ (a training run each), DIR/summary.csv, DIR/exact_match_by_length.csv,
DIR/results.md and DIR/exact_match_by_length.png.

Expect: 20-30 minutes on a shared 2-core CPU; exact match at 16 / 17 (unseen) source words:
LSTM without attention 0.69 / 0.49, with attention 1.0 / 1.0, transformer 1.0 / 0.9965.
Results: experiments/results/bottleneck/README.md
"""
import ml_collections

from attn_jax.config_base import base_config
from attn_jax.config_presets import (EVAL_1000, ONE_LAYER_128, TRANSFORMER, TRANSFORMER_KEYS,
                                     spelled_out)

VARIANTS = (None,)

_RNN_KEYS = ('dropout_rate', 'seq2seq_attention')
_RNN = dict(ONE_LAYER_128, name='lstm')

# A tiny run for tests/test_configs_run.py: every model, a few steps, small splits.
SMOKE_TEST = {'train.num_steps': 2, 'train.batch_size': 4, 'train.eval_batch_size': 8,
              'train.warmup_steps': 1, 'train.log_every': 1, 'train.eval_every': 2,
              'train.checkpoint_every': 2, 'data.num_train_examples': 32,
              'data.num_test_examples': 16, 'bottleneck.rnn.hidden_size': 16,
              'bottleneck.rnn_attention.hidden_size': 16, 'bottleneck.transformer.hidden_size': 16,
              'bottleneck.transformer.num_layers': 1}


def get_config(variant=None):
  if variant is not None:
    raise ValueError(f'unknown variant {variant!r}; this config has none')
  config = base_config(
      experiment='bottleneck',
      data=dict(name='toy_translation', max_len=16, num_train_examples=20000,
                num_test_examples=2000),
      train=dict(num_steps=2000, batch_size=64, learning_rate=3e-3, **EVAL_1000),
  )
  # Each model's section lists its shape, so that `--config.bottleneck.MODEL.KEY` can change it.
  config.bottleneck = ml_collections.ConfigDict(dict(
      models='rnn,rnn_attention,transformer',
      rnn=spelled_out(_RNN, _RNN_KEYS),  # no attention: the encoder's last state only
      rnn_attention=spelled_out(dict(_RNN, seq2seq_attention='bahdanau'), _RNN_KEYS),
      transformer=spelled_out(TRANSFORMER, TRANSFORMER_KEYS),
      splits='test,length',  # test: lengths seen in training; length: longer sentences
      beam_size=1,
  ))
  return config
