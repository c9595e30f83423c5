"""Training settings: their defaults and the checks that run before anything compiles."""
import ml_collections

from attn_jax.errors import ConfigError
from attn_jax.training import profiling

LR_SCHEDULES = ('cosine', 'linear', 'constant')


def train_config_defaults() -> ml_collections.ConfigDict:
  """Every `train.*` key with its default; experiment configs override what they need."""
  return ml_collections.ConfigDict(dict(
      num_steps=1000,
      batch_size=32,            # global, over all devices of all processes
      eval_batch_size=0,        # 0: same as batch_size
      learning_rate=1e-3,
      lr_schedule='cosine',     # warm-up, then one of LR_SCHEDULES
      warmup_steps=100,
      weight_decay=0.01,
      grad_clip_norm=1.0,       # 0 disables clipping
      grad_accum_steps=1,       # micro-batches per update, summed inside one step
      log_every=50,
      eval_every=500,
      checkpoint_every=500,
      keep_checkpoints=3,
      max_nonfinite_steps=100,  # non-finite steps in a row that end the run (fewer are skipped)
      evaluators='',            # comma-separated (training/evaluators.py); '': the task's defaults
      best_metric='',           # eval metric whose best checkpoint is kept too ('': none), e.g. loss
      init_from='',             # warm start: a workdir whose parameters a new run starts from
      init_step='latest',       # its checkpoint: latest, best or a step
      profile_steps='',         # 'A,B': trace steps A to B with jax.profiler into DIR/profile/
  ))


def _require(ok: bool, setting: str, message: str):
  if not ok:
    raise ConfigError(setting, message)


def validate_train_config(train, *, num_devices: int):
  """Raises ConfigError for a bad `train.*` value, naming what would be accepted.

  Args:
    train: the `train` ConfigDict.
    num_devices: devices over all processes (`jax.device_count()`).
  """
  for key in ('num_steps', 'batch_size', 'log_every', 'eval_every', 'checkpoint_every',
              'keep_checkpoints', 'grad_accum_steps', 'max_nonfinite_steps'):
    _require(isinstance(train[key], int) and train[key] > 0, f'train.{key}',
             f'must be a positive integer, got {train[key]!r}')
  _require(train.eval_batch_size >= 0, 'train.eval_batch_size',
           f'must be 0 (same as train.batch_size) or positive, got {train.eval_batch_size}')
  _require(train.learning_rate > 0, 'train.learning_rate',
           f'must be positive, got {train.learning_rate}')
  _require(train.warmup_steps >= 0, 'train.warmup_steps',
           f'must be 0 or positive, got {train.warmup_steps}')
  _require(train.weight_decay >= 0, 'train.weight_decay',
           f'must be 0 or positive, got {train.weight_decay}')
  _require(train.grad_clip_norm >= 0, 'train.grad_clip_norm',
           f'must be 0 (off) or positive, got {train.grad_clip_norm}')
  _require(train.lr_schedule in LR_SCHEDULES, 'train.lr_schedule',
           f'unknown schedule {train.lr_schedule!r}; accepted: {", ".join(LR_SCHEDULES)}')
  _require(isinstance(train.best_metric, str) and train.best_metric.strip() == train.best_metric,
           'train.best_metric', f'must be an eval metric name (loss, accuracy, ...) or empty, got '
           f'{train.best_metric!r}')
  _require(train.init_step in ('latest', 'best') or str(train.init_step).isdecimal(),
           'train.init_step', f'accepted: latest, best or a step number, got {train.init_step!r}')
  profiling.parse_steps(train.profile_steps, train.num_steps)
  per_update = num_devices * train.grad_accum_steps
  for key in ('batch_size', 'eval_batch_size'):
    size = train[key]
    divisor = per_update if key == 'batch_size' else num_devices
    _require(size % divisor == 0, f'train.{key}',
             f'{size} is not divisible by {divisor} (the device count {num_devices}'
             + (f' times train.grad_accum_steps {train.grad_accum_steps})' if key == 'batch_size'
                else ')') + f'; use a multiple of {divisor}')


def eval_batch_size(train) -> int:
  return train.eval_batch_size or train.batch_size
