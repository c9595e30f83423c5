"""Mamba's train step with `model.ssm_scan` = parallel and = sequential, alternating in one process.

Each form's step is the training package's `train_step` (forward, backward, Adam), jitted with the
state donated, compiled, run `WARMUP` times, then the two forms take turns for ROUNDS steps each
on one batch; it prints the median and the minimum per form, XLA's temporary bytes of each
compiled step and the loss after warm-up (the same for both: the forms compute one function).

    python experiments/results/mamba/time_scan_forms.py char_lm ROUNDS
        char_lm.py:mamba, batch 32 x 128
    python experiments/results/mamba/time_scan_forms.py study LENGTH ROUNDS
        the seq_len_scaling.py (cpu) shape: 2 layers at the width matched to its 25k parameters,
        batch 16, first_token at LENGTH
"""
import functools
import importlib.util
import os
import statistics
import sys
import time

import jax

from attn_jax.data.registry import load_dataset
from attn_jax.models import registry
from attn_jax.studies.seq_len_scaling import param_match
from attn_jax.studies.seq_len_scaling.seq_len_scaling import family_model_config
from attn_jax.training.state import create_train_state
from attn_jax.training.steps import train_step

FORMS = ('parallel', 'sequential')
WARMUP = 2
CONFIGS = os.path.join(os.path.dirname(__file__), '..', '..', 'configs')


def get_config(name: str, variant: str):
  """`experiments/configs/NAME.py`'s `get_config(variant)`."""
  spec = importlib.util.spec_from_file_location(name, os.path.join(CONFIGS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def setup(which: str, length: int | None):
  """(config, model config, dataset) of `char_lm` or of the study's shape at `length`."""
  if which == 'char_lm':
    config = get_config('char_lm', 'mamba')
    return config, config.model, load_dataset(config.data, seed=config.seed)
  config = get_config('seq_len_scaling', 'cpu')
  config.data.seq_len = length
  dataset = load_dataset(config.data, seed=config.seed)
  width, params = param_match.match_width(
      family_model_config(config, 'mamba', 1), dataset.info, config.study.target_params,
      mlp_ratio=config.study.mlp_ratio, tolerance=config.study.param_tolerance)
  print(f'study shape: width {width}, {params:,} parameters', flush=True)
  return config, family_model_config(config, 'mamba', width), dataset


def compiled_step(config, model_config, dataset, form: str, batch, key):
  """(compiled train step, state after `WARMUP` steps) of `model_config` with `ssm_scan=form`."""
  model_config = model_config.copy_and_resolve_references()
  model_config.ssm_scan = form
  model = registry.build_model(model_config, dataset.info)
  state = create_train_state(config, model, dataset.info, jax.random.key(0))
  step = jax.jit(functools.partial(train_step, kind=dataset.info.kind,
                                   grad_accum_steps=config.train.grad_accum_steps),
                 donate_argnums=(0,))
  start = time.perf_counter()
  compiled = step.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - start
  for _ in range(WARMUP):
    state, sums = compiled(state, batch, key)
  loss = float(sums['loss'] / sums['weight'])
  temp_mib = compiled.memory_analysis().temp_size_in_bytes / 2**20
  print(f'{form}: {registry.num_params(state.params):,} parameters, compile {compile_s:.1f} s, '
        f'XLA temp {temp_mib:.0f} MiB, loss after warm-up {loss:.4f}', flush=True)
  return compiled, state


def main():
  which, rounds = sys.argv[1], int(sys.argv[-1])
  config, model_config, dataset = setup(which, int(sys.argv[2]) if which == 'study' else None)
  batch = jax.device_put(dataset.train_batch(0, config.train.batch_size))
  key = jax.random.key(1)
  print(f'{which}: batch {batch["inputs"].shape}, jax {jax.__version__}, '
        f'{jax.default_backend()}', flush=True)
  runs = {form: compiled_step(config, model_config, dataset, form, batch, key) for form in FORMS}
  times = {form: [] for form in FORMS}
  for _ in range(rounds):
    for form, (compiled, state) in runs.items():
      start = time.perf_counter()
      state, sums = compiled(state, batch, key)
      jax.block_until_ready((state, sums))
      times[form].append(time.perf_counter() - start)
      runs[form] = compiled, state
  medians = {form: statistics.median(ts) for form, ts in times.items()}
  for form, ts in times.items():
    print(f'{form}: median {medians[form] * 1e3:.1f} ms (min {min(ts) * 1e3:.1f}, '
          f'{rounds} steps)')
  print(f'parallel / sequential: {medians["parallel"] / medians["sequential"]:.2f}x')


if __name__ == '__main__':
  main()
