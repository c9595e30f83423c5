"""Gate-bias initialisers that make a gated recurrence carry its state from the first step.

Chrono initialisation (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?",
ICLR): a gated unit h' = g * h + (1 - g) * new with g = sigmoid(b) forgets with the
characteristic time 1 / (1 - g) = 1 + e^b steps. Drawing e^b ~ U[1, T_max - 1] spreads the units'
time scales uniformly over [2, T_max], so some units hold information across the longest
dependency expected (T_max) while others follow the input. With b = 0 (the default of most
libraries) every unit halves what it carries at each step and forgets within a few steps.
"""
import jax
import jax.numpy as jnp

# T_max: the longest time scale given to a unit at initialisation (the study's lengths are
# 16..1024; longer dependencies are learned from there).
CHRONO_MAX_TIMESCALE = 128


def chrono_bias(key: jax.Array, shape, dtype=jnp.float32,
                max_timescale: float = CHRONO_MAX_TIMESCALE) -> jax.Array:
  """log(U[1, max_timescale - 1]) of `shape`: the bias of the gate that multiplies the old state."""
  u = jax.random.uniform(key, shape, jnp.float32, 1.0, max_timescale - 1.0)
  return jnp.log(u).astype(dtype)
