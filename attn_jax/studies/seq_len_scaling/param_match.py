"""Matched parameter budgets: the width (`model.hidden_size`) that gives a model a target count.

Counting uses `jax.eval_shape` of the model's init, so no parameter is ever allocated; the count
grows with the width, so a binary search over multiples of a step finds the closest width.
"""
import jax
import ml_collections

from attn_jax.errors import ConfigError
from attn_jax.models.registry import TRANSFORMER_FAMILIES, build_model, num_params
from attn_jax.task import TaskInfo
from attn_jax.training.state import example_batch, model_inputs

MAX_HIDDEN = 8192


def with_width(model_config: ml_collections.ConfigDict, hidden_size: int,
               mlp_ratio: int) -> ml_collections.ConfigDict:
  """A copy of `model_config` at width `hidden_size` (transformer and linear_attention:
  `mlp_dim = mlp_ratio * width`)."""
  config = model_config.copy_and_resolve_references()
  config.hidden_size = hidden_size
  if config.name in TRANSFORMER_FAMILIES:
    config.mlp_dim = mlp_ratio * hidden_size
  return config


def count_params(model_config: ml_collections.ConfigDict, info: TaskInfo) -> int:
  """Parameters of `model_config` on a task `info`, from shapes only."""
  model = build_model(model_config, info)
  batch = example_batch(info)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), *model_inputs(batch), train=False))
  return num_params(shapes['params'])


def width_step(model_config: ml_collections.ConfigDict) -> int:
  """Transformer and linear_attention widths are multiples of the head count; other models take
  any width."""
  return model_config.num_heads if model_config.name in TRANSFORMER_FAMILIES else 1


def match_width(model_config: ml_collections.ConfigDict, info: TaskInfo, target: int, *,
                mlp_ratio: int, tolerance: float) -> tuple[int, int]:
  """(hidden_size, num_params) of the width whose count is closest to `target`.

  Raises:
    ConfigError: no width brings the count within `tolerance` (a fraction) of `target`.
  """
  step = width_step(model_config)

  def count(k: int) -> int:
    return count_params(with_width(model_config, k * step, mlp_ratio), info)

  lo, hi = 1, MAX_HIDDEN // step  # smallest k with count(k) >= target, by bisection
  while lo < hi:
    mid = (lo + hi) // 2
    if count(mid) >= target:
      hi = mid
    else:
      lo = mid + 1
  candidates = [(abs(count(k) - target), k) for k in {max(lo - 1, 1), lo}]
  _, best = min(candidates)
  params = count(best)
  if abs(params - target) > tolerance * target:
    raise ConfigError('study.target_params', f'{model_config.name} cannot be brought within '
                      f'{tolerance:.0%} of {target:,} parameters (closest: width {best * step}, '
                      f'{params:,}); accepted: a target this model can reach at widths that are '
                      f'multiples of {step}, or another '
                      f'tolerance')
  return best * step, params
