"""Gradient flow: how strongly the loss at the end of a sequence reaches back to each input.

The vanishing-gradient lecture, measured. For a model and its parameters, on a batch:

    g_t = || d loss_p / d e_t ||_2     (e_t: the input embedding at position t, `[features]`)

mean over the examples of the batch, where loss_p is the loss at position p: for a classifier the
classification loss (read from the end of the sequence), for a language model the cross-entropy
of the prediction at position p (default: the last position). A recurrent network multiplies
the gradient by one Jacobian d h_t / d h_{t-1} per step back, so g decays like r^(p - t) when those
Jacobians shrink it by about r; attention reaches every position in one step.

d loss / d e_t is taken with Flax's `perturb`: the models' embeddings pass through
`self.perturb('embedded', x)` (`attn_jax.models.embedding.InputEmbedding`, `RecurrentLM`,
`TransformerLM`), a no-op unless a 'perturbations' collection is passed; `jax.grad` with respect to
a zero perturbation is the gradient with respect to the embedding.

`fit_decay` turns g into one number per model: the per-step factor exp(slope) of a least-squares
line through log g against the distance p - t. `measure` gives a study the CSV rows and the
fitted factors for one model at several training stages (e.g. 'init' and 'trained').
"""
import functools
from typing import Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from attn_jax.training.objectives import metric_sums
from attn_jax.training.state import model_inputs

# Fitted distances: 1 .. p (d = 0, the position whose loss is taken, also has the output
# layer's direct path), and only where the norm is a normal float32 (above float32's smallest
# normal number), so gradients that have underflowed to zero or denormals do not bend the line.
FIT_MIN_DISTANCE = 1
FIT_MIN_NORM = float(np.finfo(np.float32).tiny)


def _loss_sum(model, params, perturbations, batch: dict, kind: str, position: int) -> jax.Array:
  """Sum over the batch of each example's loss at `position` (a classifier's only loss)."""
  logits = model.apply({'params': params, 'perturbations': perturbations},
                       *model_inputs(batch), train=False)
  targets = batch['targets']
  if kind == 'lm':
    logits, targets = logits[:, position], targets[:, position]
    kind = 'classification'
  ones = jnp.ones(targets.shape[:1], jnp.float32)
  return metric_sums(kind, logits, {'targets': targets, 'weights': ones})['loss']


@functools.partial(jax.jit, static_argnames=('model', 'kind', 'position'))
def _embedding_grad_norms(model, params, batch: dict, kind: str, position: int) -> jax.Array:
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), *model_inputs(batch),
                                             train=False))
  if 'perturbations' not in shapes:
    raise ValueError(f'{type(model).__name__} has no perturb() hook on its input embedding; '
                     "add `x = self.perturb('embedded', x)` where it embeds its inputs")
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes['perturbations'])
  grads = jax.grad(_loss_sum, argnums=2)(model, params, zeros, batch, kind, position)
  (grad,) = jax.tree.leaves(grads)  # [batch, length, features]: the one embedded input
  return jnp.mean(jnp.linalg.norm(grad.astype(jnp.float32), axis=-1), axis=0)


def embedding_grad_norms(model, params, batch: dict, kind: str,
                         position: Optional[int] = None) -> np.ndarray:
  """g_t = || d loss_p / d e_t ||, mean over the batch: float64 `[length]`.

  Args:
    model: a linen classifier / regressor (`kind` 'classification' / 'regression': the loss of
      the one prediction) or language model (`kind` 'lm': the loss at `position`) whose input
      embedding has the `perturb('embedded', ...)` hook.
    params: its parameters.
    batch: `inputs` `[batch, length]` (or `[batch, length, input_dim]` floats) and `targets`
      (`[batch]`, or `[batch, length]` for 'lm'); `weights` is not used (every example counts).
    kind: the task kind.
    position: 'lm' only: the position whose loss is differentiated (default: the last, L - 1).
      A causal model gives exactly zero at every t > position.
  Returns:
    `[length]`, g_t for t = 0 .. L-1; the distance of t is `position - t`.
  """
  length = batch['inputs'].shape[1]
  position = length - 1 if position is None else int(position)
  if not 0 <= position < length:
    raise ValueError(f'position {position} is outside the sequence of length {length}')
  batch = {'inputs': jnp.asarray(batch['inputs']), 'targets': jnp.asarray(batch['targets'])}
  return np.asarray(_embedding_grad_norms(model, params, batch, kind, position), np.float64)


class Decay(NamedTuple):
  """A fitted per-step decay: g(d) ~ C * factor^d over `distances` [first, last] (`points` used)."""
  factor: float
  first: int
  last: int
  points: int


def fit_decay(norms, position: Optional[int] = None) -> Decay:
  """The per-step factor r of g(d) ~ C r^d, d = position - t, by least squares on log g.

  Args:
    norms: `[length]` g_t as from `embedding_grad_norms` (position t = 0 .. L-1).
    position: the position whose loss was differentiated (default: the last, L - 1).
  Returns:
    `Decay`: factor = exp(slope of log g against d) (below 1: the gradient shrinks by that factor
    per step back; about 1: no systematic decay), fitted on d = FIT_MIN_DISTANCE .. position
    where g is at least FIT_MIN_NORM; factor NaN when fewer than 2 points qualify.
  """
  norms = np.asarray(norms, np.float64)
  position = len(norms) - 1 if position is None else int(position)
  distance = position - np.arange(position + 1)
  values = norms[:position + 1]
  keep = (distance >= FIT_MIN_DISTANCE) & np.isfinite(values) & (values >= FIT_MIN_NORM)
  if keep.sum() < 2:
    return Decay(float('nan'), 0, 0, int(keep.sum()))
  slope = np.polyfit(distance[keep], np.log(values[keep]), 1)[0]
  return Decay(float(np.exp(slope)), int(distance[keep].min()), int(distance[keep].max()),
               int(keep.sum()))


class GradientFlow(NamedTuple):
  """`rows`: one per (stage, distance) for `grad_flow.csv`; `decays`: one per stage."""
  rows: list[dict]
  decays: list[dict]


def measure(name: str, model, kind: str, batch: dict,
            params_by_stage: Mapping[str, object]) -> GradientFlow:
  """Gradient flow of one model at each training stage, on one batch.

  Args:
    name: the model's name in the rows (e.g. 'lstm').
    model: the linen module (see `embedding_grad_norms`).
    kind: the task kind ('classification', 'regression' or 'lm').
    batch: numpy or jax arrays `inputs`, `targets` (`weights` is ignored).
    params_by_stage: e.g. {'init': params_at_init, 'trained': params_after_training}; params
      of ONE model (take one seed's slice of vmapped parameters).
  Returns:
    rows (model, seq_len, stage, distance, grad_norm), distance = L - 1 - t from 0 to L - 1;
    decays (model, seq_len, stage, decay_per_step, fit_first, fit_last, fit_points).
  """
  seq_len = int(batch['inputs'].shape[1])
  rows, decays = [], []
  for stage, params in params_by_stage.items():
    norms = embedding_grad_norms(model, params, batch, kind)
    for distance in range(seq_len):
      rows.append(dict(model=name, seq_len=seq_len, stage=stage, distance=distance,
                       grad_norm=float(norms[seq_len - 1 - distance])))
    decay = fit_decay(norms)
    decays.append(dict(model=name, seq_len=seq_len, stage=stage, decay_per_step=decay.factor,
                       fit_first=decay.first, fit_last=decay.last, fit_points=decay.points))
  return GradientFlow(rows, decays)
