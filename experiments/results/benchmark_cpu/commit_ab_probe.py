"""The benchmark's transformer train step (4 pre-LN blocks, d 256, 4 heads, mlp 1024, batch 16,
vocab 256, explicit attention, Adam) at one length, at two commits, in alternating processes
(A, B, A, B, ...): each process builds the step from ITS checkout's code, runs 2 warm-up steps
and prints the median of 7 timed ones. Issue 34, item 4 (the L=128 step at 14ea73c against the
head); results in this folder's README.md.

    python experiments/results/benchmark_cpu/commit_ab_probe.py COMMIT_A COMMIT_B [L] [rounds]

The checkouts are `git worktree`s in a temporary folder (removed at the end); the step is the
benchmark's `transformer_train` (`attn_jax.studies.benchmark` before the studies had rooms,
`attn_jax.studies.benchmark.benchmark` since), called with either signature.
"""
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# Run inside a checkout (its folder first on sys.path): prints ms per step.
TIMED_STEP = '''
import os, statistics, sys, time
sys.path.insert(0, os.getcwd())
import jax, ml_collections
length = int(sys.argv[1])
t = ml_collections.ConfigDict(dict(hidden_size=256, num_layers=4, num_heads=4, mlp_dim=1024,
                                   vocab_size=256, batch_size=16))
try:
  from attn_jax.studies.benchmark import benchmark
  step, args, *_ = benchmark.transformer_train(0, t, length, 'explicit')
except ImportError:
  from attn_jax.studies import benchmark
  step, args, *_ = benchmark.transformer_train(
      ml_collections.ConfigDict(dict(seed=0, transformer=t)), length, 'explicit')
state = list(args)
def run():
  state[:] = step(*state)
  jax.block_until_ready(state)
for _ in range(2):
  run()
times = []
for _ in range(7):
  begin = time.perf_counter()
  run()
  times.append(time.perf_counter() - begin)
print(f'{statistics.median(times) * 1e3:.1f}')
'''


def main():
  commits = sys.argv[1:3]
  length = int(sys.argv[3]) if len(sys.argv) > 3 else 128
  rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
  with tempfile.TemporaryDirectory() as scratch:
    trees = {}
    for commit in commits:
      trees[commit] = os.path.join(scratch, commit)
      subprocess.run(['git', '-C', REPO, 'worktree', 'add', '-q', '--detach', trees[commit],
                      commit], check=True)
    try:
      for turn in range(1, rounds + 1):
        for commit in commits:
          ms = subprocess.run([sys.executable, '-c', TIMED_STEP, str(length)], cwd=trees[commit],
                              capture_output=True, text=True, check=True).stdout.split()[-1]
          print(f'round {turn} {commit} L={length}: {ms} ms', flush=True)
    finally:
      for tree in trees.values():
        subprocess.run(['git', '-C', REPO, 'worktree', 'remove', '--force', tree], check=True)


if __name__ == '__main__':
  main()
