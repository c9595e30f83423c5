"""Pure train and eval steps. Device-agnostic: under `jax.pmap` pass the axis name to reduce.

Randomness is stateless: the dropout key of a step is `fold_in(fold_in(base_key, step), device)`
(and of the micro-batch under gradient accumulation); no key is ever threaded back out.
"""
import jax
import jax.numpy as jnp
from flax.training import train_state

from attn_jax.training.objectives import metric_sums
from attn_jax.training.optimizer import global_norm
from attn_jax.training.state import model_inputs


def _psum(tree, axis_name):
  return tree if axis_name is None else jax.lax.psum(tree, axis_name)


def _device_index(axis_name):
  return 0 if axis_name is None else jax.lax.axis_index(axis_name)


def _split_micro_batches(batch: dict, num_micro: int) -> dict:
  """`[batch, ...]` -> `[num_micro, batch // num_micro, ...]`."""
  return jax.tree.map(lambda x: x.reshape(num_micro, x.shape[0] // num_micro, *x.shape[1:]), batch)


def train_step(state: train_state.TrainState, batch: dict, base_key: jax.Array, *, kind: str,
               grad_accum_steps: int = 1, axis_name: str | None = None):
  """One update on the global batch; exact whatever the device count or micro-batching.

  Each device differentiates its weighted loss sum divided by the global weight, so that the sum
  of device gradients (`psum`) is the gradient of the global mean loss.

  Args:
    state: the train state (replicated under pmap).
    batch: this device's rows, `[per_device_batch, ...]` (see `attn_jax.task`).
    base_key: the run's base PRNG key (the same on every device).
    kind: the task kind, for the loss.
    grad_accum_steps: micro-batches per update; their gradients are summed before the update.
    axis_name: the pmap axis to reduce over, or None on one device without pmap.

  Returns:
    The new state, and metric sums over the global batch (`loss`, `weight`, `accuracy` where it
    applies, and `count_nonfinite`: 1 if this step was skipped for non-finite gradients), plus
    this step's `mean_grad_norm` (global norm of the global-mean-loss gradient, before clipping),
    `mean_param_norm` (of the updated parameters) and `steps` (1), all scalars; the norms are
    the same on every device, as gradients are reduced first.
  """
  key = jax.random.fold_in(jax.random.fold_in(base_key, state.step), _device_index(axis_name))
  global_weight = _psum(jnp.sum(batch['weights'].astype(jnp.float32)), axis_name)

  def loss_fn(params, micro_batch, micro_key):
    logits = state.apply_fn({'params': params}, *model_inputs(micro_batch), train=True,
                            rngs={'dropout': micro_key})
    sums = metric_sums(kind, logits, micro_batch)
    return sums['loss'] / jnp.maximum(global_weight, 1e-9), sums

  def accumulate(grads, micro):
    micro_batch, index = micro
    (_, sums), micro_grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, micro_batch, jax.random.fold_in(key, index))
    return jax.tree.map(jnp.add, grads, micro_grads), sums

  zeros = jax.tree.map(jnp.zeros_like, state.params)
  micro_batches = (_split_micro_batches(batch, grad_accum_steps), jnp.arange(grad_accum_steps))
  grads, sums = jax.lax.scan(accumulate, zeros, micro_batches)
  grads, sums = _psum((grads, jax.tree.map(jnp.sum, sums)), axis_name)
  new_state = state.apply_gradients(grads=grads)
  sums['count_nonfinite'] = 1.0 - new_state.opt_state.last_finite.astype(jnp.float32)
  sums.update(mean_grad_norm=global_norm(grads), mean_param_norm=global_norm(new_state.params),
              steps=jnp.float32(1))
  return new_state, sums


def eval_step(params, batch: dict, *, apply_fn, kind: str, axis_name: str | None = None) -> dict:
  """Metric sums of one evaluation batch (padding rows have weight 0), reduced over devices."""
  logits = apply_fn({'params': params}, *model_inputs(batch), train=False)
  return _psum(metric_sums(kind, logits, batch), axis_name)
