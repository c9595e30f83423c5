"""Where the study's transformer train step spends its time, kernel by kernel, grouped by the part
of the model that made each kernel (`step_profile`: `jax.profiler` around traced steps, each XLA
kernel matched to its HLO instruction and, through its metadata, to the JAX code): attention's
scores, softmax and weighted sum (`MultiHeadAttention._explicit`), the q/k/v/out projections, the
feed-forward block, the layer norms, and the rest (embedding, output layer, loss, optimizer).

    XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true \\
      PYTHONPATH=. python experiments/results/benchmark_cpu/transformer_kernels_probe.py [shape,...]

(the flag makes XLA's CPU runtime trace each kernel). Default shapes: width 64, batch 64, L = 64
and 256. Kernel times are summed: XLA may run two at once, so the sum can exceed the step.
Results in this folder's README.md.
"""
import collections
import sys

from attn_jax.studies.benchmark import benchmark, step_profile
from experiments.configs import benchmark as benchmark_config

DEFAULT_SHAPES = 'transformer_w64_b64_L64,transformer_w64_b64_L256'
STEPS = 10
GROUPS = (('attention (scores, softmax, weighted sum)', ('._explicit/',)),
          ('q/k/v/out projections', ('/query/', '/key/', '/value/', '/out/')),
          ('feed-forward', ('/feed_forward/',)),
          ('layer norms', ('_norm/',)))


def group_of(op_name: str) -> str:
  for group, marks in GROUPS:
    if any(mark in op_name for mark in marks):
      return group
  return 'embedding, output, loss, optimizer'


def main():
  config = benchmark_config.get_config('study')
  names = (sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SHAPES).split(',')
  shapes = {s.name: s for s in benchmark.study_shapes(config.study_shapes)}
  for name in names:
    case = benchmark.cases_of(config, shapes[name])[0]
    for _ in range(3):
      case.ours()
    step_ms = 1e3 * benchmark.time_alternating({'step': case.ours}, 2, 9)['step']
    ops = step_profile.profile_step(case.ours, case.hlo_text, STEPS)
    groups = collections.defaultdict(lambda: collections.Counter())
    for op in ops:
      groups[group_of(op.op_name)][op.part] += op.ms_per_step
    total = sum(sum(parts.values()) for parts in groups.values())
    print(f'{name}: step {step_ms:.1f} ms; kernels {total:.1f} ms in all')
    for group, parts in sorted(groups.items(), key=lambda g: -sum(g[1].values())):
      ms = sum(parts.values())
      print(f'  {group}: {ms:.1f} ms ({100 * ms / total:.0f}%): ' +
            ', '.join(f'{part} {parts[part]:.1f}' for part in ('forward', 'backward', 'other')
                      if parts[part]))
    print('  slowest kernels: ' + '; '.join(
        f'{op.op_name.split("/")[-2] if "/" in op.op_name else op.op_name}/{op.opcode} '
        f'{op.ms_per_step:.2f} ms' for op in ops[:6]), flush=True)


if __name__ == '__main__':
  main()
