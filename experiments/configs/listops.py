"""ListOps (Long Range Arena): the value of a nested MAX/MIN/MED/SM expression over digits.

Command:
  python launch.py --config=experiments/configs/listops.py:transformer --workdir=runs/listops
  (variants: transformer, lstm, mingru, and lra: LRA's lengths, example counts, model and
  schedule, for a GPU)

Data: here shortened to fit a CPU: 20,000 / 1,000 / 1,000 expressions of 50 to 200 tokens
(LRA: 96,000 / 2,000 / 2,000 of 500 to 2,000), built into data.data_dir on first use.

Expect (4000 steps, 13-40 minutes on a shared 2-core CPU): test accuracy transformer 0.385, mingru
0.406, lstm 0.260 (not converged; chance about 0.1). Results: experiments/results/listops/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, ONE_LAYER_128, TRANSFORMER

VARIANTS = {
    'transformer': TRANSFORMER,
    'lstm': dict(ONE_LAYER_128, name='lstm'),
    'mingru': dict(name='mingru', hidden_size=128),
    # The Long Range Arena's transformer (google-research/long-range-arena,
    # listops/configs/base_listops_config.py): 6 layers, d512, 8 heads, MLP 2048, CLS pooling,
    # learned positions; lengths 500-2000, 96k/2k/2k examples, batch 32, 5000 steps, 1000 warm-up
    # steps, weight decay 0.1. LRA's rate 0.05 * rsqrt decay peaks at 0.05/sqrt(1000) = 1.6e-3,
    # the peak used here (cosine decay instead of rsqrt). For a GPU. LRA's data and batch are the
    # defaults (`data.listops_*`, `train.batch_size`).
    'lra': dict(TRANSFORMER, num_layers=6, hidden_size=512, num_heads=8, mlp_dim=2048,
                dropout_rate=0.1, positional='learned', pooling='cls'),
}
CPU_DATA = dict(listops_min_length=50, listops_max_length=200, listops_num_train=20000,
                listops_num_validation=1000, listops_num_test=1000)
LRA_TRAIN = dict(num_steps=5000, learning_rate=1.6e-3, warmup_steps=1000, weight_decay=0.1)

# Small splits and models for tests/test_configs_run.py (the smoke run checks the wiring of every
# variant; the lra variant's 6 x d512 model would take most of the suite's time there).
SMOKE_TEST = {'data.listops_min_length': 10, 'data.listops_max_length': 100,
              'data.listops_num_train': 64, 'data.listops_num_validation': 16,
              'data.listops_num_test': 16, 'model.num_layers': 1, 'model.hidden_size': 32,
              'model.mlp_dim': 64}


def get_config(variant: str = 'transformer'):
  lra = variant == 'lra'
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='listops', **({} if lra else CPU_DATA)),
      train=dict(**(LRA_TRAIN if lra else dict(num_steps=4000)), **LOG_100),
  )
