"""Iris classification (Fisher's 150 flowers, 4 features, 3 species): the lectures' first model.

Command:
  python launch.py --config=experiments/configs/iris_mlp.py:mlp --workdir=runs/iris-mlp
  python launch.py --config=experiments/configs/iris_mlp.py:logreg --workdir=runs/iris-logreg

Expect: test accuracy 0.867 (mlp) and 0.800 (logreg) on the 30 test flowers, under a minute each.
Results: experiments/results/iris_mlp/README.md
"""
from attn_jax.config_base import base_config, variant_of

VARIANTS = {
    'logreg': dict(name='logreg'),
    'mlp': dict(name='mlp', hidden_size=32),  # 2 hidden layers, relu
}


def get_config(variant: str = 'mlp'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='iris'),
      train=dict(num_steps=300, batch_size=24, learning_rate=0.01, warmup_steps=10,
                 weight_decay=0.0, eval_every=100, checkpoint_every=100),
  )
