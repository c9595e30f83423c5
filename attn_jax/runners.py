"""What `launch.py` runs for `config.experiment` in training mode: the loop or a study."""
import importlib

from attn_jax.errors import ConfigError

# experiment name -> 'module:function(config, workdir)'; imported only when run.
EXPERIMENTS = {
    'train': 'attn_jax.training.loop:train_and_evaluate',
    'bottleneck': 'attn_jax.studies.bottleneck:run',
    'scan_generalisation': 'attn_jax.studies.scan_generalisation:run',
    'seq_len_scaling': 'attn_jax.studies.seq_len_scaling.seq_len_scaling:run',
    'benchmark': 'attn_jax.studies.benchmark.benchmark:run',
    'attention_impl': 'attn_jax.studies.benchmark.attention_impl:run',
}


def run(config, workdir: str):
  """Runs `config.experiment` (default `train`) in `workdir`."""
  name = config.get('experiment', 'train')
  if name not in EXPERIMENTS:
    raise ConfigError('experiment', f'unknown experiment {name!r}; accepted: '
                      + ', '.join(sorted(EXPERIMENTS)))
  module, function = EXPERIMENTS[name].split(':')
  return getattr(importlib.import_module(module), function)(config, workdir)
