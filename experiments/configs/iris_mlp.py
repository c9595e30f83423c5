"""Iris classification (Fisher's 150 flowers, 4 features, 3 species): the lectures' first model.

Command:
  python launch.py --config=experiments/configs/iris_mlp.py:mlp --workdir=runs/iris-mlp
  python launch.py --config=experiments/configs/iris_mlp.py:logreg --workdir=runs/iris-logreg

Run time and result (measured at the defaults on the 2-core CPU while other jobs shared it):
300 steps of 24; mlp: test accuracy 0.867 (26 of the 30 test flowers), loss 0.375, 18.5 s of
training, 58 s for the whole command; logreg: test accuracy 0.800 (24 of 30), loss 0.390,
11.2 s of training, 37 s for the command. With 30 test flowers one flower is 0.033.
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
