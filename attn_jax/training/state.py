"""The train state and its creation from a model and a task."""
import jax
import jax.numpy as jnp
from flax.training import train_state

from attn_jax.task import TaskInfo
from attn_jax.training.optimizer import make_optimizer


def example_batch(info: TaskInfo, batch_size: int = 1) -> dict[str, jax.Array]:
  """Zero inputs of the right shapes and dtypes, for initialising parameters."""
  dtype = jnp.float32 if info.vocab_size == 0 else jnp.int32
  batch = {'inputs': jnp.zeros((batch_size, *info.input_shape), dtype)}
  if info.kind == 'seq2seq':
    batch['decoder_inputs'] = jnp.zeros((batch_size, info.target_max_len), jnp.int32)
  return batch


def model_inputs(batch: dict) -> tuple:
  """The positional arguments of a model call: `inputs`, then `decoder_inputs` for seq2seq."""
  if 'decoder_inputs' in batch:
    return batch['inputs'], batch['decoder_inputs']
  return (batch['inputs'],)


def dropout_base_key(seed) -> jax.Array:
  """The run's base PRNG key for dropout (the train step folds in the step and the device);
  distinct from the parameter initialisation key `key(seed)`."""
  return jax.random.fold_in(jax.random.key(seed), 1)


def train_state_initialiser(config, model, info: TaskInfo):
  """`rng -> TrainState`, jitted once: the states of several seeds of one model share its trace,
  its compiled program and its optimizer object (`create_train_state` for each key)."""
  tx = make_optimizer(config.train)

  def create(key):
    variables = model.init(key, *model_inputs(example_batch(info)), train=False)
    return train_state.TrainState.create(apply_fn=model.apply, params=variables['params'], tx=tx)

  return jax.jit(create)  # one compilation, not one per optimizer-state leaf


def create_train_state(config, model, info: TaskInfo, rng: jax.Array) -> train_state.TrainState:
  """Initialises parameters (float32) and the optimizer of `config.train`.

  Args:
    config: the experiment config (uses `config.train`).
    model: a linen module from `attn_jax.models.registry.build_model`.
    info: the dataset's `TaskInfo` (input shapes).
    rng: the parameter initialisation key.
  """
  return train_state_initialiser(config, model, info)(rng)
