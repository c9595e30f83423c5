"""Multi-query associative recall (MQAR; Zoology, Arora et al. 2024): `data.seq_len // 4`
key-value pairs, then every key once more in random order, each followed by a blank; the loss
is on the value predicted at each query key, so one sequence gives `seq_len // 4` labels.

Generated on the fly (no files); the number of pairs grows with `--config.data.seq_len=N`
(keys from max(32, pairs), values from `data.num_classes`). A causal language model of any
family reads it: attention can look each key up, a recurrent state must hold every pair.

Command:
  python launch.py --config=experiments/configs/mqar.py:transformer --workdir=runs/mqar
  (variants: transformer, lstm, gru, mingru, mamba)

Expect: the transformer at 1.0 from step 1000 at the default L=64 (from step 500 with
`--config.data.seq_len=16`); the lstm stays at the guessing level (0.337 at 4 pairs, 0.192 at 16;
chance 1/16). Results: experiments/results/mqar/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, TRANSFORMER, named

# Width 128 (2 layers, the default depth) for every family.
VARIANTS = {'transformer': dict(TRANSFORMER, hidden_size=128, mlp_dim=256),
            **named('lstm', 'gru', 'mingru', 'mamba', hidden_size=128)}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='mqar', seq_len=64, num_classes=16),
      train=dict(num_steps=2000, batch_size=64, **LOG_100, eval_every=250),
  )


def get_sweep():
  """The transformer's width against seed at L=16 (`python -m attn_jax.sweep
  --config=experiments/configs/mqar.py:transformer --workdir=DIR --parallel=2`): widths 16, 32
  and 64 (MLP 4x, zipped with the width) x seeds 0 and 1, 600 steps each. Results:
  experiments/results/sweep_mqar/README.md"""
  return dict(axes=[{'model.hidden_size': [16, 32, 64], 'model.mlp_dim': [64, 128, 256]},
                    {'seed': [0, 1]}],
              settings={'data.seq_len': 16, 'train.num_steps': 600, 'train.eval_every': 100})
