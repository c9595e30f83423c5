"""Model FLOPs counted from a function's jaxpr, every time step included.

XLA's `compiled.cost_analysis()['flops']` counts the body of a while loop (what `lax.scan`
lowers to) once, not once per iteration, so any scanned model (RNN, LSTM, GRU) is undercounted.
This counter walks the jaxpr instead:

- `dot_general`: 2 * (batch) * (lhs free) * (rhs free) * (contracted) elements, i.e. 2*M*N*K;
- `conv_general_dilated`: 2 * (output elements) * (kernel elements per output feature);
- `scan`: the body's count times `length`;
- `cond`: the maximum over its branches (an upper bound; the branch taken is not known);
- `while` holding a matrix product: refused with a `ValueError` (its trip count is not in the
  jaxpr); a loop without one counts 0. `fori_loop` with static bounds lowers to `scan`;
- every other primitive holding a jaxpr (`jit`/`pjit`, `custom_vjp_call`, `custom_jvp_call`,
  `remat`/`checkpoint`, ...): its sub-jaxprs are counted once each.

Only matrix products are counted (the "model FLOPs" of MFU): element-wise work (activations,
norms, softmax, the optimizer update) is left out. For matmul-dominated programs this is within a
few percent of XLA's count on a loop-free program (XLA adds one FLOP per element-wise op);
tests/test_study_flops.py pins both the exact dot count and that tolerance.
"""
import math
from typing import Callable

import jax
from jax.extend import core as jex_core


def dot_general_flops(lhs_shape, rhs_shape, dimension_numbers) -> int:
  """2 * prod(lhs) * prod(rhs free dims): every lhs element meets every rhs free column once."""
  (_, rhs_contract), (_, rhs_batch) = dimension_numbers
  rhs_free = [d for i, d in enumerate(rhs_shape) if i not in rhs_contract and i not in rhs_batch]
  return 2 * math.prod(lhs_shape) * math.prod(rhs_free)


def conv_flops(rhs_shape, out_shape, dimension_numbers) -> int:
  """2 * (output elements) * (input features per group) * (kernel spatial elements)."""
  out_feature_dim = dimension_numbers.rhs_spec[0]
  return 2 * math.prod(out_shape) * math.prod(rhs_shape) // rhs_shape[out_feature_dim]


def _sub_jaxprs(params):
  for value in params.values():
    for item in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(item, jex_core.ClosedJaxpr):
        yield item.jaxpr
      elif isinstance(item, jex_core.Jaxpr):
        yield item


def jaxpr_flops(jaxpr) -> int:
  """Matrix-product FLOPs of one evaluation of `jaxpr` (a Jaxpr or ClosedJaxpr)."""
  jaxpr = getattr(jaxpr, 'jaxpr', jaxpr)
  total = 0
  for eqn in jaxpr.eqns:
    name, params = eqn.primitive.name, eqn.params
    if name == 'dot_general':
      total += dot_general_flops(eqn.invars[0].aval.shape, eqn.invars[1].aval.shape,
                                 params['dimension_numbers'])
    elif name == 'conv_general_dilated':
      total += conv_flops(eqn.invars[1].aval.shape, eqn.outvars[0].aval.shape,
                          params['dimension_numbers'])
    elif name == 'scan':
      total += params['length'] * jaxpr_flops(params['jaxpr'])
    elif name == 'cond':
      total += max(jaxpr_flops(branch) for branch in params['branches'])
    elif name == 'while':
      if jaxpr_flops(params['body_jaxpr']) or jaxpr_flops(params['cond_jaxpr']):
        raise ValueError('cannot count FLOPs of a while loop: its trip count is not known from '
                         'the jaxpr (use lax.scan, or lax.fori_loop with static bounds)')
    else:
      total += sum(jaxpr_flops(sub) for sub in _sub_jaxprs(params))
  return total


def count_flops(fn: Callable, *args, **kwargs) -> int:
  """Matrix-product FLOPs of one call `fn(*args, **kwargs)` (arrays or ShapeDtypeStructs)."""
  return jaxpr_flops(jax.make_jaxpr(fn)(*args, **kwargs))
