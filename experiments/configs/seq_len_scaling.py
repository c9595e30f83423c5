"""Sequence-length scaling: RNN, LSTM, GRU and transformer at a matched parameter budget.

For every (model, length): compile time, median train-step time, tokens/s, peak memory, FLOPs,
and accuracy on remember-the-first-token after the same step budget; then a report with fitted
growth exponents and plots (docs/design.md §3.3; `attn_jax/studies/seq_len_scaling.py`).

Command:
  python launch.py --config=experiments/configs/seq_len_scaling.py --workdir=runs/seq-len-scaling
  (subsets: --config.models=lstm,transformer --config.lengths=64,256; the `gpu` variant,
  `seq_len_scaling.py:gpu`, goes to 16K with fused attention). Rerunning keeps measured rows.

Run time and result (measured on the 2-core CPU, see experiments/results/seq_len_scaling_cpu/):
  13.6 min for the 20 cells. Step time grows as L^0.83 / L^1.27 / L^1.19 for rnn / lstm / gru and
  L^1.80 for the transformer (fitted over L = 256..1024); at L=1024 the transformer's step takes
  1.31 s against 0.12-0.17 s and its memory is 850 MiB against 49-87 MiB. After 150 steps only the
  transformer at L=64 learned the task (accuracy 0.76; chance 0.10).
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.studies.settings import study_config_defaults

VARIANTS = ('cpu', 'gpu')

# A one-cell sweep for tests/test_configs_run.py (tests/test_study_seq_len_scaling.py widens it).
SMOKE_TEST = {'models': 'transformer', 'lengths': '8', 'train.num_steps': 2,
              'train.batch_size': 4, 'train.warmup_steps': 1, 'train.log_every': 1,
              'train.eval_every': 2, 'train.checkpoint_every': 2, 'data.num_eval_examples': 8,
              'study.target_params': 7800, 'study.warmup_steps': 1, 'study.timed_steps': 2}


def get_config(variant: str = 'cpu'):
  variant = variant_of(VARIANTS, variant or 'cpu')
  gpu = variant == 'gpu'
  config = base_config(
      experiment='seq_len_scaling',
      model=dict(num_layers=1, num_heads=4, dropout_rate=0.0, positional='sinusoidal',
                 pooling='mean', attention_impl='fused' if gpu else 'explicit'),
      data=dict(name='first_token', num_classes=10, num_eval_examples=256),
      train=dict(num_steps=500 if gpu else 150, batch_size=32 if gpu else 16,
                 learning_rate=3e-3, warmup_steps=20, lr_schedule='cosine', log_every=50,
                 eval_every=1_000_000, checkpoint_every=1_000_000, keep_checkpoints=1),
  )
  config.models = 'rnn,lstm,gru,transformer'
  config.lengths = ('1024,2048,4096,8192,16384' if gpu else '64,128,256,512,1024')
  config.study = study_config_defaults()
  config.study.target_params = 200_000 if gpu else 25_000
  return config
