"""Project against PyTorch train steps at named study shapes (`benchmark.py:study`), the sides
taking turns (`benchmark.time_alternating`, medians of 9 after 2 warm-up steps), and the process's
peak resident memory: for comparing one process environment with another, such as glibc's
allocator settings (this folder's README.md, "Memory pages"):

    PYTHONPATH=. python experiments/results/benchmark_cpu/study_shapes_probe.py SHAPE[,SHAPE...]
    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
      PYTHONPATH=. python experiments/results/benchmark_cpu/study_shapes_probe.py SHAPE[,SHAPE...]
"""
import os
import resource
import sys

from attn_jax.studies.benchmark import benchmark
from experiments.configs import benchmark as benchmark_config


def main():
  config = benchmark_config.get_config('study')
  shapes = {s.name: s for s in benchmark.study_shapes(config.study_shapes)}
  for name in sys.argv[1].split(','):
    train = benchmark.cases_of(config, shapes[name])[0]
    sides = {'ours': train.ours, 'torch': train.torch}
    for step in sides.values():
      step()
    median = benchmark.time_alternating(sides, 2, 9)
    print(f'{name}: ours {1e3 * median["ours"]:.1f} ms, torch {1e3 * median["torch"]:.1f} ms, '
          f'ratio {median["ours"] / median["torch"]:.2f}', flush=True)
  settings = {k: v for k, v in os.environ.items() if k.startswith('MALLOC_')}
  print(f'peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB; '
        f'glibc settings: {settings or "none"}')


if __name__ == '__main__':
  main()
