"""What the training loop adds per step to the train step alone, at the sequence-length study's
small shapes (issue 34, item 3). Results: experiments/results/loop_overhead/README.md.

    nice -n 5 python experiments/results/loop_overhead/measure.py [--reps=7]
        [--shapes=mqar_transformer,first_token_transformer,first_token_lstm] [--out=FILE.json]

Per shape, in ONE process and taking turns (step, jit, loop, step, jit, loop, ...) so that load
from other processes on the machine falls on each alike; each turn starts from the same seeded
state. Every clock runs from the end of step 1 (the loop blocks on it: it compiles) to the end of
step E, the loop's last train line before its last step (`SPANS`; a span that holds the config's
evaluation at step 250, and first_token's checkpoint there):

- `step`: the loop's own pmapped train step (`parallel.pmap_train_step`, compiled once) on the
  same batches the loop trains on (generated and sharded before the clock starts), dispatched
  back to back, blocked on at step E.
- `jit` (for reference, not the loop's path): the same `steps.train_step` under `jax.jit` (state
  donated) without pmap, on the unsharded batches: what the pmap wrapper's dispatch costs.
- `loop`: `loop.train_and_evaluate(config, fresh workdir)`, exactly as `launch.py` runs it (the
  persistent compilation cache on, so later turns load the programs), with the config's log /
  eval / checkpoint cadence. Dispatch is asynchronous: the host runs ahead of the device and
  syncs only where it reads a result (the train line, an evaluation, a save), so the clock
  stops when the train line of step E is written (`MetricsWriter.write` wrapped), which waited
  for step E's metric sums. `loop, all` is that span per step; the pauses in it, timed by
  wrapping `loop.evaluate` (from the moment the device has caught up with the state it
  evaluates: the wrapper blocks on the parameters first, which the evaluation would wait for
  anyway) and `Checkpointer.save`, are subtracted for `loop w/o pauses`: what training and
  logging alone cost per step.

Reported: the median over turns of ms per step, and the overhead `loop / step - 1` as the median
over turns of each turn's own ratio (paired: a turn's variants ran seconds apart); by the wall
clock and by this process's CPU time (`time.process_time`: the host's thread and XLA's together,
less sensitive to other processes on the machine than the wall clock).

Then the host's share by part, each timed alone (median ms per call over `CALLS` calls, the
device idle): generating a batch (`dataset.train_batch`), splitting it over devices
(`parallel.shard`), adding a step's metric sums to the window (`jax.tree.map(jnp.add, ...)`), the
per-step bookkeeping (signal check, `due_after`, the profiler hooks, the progress bar), and a
train line (`loop._log_train`: the window fetched to the host and summarised, `metrics.jsonl`
appended, the events flushed), which falls once every `train.log_every` steps.
"""
import argparse
import functools
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, REPO)

# pylint: disable=wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np

from attn_jax import compilation_cache, progress
from attn_jax.training import loop, parallel, preemption, profiling, steps
from attn_jax.training.checkpoints import Checkpointer
from attn_jax.training.metrics import MetricsWriter
from attn_jax.training.optimizer import make_schedule
from attn_jax.training.state import create_train_state, dropout_base_key
# pylint: enable=wrong-import-position

CALLS = 200  # calls per part of the host's share

# name -> (config file, variant, overrides): the study's shapes (seq_len_scaling.py: mqar at
# 100k parameters = the transformer at width 64, batch 64, constant rate; first_token at 25k
# parameters, batch 16, explicit attention: the transformer at width 32, the LSTM at width 39).
SHAPES = {
    'mqar_transformer': ('mqar.py', 'transformer', {
        'model.hidden_size': 64, 'model.mlp_dim': 256, 'train.batch_size': 64,
        'data.seq_len': 64, 'train.lr_schedule': 'constant'}),
    'first_token_transformer': ('first_token.py', 'transformer', {
        'model.hidden_size': 32, 'model.mlp_dim': 128, 'model.attention_impl': 'explicit',
        'train.batch_size': 16, 'data.seq_len': 64}),
    'first_token_lstm': ('first_token.py', 'lstm', {
        'model.hidden_size': 39, 'model.num_layers': 2, 'train.batch_size': 16,
        'data.seq_len': 64}),
}
# Steps per run and the span's end E (a train line: log_every is 100), which holds the config's
# evaluation at step 250 (and first_token's checkpoint there; mqar saves every 500).
SPANS = {'mqar_transformer': (360, 300), 'first_token_transformer': (500, 400),
         'first_token_lstm': (500, 400)}


def load_config(name: str, num_steps: int):
  path, variant, overrides = SHAPES[name]
  spec = importlib.util.spec_from_file_location('config', os.path.join(
      REPO, 'experiments', 'configs', path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(variant)
  config.update_from_flattened_dict({**overrides, 'train.num_steps': num_steps})
  return config


def command(name: str, num_steps: int) -> str:
  path, variant, overrides = SHAPES[name]
  flags = ' '.join(f'--config.{k}={v}' for k, v in {**overrides,
                                                   'train.num_steps': num_steps}.items())
  return f'python launch.py --config=experiments/configs/{path}:{variant} --workdir=DIR {flags}'


def clocks() -> np.ndarray:
  """[wall seconds, this process's CPU seconds (every thread: the host's and XLA's)]."""
  return np.array([time.perf_counter(), time.process_time()])


class LoopClock:
  """While active, records what a training run did when: the end of each loop iteration (the
  progress bar's `update`), the writing of each train line, and how long each evaluation (after
  the device caught up with the parameters it reads) and each checkpoint save took."""

  def __init__(self):
    self.updates, self.lines, self.pauses = [], {}, []  # pauses: (step, what, seconds)
    self._saved = progress.bar, MetricsWriter.write, loop.evaluate, Checkpointer.save

  def __enter__(self):
    bar, write, evaluate, save = self._saved

    def timed_bar(*args, **kwargs):
      inner = bar(*args, **kwargs)
      update = inner.update

      def timed_update(n=1):
        self.updates.append(clocks())
        return update(n)

      inner.update = timed_update
      return inner

    def timed_write(writer, step, split, metrics):
      write(writer, step, split, metrics)
      if split == 'train':
        self.lines[step] = clocks()

    def timed_evaluate(run, p_eval, params, writer, step, **kwargs):
      jax.block_until_ready(params)
      start = clocks()
      metrics = evaluate(run, p_eval, params, writer, step, **kwargs)
      self.pauses.append((step, 'eval', clocks() - start))
      return metrics

    def timed_save(checkpointer, state, *args, **kwargs):
      start = clocks()
      save(checkpointer, state, *args, **kwargs)
      self.pauses.append((int(state.step), 'save', clocks() - start))

    progress.bar, MetricsWriter.write = timed_bar, timed_write
    loop.evaluate, Checkpointer.save = timed_evaluate, timed_save
    return self

  def __exit__(self, *exc_info):
    progress.bar, MetricsWriter.write, loop.evaluate, Checkpointer.save = self._saved


def ms_per_step(step, state, batches, base_key) -> np.ndarray:
  """ms per step [wall, CPU] of `step(state, batch, base_key)` over `batches` back to back, from
  the end of the first (blocked on: it may compile) to the end of the last."""
  state, sums = step(state, batches[0], base_key)
  jax.block_until_ready(sums)
  start = clocks()
  for batch in batches[1:]:
    state, sums = step(state, batch, base_key)
  jax.block_until_ready((state, sums))
  return 1000 * (clocks() - start) / (len(batches) - 1)


def time_step(run, p_train, batches, config) -> np.ndarray:
  """ms per step [wall, CPU] of the pmapped step alone (`ms_per_step`)."""
  state = create_train_state(config, run.model, run.dataset.info, jax.random.key(config.seed))
  return ms_per_step(p_train, parallel.replicate(state), batches, dropout_base_key(config.seed))


def time_jit(run, batches, config) -> np.ndarray:
  """ms per step of `steps.train_step` under `jax.jit` without pmap (`ms_per_step`)."""
  step = jax.jit(functools.partial(steps.train_step, kind=run.kind,
                                   grad_accum_steps=config.train.grad_accum_steps),
                 donate_argnums=(0,))
  state = create_train_state(config, run.model, run.dataset.info, jax.random.key(config.seed))
  return ms_per_step(step, state, batches, dropout_base_key(config.seed))


def time_loop(config, end: int, scratch: str) -> dict:
  """ms per step of the loop from the end of step 1 to the train line of step `end`: all in
  (`loop`) and without the evaluations and saves in that span (`loop w/o pauses`); and the
  pauses' ms (`eval`, `save`); each [wall, CPU]."""
  workdir = tempfile.mkdtemp(dir=scratch)
  try:
    with LoopClock() as clock:
      loop.train_and_evaluate(config, workdir)
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  assert len(clock.updates) == config.train.num_steps and end in clock.lines
  span = clock.lines[end] - clock.updates[0]
  pauses = {what: sum((s for step, w, s in clock.pauses if w == what and 1 < step <= end),
                      np.zeros(2)) for what in ('eval', 'save')}
  return {'loop': 1000 * span / (end - 1),
          'loop w/o pauses': 1000 * (span - sum(pauses.values())) / (end - 1),
          'eval': 1000 * pauses['eval'], 'save': 1000 * pauses['save']}


def median_ms(fn, calls: int = CALLS) -> float:
  """Median ms of `fn()` over `calls` calls (after one untimed)."""
  fn()
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1000 * statistics.median(times)


def host_parts(run, p_train, config, scratch: str) -> dict:
  """{part: (ms per call, calls per step)} of the loop's host work (see the docstring)."""
  train = config.train
  batch_of = lambda step: run.dataset.train_batch(step, train.batch_size, process_index=0,
                                                  process_count=1)
  state = create_train_state(config, run.model, run.dataset.info, jax.random.key(config.seed))
  state, base_key = parallel.replicate(state), dropout_base_key(config.seed)
  state, sums = p_train(state, parallel.shard(batch_of(0)), base_key)
  jax.block_until_ready(sums)

  def add():
    jax.block_until_ready(jax.tree.map(jnp.add, sums, sums))

  plain = batch_of(7)
  tracer = profiling.StepTracer(train.profile_steps, train.num_steps, scratch)
  bar = progress.bar(total=10**9, file=open(os.devnull, 'w'))  # pylint: disable=consider-using-with

  def bookkeeping():
    tracer.before(5)
    tracer.after(6, sums)
    loop.due_after(train, 6, stop.should_stop(6))
    bar.update(1)

  workdir = tempfile.mkdtemp(dir=scratch)
  writer = MetricsWriter(workdir)
  timer, schedule = loop.IntervalTimer(0), make_schedule(train)

  def log_line():
    streak = jnp.copy(state.opt_state.notfinite_count)
    loop._log_train(run, writer, bar, train.log_every, sums, streak, timer,  # pylint: disable=protected-access
                    schedule)

  with preemption.StopOnSignal() as stop:
    parts = {'batch (train_batch)': (median_ms(lambda: batch_of(7)), 1),
             'shard': (median_ms(lambda: parallel.shard(plain)), 1),
             'window sum (tree_map add)': (median_ms(add), 1),
             'bookkeeping': (median_ms(bookkeeping), 1),
             'train line (_log_train)': (median_ms(log_line, 50), 1 / train.log_every)}
  writer.close()
  shutil.rmtree(workdir, ignore_errors=True)
  return parts


def paired_overhead(times: dict, key: str) -> float:
  """The median over turns of `times[key][turn] / times['step'][turn] - 1`, in %."""
  return 100 * statistics.median(a / b - 1 for a, b in zip(times[key], times['step']))


def measure(name: str, reps: int, scratch: str) -> dict:
  num_steps, end = SPANS[name]
  config = load_config(name, num_steps)
  run = loop.prepare_run(config, scratch)
  p_train = parallel.pmap_train_step(run.kind, config.train.grad_accum_steps)
  unsharded = [run.dataset.train_batch(step, config.train.batch_size, process_index=0,
                                       process_count=1) for step in range(end)]
  batches = [parallel.shard(batch) for batch in unsharded]
  time_step(run, p_train, batches[:2], config)  # compile
  time_jit(run, unsharded[:2], config)
  turns = []
  for rep in range(reps):
    turn = {'step': time_step(run, p_train, batches, config),
            'jit': time_jit(run, unsharded, config), **time_loop(config, end, scratch)}
    turns.append(turn)
    print(f'{name} turn {rep + 1}/{reps} (ms, wall / CPU): ' + ', '.join(
        f'{k} {v[0]:.2f} / {v[1]:.2f}' for k, v in turn.items()), file=sys.stderr, flush=True)
  result = dict(shape=name, command=command(name, num_steps), span=[2, end], reps=reps,
                host_parts_ms=host_parts(run, p_train, config, scratch))
  for clock, index in (('wall', 0), ('cpu', 1)):
    times = {k: [float(turn[k][index]) for turn in turns] for k in turns[0]}
    result[clock] = dict(times_ms=times,
                         median_ms={k: statistics.median(v) for k, v in times.items()},
                         overhead_pct={k: paired_overhead(times, k)
                                       for k in ('jit', 'loop', 'loop w/o pauses')})
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--reps', type=int, default=7)
  parser.add_argument('--shapes', default=','.join(SHAPES))
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  scratch = tempfile.mkdtemp(prefix='loop_overhead_')
  os.environ.setdefault('ATTN_JAX_COMPILATION_CACHE', os.path.join(scratch, 'jax_cache'))
  compilation_cache.enable()
  results = []
  try:
    for name in args.shapes.split(','):
      results.append(measure(name, args.reps, scratch))
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  for clock in ('wall', 'cpu'):
    print(f'\n{clock} ms per step (cpu: this process, every thread)\n')
    print('| shape | steps | step alone, pmap | jit, no pmap | loop, all | overhead | '
          'eval + save in the span | loop w/o pauses | overhead |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for r in results:
      m, o = r[clock]['median_ms'], r[clock]['overhead_pct']
      print(f"| {r['shape']} | {r['span'][0]}-{r['span'][1]} | {m['step']:.2f} | {m['jit']:.2f} | "
            f"{m['loop']:.2f} | {o['loop']:+.1f}% | {m['eval']:.0f} + {m['save']:.0f} | "
            f"{m['loop w/o pauses']:.2f} | {o['loop w/o pauses']:+.1f}% |")
  print('\n| shape | part | ms per call | calls per step | ms per step | % of step alone (wall) |')
  print('| --- | --- | --- | --- | --- | --- |')
  for r in results:
    for part, (ms, per_step) in r['host_parts_ms'].items():
      print(f"| {r['shape']} | {part} | {ms:.3f} | {per_step:g} | {ms * per_step:.3f} | "
            f"{100 * ms * per_step / r['wall']['median_ms']['step']:.1f}% |")
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(dict(results=results, jax=jax.__version__,
                     date=time.strftime('%Y-%m-%d %H:%M')), f, indent=1)


if __name__ == '__main__':
  main()
