"""Step times of the project's layers against PyTorch's on the same machine, in the same run.

`run(config, workdir)` (experiment `benchmark`, experiments/configs/benchmark.py) times, per shape:
- `train`: one training step (forward, backward, Adam update) of
  - a recurrent layer (`RecurrentLayer(cell)`) with a dense head on every step, float inputs
    `[batch, length, features]`, mean squared error (torch: `nn.RNN/LSTM/GRU` + `nn.Linear`);
  - the decoder-only `TransformerLM` (pre-LN, gelu, learned positions, tied output), cross-entropy
    (torch: `nn.TransformerEncoderLayer(norm_first=True)` blocks, causal mask);
- `decode`: one generated token: a recurrent step from the carried state, or a transformer step
  against a KV cache of `length` positions (torch: the same layers' weights with a KV cache).
Train steps are also split into forward, backward and optimizer ("where the time goes"), and
the transformer train step is timed per attention implementation at `bench.attention_time_length`.
Both sides start from the SAME weights (the project's initialisation copied into torch with
`torch_peer`), and the benchmark checks that both compute the same loss before timing.
The two sides are timed alternately (one project step, one torch step, ...), so that load from
other processes on a shared machine falls on both; each time blocks on the result; the median
after `bench.warmup_steps` is reported. The machine's fp32 matmul throughput (`[n, n] @ [n, n]`,
both frameworks) is measured in the same run. Model FLOPs are the matrix products of the
project's step, counted from its jaxpr (`studies.flops`), and used for both sides.
Memory: XLA's `memory_analysis()` of the project's compiled step; and the transformer train step at
`bench.memory_length` with each attention implementation (compiled, not run).

Without PyTorch the project's side is timed alone and the report says how to add the peer.
Writes DIR/results.csv, DIR/breakdown.csv, DIR/profile.csv and DIR/report.md
(`benchmark_report`).
"""
import dataclasses
import importlib.util
import os
import statistics
import time
from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from attn_jax import durable
from attn_jax.errors import ConfigError
from attn_jax.models import attention, recurrent
from attn_jax.models.dense import Dense
from attn_jax.models.transformer import TransformerConfig, TransformerLM, init_cache
from attn_jax.studies.benchmark import benchmark_report, step_profile
from attn_jax.studies.step_cost import compiled_memory_bytes
from attn_jax.studies.flops import count_flops

HAS_TORCH = importlib.util.find_spec('torch') is not None
if HAS_TORCH:
  import torch
  from attn_jax.studies.benchmark import torch_peer

RECURRENT_CELLS = ('rnn', 'lstm', 'gru')
PEER_HINT = "pip install -e '.[bench]'  (PyTorch, CPU wheel)"


class RecurrentHead(nn.Module):
  """`RecurrentLayer(cell)` and a dense head on every step: `[batch, length, features]` ->
  (`[batch, length, outputs]`, final carry)."""
  cell: str
  hidden: int
  outputs: int

  @nn.compact
  def __call__(self, x, carry=None):
    carry, hs = recurrent.RecurrentLayer(self.cell, self.hidden, name='layer')(x, carry)
    return Dense(self.outputs, name='head')(hs), carry


@dataclasses.dataclass
class Case:
  """One timed shape: a project step and (if torch is installed) the torch step, each a
  no-argument callable that runs one step and blocks on its result."""
  shape: str
  family: str
  length: int
  workload: str  # 'train' (one training step) | 'decode' (one generated token)
  ours: Callable[[], None]
  torch: Optional[Callable[[], None]]
  flops: int
  memory_bytes: float
  hlo_text: str = ''  # the compiled project step (train cases), for `step_profile`
  phases: dict = dataclasses.field(default_factory=dict)  # see `phase_steps`


def shape_names(config) -> list[tuple[str, str, int]]:
  """(name, family, length) for every shape of the config, narrowed by `config.shapes`."""
  shapes = [(f'{cell}_L{n}', cell, n) for cell in RECURRENT_CELLS
            for n in parse_lengths(config.recurrent.lengths, 'recurrent.lengths')]
  shapes += [(f'transformer_L{n}', 'transformer', n)
             for n in parse_lengths(config.transformer.lengths, 'transformer.lengths')]
  if not config.shapes:
    return shapes
  wanted = [s.strip() for s in config.shapes.split(',') if s.strip()]
  names = [s[0] for s in shapes]
  unknown = [w for w in wanted if w not in names]
  if unknown:
    raise ConfigError('shapes', f'unknown shape(s) {", ".join(unknown)}; accepted: a '
                      f'comma-separated list of {", ".join(names)} (or empty: all)')
  return [s for s in shapes if s[0] in wanted]


def parse_lengths(text: str, setting: str) -> list[int]:
  """'128,512' -> [128, 512], in the order given; raises ConfigError(setting, ...)."""
  try:
    lengths = [int(x) for x in str(text).split(',') if x.strip()]
  except ValueError:
    lengths = [0]
  if any(n <= 0 for n in lengths):
    raise ConfigError(setting, f'got {text!r}; accepted: comma-separated positive integers')
  return lengths


def _copy(tree):
  """Fresh buffers: the train step donates (deletes) its inputs."""
  return jax.tree.map(jnp.copy, tree)


def blocking(fn: Callable, state: list) -> Callable[[], None]:
  """A callable that runs `state[:] = fn(*state)` and blocks on the result."""
  def run():
    state[:] = fn(*state)
    jax.block_until_ready(state)
  return run


def _jax_train(loss_fn, params, batch):
  """(one blocking Adam train step, jitted step, its arguments, initial loss)."""
  tx = optax.adam(1e-3)

  def step(params, opt_state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, batch

  args = (params, tx.init(params), batch)
  return jax.jit(step, donate_argnums=(0, 1)), args, float(loss_fn(params, batch))


PHASES = ('forward', 'forward+backward')


def phase_steps(loss_fn, params, batch, peer=None, torch_loss=None) -> dict:
  """The parts of a train step, each a blocking callable per side, for "where the time goes":
  `forward` (the loss; torch builds its autograd graph as in training) and `forward+backward`
  (the loss and every parameter's gradient). The optimizer update is the full step minus
  `forward+backward`. Returns {phase: (ours, torch or None)}."""
  forward = jax.jit(loss_fn)
  grads = jax.jit(jax.value_and_grad(loss_fn))
  ours = {'forward': lambda: jax.block_until_ready(forward(params, batch)),
          'forward+backward': lambda: jax.block_until_ready(grads(params, batch))}
  theirs = dict.fromkeys(PHASES)
  if peer is not None:
    theirs['forward'] = lambda: torch_loss()

    def forward_backward():
      peer.zero_grad(set_to_none=True)
      torch_loss().backward()
    theirs['forward+backward'] = forward_backward
  return {phase: (ours[phase], theirs[phase]) for phase in PHASES}


def _torch_train(model, loss_fn) -> Callable[[], None]:
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)

  def run():
    opt.zero_grad(set_to_none=True)
    loss_fn().backward()
    opt.step()
  return run


def _check_same_loss(shape: str, ours: float, theirs: float):
  if not np.isclose(ours, theirs, rtol=1e-4, atol=1e-5):
    raise RuntimeError(f'{shape}: the project and torch compute different losses from the same '
                       f'weights ({ours} vs {theirs}); the timing would compare different models')


def recurrent_cases(config, name: str, cell: str, length: int) -> list[Case]:
  r = config.recurrent
  rng = np.random.default_rng(config.seed)
  x = rng.normal(size=(r.batch_size, length, r.features)).astype(np.float32)
  target = rng.normal(size=(r.batch_size, length, r.features)).astype(np.float32)
  model = RecurrentHead(cell, r.hidden_size, r.features)
  params = model.init(jax.random.key(config.seed), x[:, :1])['params']
  loss_fn = lambda p, b: jnp.mean((model.apply({'params': p}, b[0])[0] - b[1]) ** 2)
  batch = (jnp.asarray(x), jnp.asarray(target))
  step, args, loss = _jax_train(loss_fn, params, batch)
  carry = recurrent.CELLS[cell].zero_carry(r.batch_size, r.hidden_size, jnp.float32)
  # The prediction is returned (fed back as the next input): a step whose output is dropped
  # would let XLA skip the head, which torch's step computes. The parameters pass through
  # donated, so XLA hands them back without copying them every step.
  decode = jax.jit(lambda p, x_t, c: (p, *model.apply({'params': p}, x_t, c)),
                   donate_argnums=(0, 2))
  # _copy(carry): the LSTM's zero carry (h, h) is one buffer twice, which cannot be donated.
  decode_args = (_copy(params), jnp.asarray(x[:, :1]), _copy(carry))
  torch_train = torch_decode = peer = torch_loss = None
  if HAS_TORCH:
    peer = torch_peer.load(torch_peer.RecurrentHead(cell, r.features, r.hidden_size, r.features),
                           torch_peer.recurrent_head_state(params))
    tx, tt = torch.tensor(x), torch.tensor(target)
    torch_loss = lambda: torch.mean((peer(tx)[0] - tt) ** 2)
    with torch.no_grad():
      _check_same_loss(name, loss, float(torch_loss()))
    torch_train = _torch_train(peer, torch_loss)
    state = [None]

    def torch_decode():
      with torch.no_grad():
        _, state[0] = peer(tx[:, :1], state[0])
  return [Case(name, cell, length, 'train', blocking(step, list(args)), torch_train,
               count_flops(step, *args), *_compiled(step, args),
               phase_steps(loss_fn, _copy(params), batch, peer, torch_loss)),
          Case(name, cell, length, 'decode', blocking(decode, list(decode_args)), torch_decode,
               count_flops(decode, *decode_args), _memory(decode, decode_args))]


def transformer_model(config, length: int, impl: str = 'explicit') -> TransformerLM:
  t = config.transformer
  cfg = TransformerConfig(hidden_size=t.hidden_size, num_layers=t.num_layers,
                          num_heads=t.num_heads, mlp_dim=t.mlp_dim, activation='gelu',
                          positional='learned', pre_ln=True, attention_impl=impl, max_len=length)
  return TransformerLM(cfg, t.vocab_size, tie_embeddings=True)


def transformer_train(config, length: int, impl: str = 'explicit'):
  """(jitted train step, its arguments, initial loss, params, tokens) for `TransformerLM`."""
  model = transformer_model(config, length, impl)
  rng = np.random.default_rng(config.seed)
  tokens = rng.integers(0, config.transformer.vocab_size,
                        (config.transformer.batch_size, length + 1)).astype(np.int32)
  params = model.init(jax.random.key(config.seed), tokens[:, :-1])['params']

  def loss_fn(p, tokens):
    logits = model.apply({'params': p}, tokens[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()
  step, args, loss = _jax_train(loss_fn, params, jnp.asarray(tokens))
  return step, args, loss, params, tokens, loss_fn


def transformer_decode(config, length: int, impl: str, params, tokens):
  """(jitted one-token decode step of `TransformerLM` against a KV cache of `length` positions,
  its arguments), from `transformer_train`'s params and tokens `[batch, length + 1]`."""
  model = transformer_model(config, length, impl)
  cache = init_cache(model, tokens[:, :-1])

  def decode_step(p, c, tok):
    """One greedy token: the logits are used (the argmax is the next input), so XLA cannot
    drop the last block and the output layer, which torch's step computes. The parameters and
    the cache are donated: passed through without a copy per step."""
    logits, state = model.apply({'params': p, 'cache': c}, tok, decode=True, mutable=['cache'])
    return p, state['cache'], jnp.argmax(logits[:, -1:], axis=-1).astype(tok.dtype)
  return (jax.jit(decode_step, donate_argnums=(0, 1)),
          (_copy(params), cache, jnp.asarray(tokens[:, :1])))


def transformer_cases(config, name: str, length: int) -> list[Case]:
  t = config.transformer
  step, args, loss, params, tokens, loss_fn = transformer_train(config, length,
                                                                config.attention_impl)
  decode, decode_args = transformer_decode(config, length, config.attention_impl, params, tokens)
  torch_train = torch_decode = peer = torch_loss = None
  if HAS_TORCH:
    peer = torch_peer.load(torch_peer.TransformerLM(t.vocab_size, t.hidden_size, t.num_layers,
                                                    t.num_heads, t.mlp_dim, length),
                           torch_peer.transformer_lm_state(params))
    tt = torch.tensor(tokens, dtype=torch.long)
    torch_loss = lambda: torch.nn.functional.cross_entropy(
        peer(tt[:, :-1]).reshape(-1, t.vocab_size), tt[:, 1:].reshape(-1))
    with torch.no_grad():
      _check_same_loss(name, loss, float(torch_loss()))
    torch_train = _torch_train(peer, torch_loss)
    torch_cache = peer.init_cache(t.batch_size, length)
    position = [0]

    def torch_decode():
      with torch.no_grad():
        peer.decode_step(tt[:, 0], torch_cache, position[0] % length)
      position[0] += 1
  return [Case(name, 'transformer', length, 'train', blocking(step, list(args)), torch_train,
               count_flops(step, *args), *_compiled(step, args),
               phase_steps(loss_fn, _copy(params), jnp.asarray(tokens), peer, torch_loss)),
          Case(name, 'transformer', length, 'decode', blocking(decode, list(decode_args)),
               torch_decode, count_flops(decode, *decode_args), _memory(decode, decode_args))]


def _memory(step, args) -> float:
  return compiled_memory_bytes(step.lower(*args).compile())


def _compiled(step, args) -> tuple[float, str]:
  """(XLA's memory estimate, the optimised HLO text) of the compiled step."""
  compiled = step.lower(*args).compile()
  return compiled_memory_bytes(compiled), compiled.as_text()


def time_alternating(sides: dict, warmup: int, timed: int) -> dict:
  """Median seconds per side; the sides take turns step by step (first `warmup` not counted)."""
  times = {k: [] for k in sides}
  for i in range(warmup + timed):
    for key, fn in sides.items():
      start = time.perf_counter()
      fn()
      if i >= warmup:
        times[key].append(time.perf_counter() - start)
  return {k: statistics.median(v) for k, v in times.items()}


def matmul_peak(n: int, repeats: int) -> dict:
  """GFLOP/s of fp32 `[n, n] @ [n, n]` for each framework (median, alternating)."""
  a = jax.random.normal(jax.random.key(0), (n, n))
  mm = jax.jit(lambda a: a @ a)
  sides = {'ours': lambda: mm(a).block_until_ready()}
  if HAS_TORCH:
    ta = torch.randn(n, n)
    sides['torch'] = lambda: torch.mm(ta, ta)
  seconds = time_alternating(sides, 1, repeats)
  return {k: 2 * n ** 3 / s / 1e9 for k, s in seconds.items()}


def attention_memory(config) -> dict:
  """XLA's memory estimate of the transformer train step at `bench.memory_length`, per attention
  implementation (compiled only)."""
  out = {}
  for impl in attention.ATTENTION_IMPLS:
    step, args, *_ = transformer_train(config, config.bench.memory_length, impl)
    out[impl] = _memory(step, args)
  return out


def run(config, workdir: str):
  """Runs the benchmark; writes DIR/results.csv and DIR/report.md."""
  shapes = shape_names(config)
  os.makedirs(workdir, exist_ok=True)
  b = config.bench
  if not HAS_TORCH:
    print(f'PyTorch is not installed: timing the project alone. To add the peer: {PEER_HINT}')
  peak = matmul_peak(b.matmul_size, b.timed_steps)
  rows, parts, profiles = [], [], {}
  profiled = [n.strip() for n in b.profile_shapes.split(',') if n.strip()]
  for name, family, length in shapes:
    cases = (transformer_cases(config, name, length) if family == 'transformer'
             else recurrent_cases(config, name, family, length))
    for case in cases:
      seconds = time_case(case, b.warmup_steps, b.timed_steps, b.breakdown)
      row = dict(shape=case.shape, kind=case.workload, family=case.family, length=case.length,
                 ours_ms=1e3 * seconds[('step', 'ours')],
                 torch_ms=1e3 * seconds.get(('step', 'torch'), np.nan),
                 flops=case.flops, memory_bytes=case.memory_bytes)
      row['ratio'] = row['ours_ms'] / row['torch_ms']
      for side in ('ours', 'torch'):
        gflops = case.flops / (row[f'{side}_ms'] / 1e3) / 1e9
        row[f'{side}_gflops'] = gflops
        row[f'{side}_share_of_peak'] = gflops / peak.get(side, np.nan)
      rows.append(row)
      print(f"{case.shape:>18} {case.workload:>6}: ours {row['ours_ms']:9.2f} ms  torch "
            f"{row['torch_ms']:9.2f} ms  ratio {row['ratio']:.2f}", flush=True)
      if b.breakdown and case.phases:
        parts += phase_rows(case, seconds)
      if case.workload == 'train' and case.shape in profiled:
        profiles[case.shape] = step_profile.profile_step(case.ours, case.hlo_text,
                                                          b.timed_steps)
  memory = attention_memory(config) if b.memory_length else {}
  impl_times = attention_times(config) if b.attention_time_length else {}
  benchmark_report.write_files(workdir, rows, parts, profiles)
  peer = (f'PyTorch {torch.__version__}, {torch.get_num_threads()} threads' if HAS_TORCH
          else f'PyTorch not installed (only the project timed; to add the peer: `{PEER_HINT}`)')
  durable.write_text(os.path.join(workdir, 'report.md'), benchmark_report.report(
      config, peer, rows, peak, memory, parts, impl_times, profiles))
  print(f'wrote {workdir}/results.csv, breakdown.csv, profile.csv and report.md')


def time_case(case: Case, warmup: int, timed: int, breakdown: bool) -> dict:
  """Median seconds of the whole step, keyed ('step', side), and with `breakdown` of its parts
  (`case.phases`), keyed (phase, side): all of them timed in ONE alternation, so that the parts
  derived from their differences (`phase_rows`) see the same machine load."""
  sides = {('step', side): fn for side, fn in (('ours', case.ours), ('torch', case.torch))
           if fn is not None}
  if breakdown:
    sides.update({(phase, side): fn for phase, pair in case.phases.items()
                  for side, fn in zip(('ours', 'torch'), pair) if fn is not None})
  return time_alternating(sides, warmup, timed)


def phase_rows(case: Case, seconds: dict) -> list[dict]:
  """Rows of "where the time goes" for one train case from `time_case`'s medians: forward,
  backward (forward+backward minus forward) and optimizer (the step minus forward+backward), per
  side, in milliseconds (NaN for a side that was not timed)."""
  ms = lambda phase, side: 1e3 * seconds.get((phase, side), np.nan)
  parts = []
  for side in ('ours', 'torch'):
    forward, both = ms('forward', side), ms('forward+backward', side)
    parts.append({'forward': forward, 'backward': both - forward,
                  'optimizer': ms('step', side) - both})
  out = []
  for phase in ('forward', 'backward', 'optimizer'):
    ours, theirs = parts[0][phase], parts[1][phase]
    out.append(dict(shape=case.shape, length=case.length, phase=phase, ours_ms=ours,
                    torch_ms=theirs, ratio=ours / theirs,
                    ours_us_per_position=1e3 * ours / case.length,
                    torch_us_per_position=1e3 * theirs / case.length))
    print(f"{case.shape:>18} {phase:>9}: ours {ours:9.2f} ms  torch {theirs:9.2f} ms", flush=True)
  return out


def attention_times(config) -> dict:
  """Project train-step milliseconds of the transformer at `bench.attention_time_length` per
  attention implementation (medians, alternating): the measurement behind the default."""
  b = config.bench
  sides = {}
  for impl in attention.ATTENTION_IMPLS:
    step, args, *_ = transformer_train(config, b.attention_time_length, impl)
    sides[impl] = blocking(step, list(args))
  return {impl: 1e3 * s for impl, s in
          time_alternating(sides, b.warmup_steps, b.timed_steps).items()}
