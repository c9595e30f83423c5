"""Probe (issue 26 item 5): does the LSTM gate layout change the train step on the CPU?

Forward + backward of one LSTM layer (batch 32, length 256, features 64, hidden 256, the mean
square of the outputs as the loss), jitted, in three gate layouts of the same `[batch, 4 hidden]`
pre-activation `z = x W_x + h W_h + b`:
  split        i, f, g, o = split(z, 4), as `models/recurrent.lstm_step` does;
  interleaved  z read as `[batch, hidden, 4]`, a unit's four gates side by side;
  sigmoid3     one sigmoid over the three sigmoid gates (i, f, o contiguous), one tanh on g.
The three alternate for `ROUNDS` (40) rounds after two warm-up rounds
(`benchmark.time_alternating`); medians are printed.

    python experiments/results/benchmark_cpu/lstm_gate_layout_probe.py
"""
import jax
import jax.numpy as jnp

from attn_jax.studies.benchmark import benchmark

B, L, H, F = 32, 256, 256, 64
ROUNDS = 40


def step_split(carry, z):
  c, _ = carry
  i, f, g, o = jnp.split(z, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return c, jax.nn.sigmoid(o) * jnp.tanh(c)


def step_interleaved(carry, z):
  c, _ = carry
  z = z.reshape(z.shape[0], -1, 4)
  i, f, g, o = z[..., 0], z[..., 1], z[..., 2], z[..., 3]
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return c, jax.nn.sigmoid(o) * jnp.tanh(c)


def step_sigmoid3(carry, z):
  c, _ = carry
  s, g = jax.nn.sigmoid(z[:, :3 * H]), jnp.tanh(z[:, 3 * H:])
  i, f, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:]
  c = f * c + i * g
  return c, o * jnp.tanh(c)


def train_step(gates):
  """value_and_grad of the layer with `gates(carry, z) -> (c, h)`, jitted."""
  def loss(params, x):
    w_x, w_h, b = params
    xw = jnp.einsum('blf,fg->lbg', x, w_x) + b

    def body(carry, xw_t):
      carry = gates(carry, xw_t + carry[1] @ w_h)
      return carry, carry[1]
    zeros = jnp.zeros((B, H))
    _, hs = jax.lax.scan(body, (zeros, zeros), xw)
    return jnp.mean(hs ** 2)
  return jax.jit(jax.value_and_grad(loss))


def main():
  keys = jax.random.split(jax.random.key(0), 3)
  params = (jax.random.normal(keys[0], (F, 4 * H)) * 0.1,
            jax.random.normal(keys[1], (H, 4 * H)) * 0.05, jnp.zeros(4 * H))
  x = jax.random.normal(keys[2], (B, L, F))
  steps = {'split': train_step(step_split), 'interleaved': train_step(step_interleaved),
           'sigmoid3': train_step(step_sigmoid3)}
  sides = {name: (lambda step=step: jax.block_until_ready(step(params, x)))
           for name, step in steps.items()}
  for name, seconds in benchmark.time_alternating(sides, 2, ROUNDS).items():
    print(f'{name}: {seconds * 1e3:.1f} ms')


if __name__ == '__main__':
  main()
