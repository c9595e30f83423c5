"""`train_and_evaluate`: the one training loop for every model and task."""
import dataclasses
import time
from typing import NamedTuple

import jax

from attn_jax import progress
from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.models.registry import build_model, num_params
from attn_jax.training import (config_changes, disk_full, evaluators, parallel, preemption,
                               profiling, trained_workdir, workdir_lock)
from attn_jax.training.checkpoints import BEST, Checkpointer
from attn_jax.training.config import validate_train_config
from attn_jax.training.metrics import MetricsWriter, read_metrics
from attn_jax.training.objectives import summarise
from attn_jax.training.optimizer import make_schedule
from attn_jax.training.run_record import record_run
from attn_jax.training.state import create_train_state, dropout_base_key


@dataclasses.dataclass
class Run:
  """Everything a training run holds, built and validated before anything is compiled."""
  config: object
  workdir: str
  dataset: object
  model: object
  is_main: bool
  evaluator_names: tuple[str, ...]  # `train.evaluators`, resolved for the task

  @property
  def kind(self) -> str:
    return self.dataset.info.kind

  @property
  def tokens_per_step(self) -> int:
    info = self.dataset.info
    return self.config.train.batch_size * (max(info.max_len, 1) + info.target_max_len)


def prepare_run(config, workdir: str) -> Run:
  """Loads the data, builds the model and checks the settings; raises ConfigError on bad input."""
  validate_train_config(config.train, num_devices=jax.device_count())
  dataset = load_dataset(config.data, seed=config.seed)
  model = build_model(config.model, dataset.info)
  return Run(config, workdir, dataset, model, is_main=jax.process_index() == 0,
             evaluator_names=evaluators.select(config.train.evaluators, dataset))


def evaluate(run: Run, p_eval, params, writer, step: int, *, final: bool) -> dict[str, float]:
  """The metrics of the run's evaluators after `step` steps (`final`: the run's last evaluation),
  written to `metrics.jsonl` (their texts to the events) and printed."""
  ev = evaluators.Evaluation(run.config, run.model, run.dataset, params, p_eval, final=final,
                             is_main=run.is_main)
  metrics = evaluators.evaluate(run.evaluator_names, ev)
  writer.write(step, 'eval', metrics)
  writer.write_events(step, texts=ev.texts)
  if run.is_main:
    progress.write(f'step {step} eval ' + ' '.join(f'{k}={v:.4g}' for k, v in metrics.items()))
  return metrics


class Due(NamedTuple):
  """The periodic actions that fall after a step."""
  log: bool
  eval: bool
  checkpoint: bool


def due_after(train, done: int, stopping: bool) -> Due:
  """Which actions fall after `done` steps: each every `train.{log,eval,checkpoint}_every` steps
  and after the last step; a stop on a signal (`stopping`) logs and checkpoints there."""
  last = done == train.num_steps
  every = lambda period: last or done % period == 0
  checkpoint = every(train.checkpoint_every) or stopping
  # A train line at each checkpoint too: no line's window spans a checkpoint, so a run resumed
  # from one logs the same lines as an uninterrupted run (docs/design.md §3.5).
  return Due(log=every(train.log_every) or checkpoint, eval=every(train.eval_every),
             checkpoint=checkpoint)


class IntervalTimer:
  """Steps per second between two reads, leaving out compile, evaluation and checkpoint time."""

  def __init__(self, step: int):
    self.step, self.start, self.paused = step, time.perf_counter(), 0.0

  def exclude(self, seconds: float):
    self.paused += seconds

  def steps_per_s(self, step: int) -> float:
    now = time.perf_counter()
    rate = (step - self.step) / max(now - self.start - self.paused, 1e-9)
    self.step, self.start, self.paused = step, now, 0.0
    return rate


def train_and_evaluate(config, workdir: str) -> dict[str, float]:
  """Trains `config` in `workdir`, resuming from its latest checkpoint; returns final eval metrics.

  Writes `config.json`, `run.json`, `metrics.jsonl`, `events/` and `checkpoints/`
  (docs/design.md §3.2).
  A finished run is not trained again: its last evaluation is returned. The workdir is locked
  for the run (`workdir_lock`), a resumed run's config is checked first (`config_changes`), SIGTERM
  or SIGINT stop it after a checkpoint with `preemption.Preempted`, and a full disk is one
  ConfigError line (`disk_full`).
  """
  with disk_full.saving(workdir, 'the run files'), workdir_lock.hold(workdir):
    config_changes.check_config(config, workdir)
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir: str) -> dict[str, float]:
  run = prepare_run(config, workdir)
  train = config.train
  checkpointer = Checkpointer(workdir, keep=train.keep_checkpoints)
  best = Checkpointer(workdir, keep=1, subdir=BEST,
                      best_metric=train.best_metric) if train.best_metric else None
  state, base_key, origin = _initial_state(run, checkpointer)
  start = int(state.step)
  if run.is_main:
    record_run(config, workdir, start, **origin)
  writer = MetricsWriter(workdir, enabled=run.is_main)
  writer.drop_after(start)
  _log_model_size(run, writer, start, state.params)
  if start >= train.num_steps:
    print(f'{workdir}: already trained for {start} steps; nothing to do.')
    return _last_eval(workdir)
  wall_start = time.perf_counter()
  with preemption.StopOnSignal() as stop:
    state, final = _train_steps(run, state, base_key, start, (checkpointer, best), writer, stop)
    if stop.stopped_at is None:  # finished: the config against its final metrics
      writer.write_hparams(train.num_steps, config_changes.json_flat(config.to_dict()), final)
    for manager in (checkpointer, best) if best else (checkpointer,):
      manager.close()
    writer.close()
  stop.raise_if_stopped()
  if run.is_main:
    metrics = ', '.join(f'{k} {v:.4g}' for k, v in final.items())
    print(f'done: step {train.num_steps}; eval {metrics}; '
          f'{(train.num_steps - start) / (time.perf_counter() - wall_start):.2f} steps/s '
          f'overall; wall {time.perf_counter() - wall_start:.1f} s')
  return final


def _initial_state(run: Run, checkpointer):
  """The state and dropout base key to start from: the workdir's latest checkpoint, or for a new
  run fresh parameters or (a warm start) those of `train.init_from`; and `{'init_from': where}`
  for a warm start (`run.json`), else `{}`."""
  config = run.config
  state = create_train_state(config, run.model, run.dataset.info, jax.random.key(config.seed))
  restored = checkpointer.restore_latest(state)
  if restored is not None:
    return *restored, {}
  if config.train.init_from:
    state, origin = trained_workdir.warm_start(state, config.train)
    return state, dropout_base_key(config.seed), {'init_from': origin}
  return state, dropout_base_key(config.seed), {}


def _train_steps(run: Run, state, base_key, start: int, checkpointers, writer, stop):
  """The step loop; metrics of a step are fetched only after the next step is dispatched.
  `checkpointers`: the newest-keeping Checkpointer and the best-keeping one (or None)."""
  train, kind = run.config.train, run.kind
  checkpointer, best = checkpointers
  p_train = parallel.pmap_train_step(kind, train.grad_accum_steps)
  p_eval = parallel.pmap_eval_step(run.model.apply, kind)
  schedule = make_schedule(train)
  state = parallel.replicate(state)
  bar = progress.bar(initial=start, total=train.num_steps, disable=not run.is_main, unit='step')
  tracer = profiling.StepTracer(train.profile_steps, train.num_steps, run.workdir)
  timer, window, pending, final = None, None, None, {}
  for step in range(start, train.num_steps):
    batch = run.dataset.train_batch(step, train.batch_size, process_index=jax.process_index(),
                                    process_count=jax.process_count())
    tracer.before(step)
    state, sums = p_train(state, parallel.shard(batch), base_key)
    tracer.after(step + 1, sums)
    if timer is None:  # the first step compiles: time from its end
      jax.block_until_ready(sums)
      timer = IntervalTimer(step + 1)
    if pending is not None:
      _log_train(run, writer, bar, *pending, timer, schedule)
      pending = None
    window = sums if window is None else jax.tree.map(jax.numpy.add, window, sums)
    done = step + 1
    last = done == train.num_steps
    stopping = not last and stop.should_stop(done)  # a signal: log and save this step, then end
    due = due_after(train, done, stopping)
    if due.log:
      streak = jax.numpy.copy(state.opt_state.notfinite_count)  # the state is donated next step
      pending, window = (done, window, streak), None
    if due.eval or due.checkpoint:
      if pending is not None:
        _log_train(run, writer, bar, *pending, timer, schedule)
        pending = None
      paused = time.perf_counter()
      if due.eval:
        final = evaluate(run, p_eval, state.params, writer, done, final=last)
        if best is not None:
          _save_if_best(run, best, parallel.unreplicate(state), base_key, final)
      if due.checkpoint:
        _end_if_diverged(train, done, state.opt_state.notfinite_count)
        checkpointer.save(parallel.unreplicate(state), base_key,
                          examples_seen=done * train.batch_size)
      timer.exclude(time.perf_counter() - paused)
    bar.update(1)
    if stopping:
      break
  tracer.close()
  bar.close()
  return state, final


def _save_if_best(run: Run, best, state, base_key, metrics: dict[str, float]):
  """Offers an evaluated (unreplicated) state to the best-keeping Checkpointer, which keeps it
  only if it ranks best by `train.best_metric`."""
  name = run.config.train.best_metric
  if name not in metrics:
    raise ConfigError('train.best_metric', f'{name!r} is not an eval metric of this run; '
                      f'accepted: {", ".join(metrics)}, or empty for none')
  best.save(state, base_key, examples_seen=int(state.step) * run.config.train.batch_size,
            metrics=metrics)


def _log_model_size(run: Run, writer, step: int, params):
  """Prints the parameter count and writes it to the events as `model/num_params`."""
  count = num_params(params)
  if run.is_main:
    print(f'{run.config.model.name}: {count:,} parameters', flush=True)
  writer.write_events(step, {'model/num_params': count})


def _log_train(run: Run, writer, bar, step: int, window, nonfinite_streak, timer, schedule):
  metrics = summarise(run.kind, parallel.unreplicate(window))
  steps_per_s = timer.steps_per_s(step)
  metrics.update(learning_rate=float(schedule(step - 1)), steps_per_s=steps_per_s,
                 tokens_per_s=steps_per_s * run.tokens_per_step)
  if steps_per_s:  # 0 where no step was timed yet (the window of the compiling step)
    metrics['step_ms'] = 1000 / steps_per_s
  writer.write(step, 'train', metrics)
  bar.set_postfix(loss=f'{metrics["loss"]:.4f}', tok_s=f'{metrics["tokens_per_s"]:.0f}')
  _end_if_diverged(run.config.train, step, nonfinite_streak)


def _end_if_diverged(train, step: int, nonfinite_streak):
  """Ends the run once `train.max_nonfinite_steps` steps in a row up to `step` had non-finite
  gradients (the optimizer skips each; isolated ones are harmless). Checked when the loop logs
  and before it saves, so the last checkpoint written is the last good one."""
  streak = int(parallel.unreplicate(nonfinite_streak))
  if streak >= train.max_nonfinite_steps:
    raise ConfigError('train.learning_rate', f'the run diverged: the last {streak} steps (up to '
                      f'step {step}) had non-finite gradients and were skipped '
                      f'(train.max_nonfinite_steps={train.max_nonfinite_steps}); stopped, the '
                      'last checkpoint is kept; lower the learning rate, lengthen '
                      'train.warmup_steps or clip (train.grad_clip_norm)')


def _last_eval(workdir: str) -> dict[str, float]:
  evals = [line for line in read_metrics(workdir) if line['split'] == 'eval']
  return {k: v for k, v in evals[-1].items() if k not in ('step', 'split')} if evals else {}
