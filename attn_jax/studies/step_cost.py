"""What one train step costs: compile time, median step time, memory and FLOPs.

The step is the training package's pure `train_step` (forward, backward, optimizer update), jitted
for one device. Compile time is `jit(...).lower(...).compile()`; FLOPs are the step's
matrix-product FLOPs counted from its jaxpr, every scanned time step included (`studies.flops`;
XLA's `cost_analysis()` counts a scan body once). Memory is the device's `peak_bytes_in_use`
where the device reports it and this measurement raised the process's high-water mark (so that
the peak is this step's own), else XLA's `memory_analysis()` of the compiled step: arguments +
outputs + temporaries - aliased.
"""
import functools
import statistics
import time

import jax

from attn_jax.studies.flops import count_flops
from attn_jax.training.state import create_train_state
from attn_jax.training.steps import train_step


def compiled_memory_bytes(compiled) -> float:
  """XLA's static estimate of the bytes a compiled function holds while it runs."""
  m = compiled.memory_analysis()
  return float(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
               - m.alias_size_in_bytes)


def device_peak_bytes() -> float | None:
  """The device's high-water mark of allocated bytes, or None where it is not reported (CPU)."""
  stats = jax.local_devices()[0].memory_stats()
  return float(stats['peak_bytes_in_use']) if stats and 'peak_bytes_in_use' in stats else None


def measure_step(config, model, dataset, *, warmup_steps: int, timed_steps: int) -> dict:
  """Compiles and times `train_step` for `config.train.batch_size` rows of `dataset`.

  Returns:
    compile_s, step_ms (median over `timed_steps` after `warmup_steps`), tokens_per_s (input
    tokens per second), peak_memory_bytes, memory_source ('device_peak' or 'compiler') and
    flops_per_step.
  """
  peak_before = device_peak_bytes()
  batch_size = config.train.batch_size
  batch = jax.device_put(dataset.train_batch(0, batch_size))
  state = create_train_state(config, model, dataset.info, jax.random.key(config.seed))
  key = jax.random.key(config.seed + 1)
  step = jax.jit(functools.partial(train_step, kind=dataset.info.kind,
                                   grad_accum_steps=config.train.grad_accum_steps),
                 donate_argnums=(0,))
  flops = count_flops(step, state, batch, key)
  start = time.perf_counter()
  compiled = step.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - start
  times = []
  for i in range(warmup_steps + timed_steps):
    start = time.perf_counter()
    state, sums = compiled(state, batch, key)
    jax.block_until_ready((state, sums))
    if i >= warmup_steps:
      times.append(time.perf_counter() - start)
  step_s = statistics.median(times)
  memory, source = compiled_memory_bytes(compiled), 'compiler'
  peak_after = device_peak_bytes()
  if peak_after is not None and (peak_before is None or peak_after > peak_before):
    memory, source = peak_after, 'device_peak'
  return dict(compile_s=compile_s, step_ms=1e3 * step_s,
              tokens_per_s=batch_size * dataset.info.max_len / step_s,
              peak_memory_bytes=memory, memory_source=source,
              flops_per_step=float(flops))
