"""The one place that maps steps over devices with `jax.pmap`.

A `jax.jit` + sharding path can be added beside these functions without touching models or data.
Batches arrive as this process's rows `[process_batch, ...]` and are split across local devices
into `[local_devices, per_device_batch, ...]`.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import jax_utils

from attn_jax.training import steps

AXIS = 'batch'



def replicate(tree):
  """`tree` copied to every local device, `[local_devices, ...]`, placed exactly as the outputs of
  the pmapped steps are, so that the first step's output does not trigger a second compilation
  (`flax.jax_utils.replicate` places arrays under another mesh axis name, which does)."""
  devices = jax.local_device_count()
  stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (devices, *jnp.shape(x))), tree)
  return jax.pmap(lambda x: x, axis_name=AXIS)(stacked)


def unreplicate(tree):
  """The copy on the first local device, fetched to the host."""
  return jax.device_get(jax_utils.unreplicate(tree))


def shard(batch: dict) -> dict:
  """`[process_batch, ...]` -> `[local_devices, process_batch // local_devices, ...]`."""
  devices = jax.local_device_count()
  return jax.tree.map(lambda x: np.asarray(x).reshape(devices, -1, *x.shape[1:]), batch)


def pmap_train_step(kind: str, grad_accum_steps: int):
  """`(replicated_state, sharded_batch, base_key) -> (state, metric sums)` over all devices.

  The state argument is donated: its buffers are reused for the new state.
  """
  step = functools.partial(steps.train_step, kind=kind, grad_accum_steps=grad_accum_steps,
                           axis_name=AXIS)
  return jax.pmap(step, axis_name=AXIS, in_axes=(0, 0, None), donate_argnums=(0,))


def pmap_eval_step(apply_fn, kind: str):
  """`(replicated_params, sharded_batch) -> metric sums` over all devices."""
  step = functools.partial(steps.eval_step, apply_fn=apply_fn, kind=kind, axis_name=AXIS)
  return jax.pmap(step, axis_name=AXIS)
