"""SCAN (Lake & Baroni 2018): commands -> action sequences, on its three classic splits.

Command:
  python launch.py --config=experiments/configs/scan.py:transformer --workdir=runs/scan-simple
  python launch.py --config=experiments/configs/scan.py:transformer --workdir=runs/scan-length \
    --config.data.split=length
  (variants: transformer, transformer_rotary, lstm, mingru; data.split: simple, length,
  addprim_jump)

Data: 20,910 commands generated from the grammar; simple 16,728/4,182, length 16,990/3,920,
addprim_jump 14,670/7,706; each split is built into data.data_dir on first use in about 5 s.

Expect (transformer on `simple`): exact match 0.999 after 3000 steps, 20-35 minutes on a shared
2-core CPU; every model fails `length` (at most 0.10) and `addprim_jump`.
Results: experiments/results/scan_simple_transformer/README.md (`simple`),
experiments/results/scan_generalisation/README.md (the other splits)
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import EVAL_1000, ONE_LAYER_128, TRANSFORMER, named

VARIANTS = {
    'transformer': TRANSFORMER,
    # Rotary positions (relative: attention scores depend on offsets only), for length
    # generalisation.
    'transformer_rotary': dict(TRANSFORMER, positional='rotary'),
    **named('lstm', 'mingru', **ONE_LAYER_128, seq2seq_attention='luong'),
}


# The smoke run (tests/test_configs_run.py) evaluates the loss only: greedy decoding of all 4,182
# test commands is most of its time, and decoding is tested by the toy_translation and
# bottleneck smoke runs and tests/test_translation.py.
SMOKE_TEST = {'train.evaluators': 'metrics'}


def get_config(variant: str = 'transformer'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='scan'),  # data.split: simple
      train=dict(num_steps=3000, batch_size=64, learning_rate=3e-3, **EVAL_1000),
      # mode=sample translates it (beam search); mode=attention draws its attention maps.
      sample=dict(prompt='jump twice after walk around left'),
  )
