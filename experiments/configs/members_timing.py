"""Members by measurement: the capability phase's program (3 seeds x 2 learning rates of one shape)
with its members batched (`jax.vmap`) and looped inside the program (`lax.map`), timed alternately
on this machine (`attn_jax/studies/seq_len_scaling/members_timing.py`). Its result sets
`capability.MEMBERS_BY_PLATFORM`; see experiments/results/members/README.md.

Command:
  python launch.py --config=experiments/configs/members_timing.py --workdir=runs/members
"""
from attn_jax.config_base import base_config
from attn_jax.studies.seq_len_scaling.settings import study_config_defaults

VARIANTS = (None,)

# One tiny cell, for tests/test_configs_run.py.
SMOKE_TEST = {'models': 'gru', 'lengths': '8', 'data.num_pairs': 2, 'study.target_params': 3000,
              'study.seeds': 2, 'study.timed_steps': 2, 'repeats': 1, 'train.batch_size': 4}


def get_config(variant=None):
  if variant is not None:
    raise ValueError(f'unknown variant {variant!r}; this config has none')
  config = base_config(
      experiment='members_timing',
      model=dict(num_heads=4, dropout_rate=0.0, positional='sinusoidal', pooling='mean',
                 attention_impl='auto'),
      data=dict(name='mqar', num_classes=16, num_pairs=4),
      train=dict(batch_size=16, warmup_steps=50, lr_schedule='constant', grad_clip_norm=1.0),
  )
  config.models = 'rnn,lstm,gru,mingru,transformer,linear_attention'
  config.lengths = '16,64'
  config.study = study_config_defaults()
  config.model.num_layers = config.study.get_ref('num_layers')
  config.study.learning_rates = '1e-3,3e-3'
  config.study.timed_steps = 20
  config.repeats = 3
  return config
