"""The optimizer's clipping and non-finite guard two ways, in the sequence-length study's own
train program (`capability.make_train_fn`: 25 steps under `lax.scan`, mqar, batch 64) for each
family at its 100k-parameter mqar width:

  optax  `optax.apply_if_finite(chain(optax.clip_by_global_norm, adamw))` (the code before
         2026-12-07): a norm and a finiteness reduction per parameter leaf, the update in a
         `lax.cond`
  ours   `optimizer.skip_nonfinite(chain(optimizer.clip_by_global_norm, adamw))` (since
         2026-12-07): one reduction each over the leaves concatenated, the update kept by `where`

Per family and side: the compiled program's kernels (`fusion` instructions), the seconds to
lower and to compile it (median of 3), and ms per step at L=64 (the two sides taking turns, median
of 7 calls after one warm-up). Same state structure, same results to float rounding
(tests/test_training_optimizer.py).

    PYTHONPATH=. python experiments/results/benchmark_cpu/optimizer_guard_probe.py [families]
"""
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax

from attn_jax.studies.seq_len_scaling import capability
from attn_jax.studies.seq_len_scaling import seq_len_scaling as study
from attn_jax.studies.seq_len_scaling import settings
from attn_jax.training import optimizer
from experiments.configs import seq_len_scaling as study_config

GROUP, LENGTH, REPEATS = 25, 64, 7


def optax_guard(train) -> optax.GradientTransformation:
  """The optimizer as it was: optax's clipping and guard."""
  chain = [optax.clip_by_global_norm(train.grad_clip_norm)] if train.grad_clip_norm else []
  chain.append(optax.adamw(optimizer.make_schedule(train), weight_decay=train.weight_decay))
  return optax.apply_if_finite(optax.chain(*chain), 2**31 - 1)


def lower_and_compile(lower, repeats: int) -> tuple[float, float, object]:
  """Median seconds of lowering (`lower()`) and of compiling the result, over `repeats` fresh
  lowerings (JAX's in-memory caches cleared before each), and the last compiled program."""
  lower_s, compile_s, compiled = [], [], None
  for _ in range(repeats):
    jax.clear_caches()
    begin = time.perf_counter()
    lowered = lower()
    lowered_at = time.perf_counter()
    compiled = lowered.compile()
    lower_s.append(lowered_at - begin)
    compile_s.append(time.perf_counter() - lowered_at)
  return statistics.median(lower_s), statistics.median(compile_s), compiled


def main():
  study.synchronous_cpu_dispatch()
  families = (sys.argv[1] if len(sys.argv) > 1 else
              'rnn,lstm,gru,mingru,transformer,linear_attention').split(',')
  config = study_config.get_config('cpu')
  task = settings.per_task_config(config, 'mqar')
  lengths = study.parse_plan(config).capability_lengths['mqar']
  capability.compile_concurrently = lambda lowered: [None] * len(lowered)  # compiled below
  sides = {'optax': optax_guard, 'ours': optimizer.make_optimizer}
  print(f'{jax.devices()[0].device_kind}; mqar batch {task.train.batch_size}, {GROUP} steps per '
        f'call, L={LENGTH}')
  for family in families:
    setup = study.prepare_curve(task, 'mqar', family, lengths, study.Widths(task),
                                study.multipliers_of(config))
    batches = jax.device_put(capability.stacked_batches(
        setup.train_data[config.seed, LENGTH], 0, GROUP, task.train.batch_size))
    rate = jnp.asarray(1e-3, jnp.float32)
    programs, states = {}, {}
    for side, make in sides.items():
      capability.make_optimizer = make  # what `member_optimizer` builds at trace time
      member = capability.new_member(setup.compiled[0].init, 0, 1e-3, 1)
      state = member.state.replace(tx=make(setup.point.train))
      state = state.replace(opt_state=state.tx.init(state.params))
      train = capability.make_train_fn(setup.point.train, setup.info.kind)
      lower_s, compile_s, compiled = lower_and_compile(
          lambda: train.lower(state, rate, batches, member.key), 3)
      programs[side], states[side] = compiled, (state, member.key)
      print(f'{family} (width {setup.hidden_size}) {side}: '
            f'{compiled.as_text().count(" fusion(")} kernels, lower {lower_s:.2f} s, '
            f'compile {compile_s:.2f} s', flush=True)
    step_ms = {side: [] for side in sides}
    for turn in range(REPEATS + 1):
      for side, program in programs.items():
        state, key = states[side]
        begin = time.perf_counter()
        state, losses = program(state, rate, batches, key)
        jax.block_until_ready(losses)
        states[side] = state, key
        if turn:
          step_ms[side].append((time.perf_counter() - begin) / GROUP * 1e3)
    print(f'{family} ms per step at L={LENGTH}: ' + ', '.join(
        f'{side} {statistics.median(ms):.2f}' for side, ms in step_ms.items()) + ' (ours/optax '
          f'{statistics.median(step_ms["ours"]) / statistics.median(step_ms["optax"]):.2f})',
          flush=True)


if __name__ == '__main__':
  main()
