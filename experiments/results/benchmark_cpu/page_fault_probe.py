"""What a large buffer costs the CPU beyond its arithmetic: page faults per call.

A batched product whose result is `[256, 256, 256]` float32 (67 MB, the scores of 64 sequences x 4
heads at L = 256) is timed with its result written out and summed inside the program (never
written out), with the process's minor page faults and system CPU time per call
(`resource.getrusage`). Run it twice, as is and under glibc settings that keep freed memory in
the process (one arena, no mmap for large blocks, no trimming):

    PYTHONPATH=. python experiments/results/benchmark_cpu/page_fault_probe.py
    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
      PYTHONPATH=. python experiments/results/benchmark_cpu/page_fault_probe.py

Results in this folder's README.md.
"""
import os
import resource
import time

import jax
import jax.numpy as jnp

CALLS = 10


def main():
  a = jax.random.normal(jax.random.key(0), (256, 256, 16))
  b = jax.random.normal(jax.random.key(1), (256, 16, 256))
  programs = {'written out': jax.jit(lambda a, b: a @ b),
              'summed in the program': jax.jit(lambda a, b: (a @ b).sum())}
  settings = {k: v for k, v in os.environ.items() if k.startswith('MALLOC_')}
  print('glibc settings:', settings or 'none')
  for name, program in programs.items():
    for _ in range(3):
      jax.block_until_ready(program(a, b))
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(CALLS):
      jax.block_until_ready(program(a, b))
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    print(f'{name}: {1e3 * seconds / CALLS:.1f} ms per call, '
          f'{(after.ru_minflt - before.ru_minflt) / CALLS:.0f} minor page faults, '
          f'system {1e3 * (after.ru_stime - before.ru_stime) / CALLS:.1f} ms, '
          f'user {1e3 * (after.ru_utime - before.ru_utime) / CALLS:.1f} ms')


if __name__ == '__main__':
  main()
