"""SCAN's generalisation splits, `length` and `addprim_jump`, for the transformer (sinusoidal and
rotary positions), the LSTM and minGRU encoder-decoders with Luong attention, two seeds each,
beside Lake & Baroni 2018 (`attn_jax/studies/scan_generalisation.py`). Every run is the
`scan.py` variant of the same name with `--config.data.split` and `--config.seed` set.

Command:
  python launch.py --config=experiments/configs/scan_generalisation.py --workdir=runs/scan_gen
  (narrower: --config.scan_generalisation.models=lstm --config.scan_generalisation.seeds=0
  --config.scan_generalisation.splits=length)

Writes DIR/<split>/<model>_seed<k>/ (a training run each), DIR/runs.csv, DIR/summary.csv,
DIR/exact_match_by_length.csv, DIR/results.md and DIR/scan_generalisation.png.

Expect: 16 runs of 5-7.5 minutes (two at a time on a 2-core CPU), then about 2 minutes of
decoding; test exact match at most 0.10 on `length` and 0.0016 on `addprim_jump` (Lake & Baroni
2018 best: 0.208 and 0.012). Results: experiments/results/scan_generalisation/README.md
"""
import importlib.util
import os

import ml_collections

from attn_jax.config_presets import TRANSFORMER_KEYS, spelled_out

# The models are scan.py's variants, read from that file so that both stay one definition.
_SPEC = importlib.util.spec_from_file_location(
    'scan_config', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'scan.py'))
scan = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(scan)

VARIANTS = (None,)

# A tiny run for tests/test_configs_run.py: one model, one split, one seed, 64 decoded commands.
SMOKE_TEST = {'scan_generalisation.models': 'lstm', 'scan_generalisation.splits': 'length',
              'scan_generalisation.seeds': '0', 'scan_generalisation.max_examples': 64,
              'scan_generalisation.lstm.hidden_size': 16, 'train.evaluators': 'metrics',
              'train.num_steps': 2, 'train.batch_size': 4, 'train.eval_batch_size': 256,
              'train.warmup_steps': 1, 'train.log_every': 1, 'train.eval_every': 2,
              'train.checkpoint_every': 2}


def get_config(variant=None):
  if variant is not None:
    raise ValueError(f'unknown variant {variant!r}; this config has none')
  config = scan.get_config()
  config.experiment = 'scan_generalisation'
  config.scan_generalisation = ml_collections.ConfigDict(dict(
      models='transformer,transformer_rotary,lstm,mingru',
      splits='length,addprim_jump',
      seeds='0,1',
      max_examples=0,  # decode at most this many test commands per run (0: all)
      # Each model's section lists its shape, so that `--config.scan_generalisation.MODEL.KEY` can
      # change it.
      **{name: spelled_out(settings, TRANSFORMER_KEYS if name.startswith('transformer') else ())
         for name, settings in scan.VARIANTS.items()},
  ))
  return config
