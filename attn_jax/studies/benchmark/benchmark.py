"""Step times of the project's layers against PyTorch's on the same machine, in the same run.

`run(config, workdir)` (experiment `benchmark`, experiments/configs/benchmark.py) times, per shape:
- `train`: one training step (forward, backward, Adam update) of
  - stacked recurrent layers (`RecurrentHead`: `RecurrentStack` of rnn, lstm, gru, mingru or
    minlstm cells, or a `MambaStack`) with a dense head on every step, float inputs
    `[batch, length, features]`, mean squared error (torch: `nn.RNN/LSTM/GRU` + `nn.Linear`);
  - the decoder-only `TransformerLM` (pre-LN, gelu, learned positions, tied output) with softmax
    or linear attention, cross-entropy (torch: `nn.TransformerEncoderLayer(norm_first=True)`
    blocks, causal mask);
- `decode`: one generated token: a recurrent step from the carried state, or a transformer step
  against a KV cache of `length` positions (torch: the same layers' weights with a KV cache).
The shapes: the `recurrent` and `transformer` groups of the config, and `study_shapes`, the
sequence-length study's families at the widths its parameter budgets give them. Families without
a PyTorch peer here (`TORCH_PEERS`: mingru, minlstm, mamba, linear_attention) are timed on the
project's side alone.
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
Writes results.csv, breakdown.csv, profile.csv and report.md (`benchmark_report`) into
DIR/<cpu-slug>/ (`benchmark_report.results_folder`): one folder per CPU model, so that runs on
different machines into one workdir keep each other's files.
"""
import dataclasses
import importlib.util
import os
import statistics
import time
from typing import Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from attn_jax import durable
from attn_jax.errors import ConfigError
from attn_jax.models import attention, mamba, recurrent
from attn_jax.models.dense import Dense
from attn_jax.models.registry import TRANSFORMER_FAMILIES
from attn_jax.models.transformer import TransformerConfig, TransformerLM, init_cache
from attn_jax.studies.benchmark import benchmark_report, step_profile
from attn_jax.studies.step_cost import compiled_memory_bytes
from attn_jax.studies.flops import count_flops
from attn_jax.host_cpu import cpu_model

HAS_TORCH = importlib.util.find_spec('torch') is not None
if HAS_TORCH:
  import torch
  from attn_jax.studies.benchmark import torch_peer

RECURRENT_CELLS = ('rnn', 'lstm', 'gru')  # the `recurrent` group's families
# The sequence-length study's families (`study_shapes`): stacked cells, Mamba, attention.
STUDY_FAMILIES = (*recurrent.STACKED_CELLS, 'mamba', *TRANSFORMER_FAMILIES)
# The families `torch_peer` has a PyTorch twin of; the others are timed on our side alone (no
# PyTorch layer exists for minGRU, minLSTM or linear attention, and Mamba's reference
# implementation needs CUDA kernels).
TORCH_PEERS = ('rnn', 'lstm', 'gru', 'transformer')
PEER_HINT = "pip install -e '.[bench]'  (PyTorch, CPU wheel)"


class RecurrentHead(nn.Module):
  """`num_layers` stacked layers of `family` (`recurrent.RecurrentStack` for a cell of
  `recurrent.STACKED_CELLS`, `mamba.MambaStack` for mamba, whose residual blocks keep the input
  width) and a dense head on every step: `[batch, length, features]` -> (`[batch, length,
  outputs]`, final carries, one per layer)."""
  family: str
  hidden: int
  outputs: int
  num_layers: int = 1

  @nn.compact
  def __call__(self, x, carries=None):
    if self.family == 'mamba':
      config = mamba.MambaConfig(hidden_size=self.hidden, num_layers=self.num_layers)
      hs, carries = mamba.MambaStack(config, name='stack')(x, carries)
    else:
      config = recurrent.RecurrentConfig(self.family, self.hidden, self.num_layers)
      hs, carries = recurrent.RecurrentStack(config, name='stack')(x, carries=carries)
    return Dense(self.outputs, name='head')(hs), carries


class Shape(NamedTuple):
  """One benchmark shape: its name (`lstm_L64`; a study shape `lstm_w76_b64_L64`: width 76,
  batch 64), family, sequence length and sizes: a `recurrent`-like group (batch_size, features,
  hidden_size, num_layers) or a `transformer`-like one (batch_size, hidden_size, num_layers,
  num_heads, mlp_dim, vocab_size)."""
  name: str
  family: str
  length: int
  sizes: ml_collections.ConfigDict


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


def select_shapes(config) -> list[Shape]:
  """Every shape of the config (the `recurrent` group, the `transformer` group, then
  `study_shapes`), narrowed by `config.shapes`; raises ConfigError on a bad setting."""
  r, t = config.recurrent, config.transformer
  shapes = [Shape(f'{cell}_L{n}', cell, n, r) for cell in RECURRENT_CELLS
            for n in parse_lengths(r.lengths, 'recurrent.lengths')]
  shapes += [Shape(f'transformer_L{n}', 'transformer', n, t)
             for n in parse_lengths(t.lengths, 'transformer.lengths')]
  shapes += study_shapes(config.study_shapes)
  if not config.shapes:
    return shapes
  wanted = [s.strip() for s in config.shapes.split(',') if s.strip()]
  names = [s.name for s in shapes]
  unknown = [w for w in wanted if w not in names]
  if unknown:
    raise ConfigError('shapes', f'unknown shape(s) {", ".join(unknown)}; accepted: a '
                      f'comma-separated list of {", ".join(names)} (or empty: all)')
  return [s for s in shapes if s.name in wanted]


def study_shapes(s: ml_collections.ConfigDict) -> list[Shape]:
  """The sequence-length study's shapes (`config.study_shapes`): per budget, each family of its
  `widths` at each of `lengths`, `num_layers` layers, named `{family}_w{width}_b{batch}_L{n}`."""
  lengths = parse_lengths(s.lengths, 'study_shapes.lengths')
  for key in ('num_layers', 'num_heads', 'mlp_ratio', 'vocab_size'):
    _positive(s[key], f'study_shapes.{key}')
  shapes, seen = [], {}
  for key, budget in s.budgets.items():
    setting = f'study_shapes.budgets.{key}'
    _positive(budget.batch_size, f'{setting}.batch_size')
    for family, width in parse_widths(budget.widths, f'{setting}.widths').items():
      name = f'{family}_w{width}_b{budget.batch_size}'
      if name in seen:
        raise ConfigError(f'{setting}.widths', f'{family} at width {width} and batch '
                          f'{budget.batch_size} is in budget {seen[name]} too; accepted: '
                          'budgets that differ in width or batch size')
      seen[name] = key
      sizes = study_sizes(s, family, width, budget.batch_size, f'{setting}.widths')
      shapes += [Shape(f'{name}_L{n}', family, n, sizes) for n in lengths]
  return shapes


def _positive(value, setting: str):
  """Refuses a size that is not a positive integer (ConfigError(setting, ...))."""
  if not isinstance(value, int) or value <= 0:
    raise ConfigError(setting, f'got {value!r}; accepted: a positive integer')


def parse_widths(text: str, setting: str) -> dict[str, int]:
  """'rnn=149,lstm=76' -> {'rnn': 149, 'lstm': 76}, in the order given ('': none); raises
  ConfigError(setting, ...)."""
  widths = {}
  for item in (x.strip() for x in str(text).split(',') if x.strip()):
    family, _, width = (part.strip() for part in item.partition('='))
    if family not in STUDY_FAMILIES or family in widths or not width.isdigit() or not int(width):
      raise ConfigError(setting, f'bad entry {item!r}; accepted: comma-separated family=width '
                        f'pairs, each family once, a width a positive integer, a family one of '
                        f'{", ".join(STUDY_FAMILIES)}')
    widths[family] = int(width)
  return widths


def study_sizes(s: ml_collections.ConfigDict, family: str, width: int, batch_size: int,
                setting: str) -> ml_collections.ConfigDict:
  """The sizes one study family runs at (`Shape.sizes`): a transformer family's `transformer`-like
  group (`s.num_heads` heads, mlp `s.mlp_ratio` x width, `s.vocab_size` tokens), else a
  `recurrent`-like group whose inputs are as wide as its state (the study embeds tokens at the
  width)."""
  if family not in TRANSFORMER_FAMILIES:
    return ml_collections.ConfigDict(dict(batch_size=batch_size, features=width,
                                          hidden_size=width, num_layers=s.num_layers))
  if width % s.num_heads:
    raise ConfigError(setting, f'{family} width {width} is not a multiple of '
                      f'study_shapes.num_heads={s.num_heads}; accepted: a multiple of it')
  return ml_collections.ConfigDict(dict(
      batch_size=batch_size, hidden_size=width, num_layers=s.num_layers, num_heads=s.num_heads,
      mlp_dim=s.mlp_ratio * width, vocab_size=s.vocab_size))


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


def has_peer(family: str) -> bool:
  """Whether `family` is timed against PyTorch here (installed, and a peer in `torch_peer`)."""
  return HAS_TORCH and family in TORCH_PEERS


def cases_of(config, shape: Shape) -> list[Case]:
  """The train and decode cases of one shape."""
  if shape.family in TRANSFORMER_FAMILIES:
    return transformer_cases(config, shape)
  return recurrent_cases(config, shape)


def recurrent_cases(config, shape: Shape) -> list[Case]:
  """`RecurrentHead` at `shape` (`recurrent`-like sizes): a train step on random inputs and
  targets `[batch, length, features]`, and a one-step decode from the zero carry."""
  r, name, length = shape.sizes, shape.name, shape.length
  rng = np.random.default_rng(config.seed)
  x = rng.normal(size=(r.batch_size, length, r.features)).astype(np.float32)
  target = rng.normal(size=(r.batch_size, length, r.features)).astype(np.float32)
  model = RecurrentHead(shape.family, r.hidden_size, r.features, r.num_layers)
  params = model.init(jax.random.key(config.seed), x[:, :1])['params']
  loss_fn = lambda p, b: jnp.mean((model.apply({'params': p}, b[0])[0] - b[1]) ** 2)
  batch = (jnp.asarray(x), jnp.asarray(target))
  step, args, loss = _jax_train(loss_fn, params, batch)
  # The zero carries, one buffer per leaf (the model's own initial state: zeros).
  carry = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(
      lambda: model.apply({'params': params}, x[:, :1])[1]))
  # The prediction is returned (fed back as the next input): a step whose output is dropped
  # would let XLA skip the head, which torch's step computes. The parameters pass through
  # donated, so XLA hands them back without copying them every step.
  decode = jax.jit(lambda p, x_t, c: (p, *model.apply({'params': p}, x_t, c)),
                   donate_argnums=(0, 2))
  decode_args = (_copy(params), jnp.asarray(x[:, :1]), carry)
  torch_train = torch_decode = peer = torch_loss = None
  if has_peer(shape.family):
    peer = torch_peer.load(torch_peer.RecurrentHead(shape.family, r.features, r.hidden_size,
                                                    r.features, r.num_layers),
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
  return [Case(name, shape.family, length, 'train', blocking(step, list(args)), torch_train,
               count_flops(step, *args), *_compiled(step, args),
               phase_steps(loss_fn, _copy(params), batch, peer, torch_loss)),
          Case(name, shape.family, length, 'decode', blocking(decode, list(decode_args)),
               torch_decode, count_flops(decode, *decode_args), _memory(decode, decode_args))]


def transformer_model(t: ml_collections.ConfigDict, length: int, impl: str = 'explicit',
                      family: str = 'transformer') -> TransformerLM:
  """`TransformerLM` of `transformer`-like sizes `t` for `length` positions: softmax attention
  (`impl`) or, for family `linear_attention`, causal linear attention."""
  cfg = TransformerConfig(hidden_size=t.hidden_size, num_layers=t.num_layers,
                          num_heads=t.num_heads, mlp_dim=t.mlp_dim, activation='gelu',
                          positional='learned', pre_ln=True, attention_impl=impl,
                          attention='linear' if family == 'linear_attention' else 'softmax',
                          max_len=length)
  return TransformerLM(cfg, t.vocab_size, tie_embeddings=True)


def transformer_train(seed: int, t: ml_collections.ConfigDict, length: int,
                      impl: str = 'explicit', family: str = 'transformer'):
  """(jitted train step, its arguments, initial loss, params, tokens `[batch, length + 1]`,
  loss function) for `transformer_model(t, length, impl, family)`."""
  model = transformer_model(t, length, impl, family)
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, t.vocab_size, (t.batch_size, length + 1)).astype(np.int32)
  params = model.init(jax.random.key(seed), tokens[:, :-1])['params']

  def loss_fn(p, tokens):
    logits = model.apply({'params': p}, tokens[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()
  step, args, loss = _jax_train(loss_fn, params, jnp.asarray(tokens))
  return step, args, loss, params, tokens, loss_fn


def transformer_decode(t: ml_collections.ConfigDict, length: int, impl: str, params, tokens,
                       family: str = 'transformer'):
  """(jitted one-token decode step of `TransformerLM` against a KV cache of `length` positions
  (linear attention: its state), its arguments), from `transformer_train`'s params and tokens
  `[batch, length + 1]`."""
  model = transformer_model(t, length, impl, family)
  cache = init_cache(model, tokens[:, :-1])

  def decode_step(p, c, tok):
    """One greedy token: the logits are used (the argmax is the next input), so XLA cannot
    drop the last block and the output layer, which torch's step computes. The parameters and
    the cache are donated: passed through without a copy per step."""
    logits, state = model.apply({'params': p, 'cache': c}, tok, decode=True, mutable=['cache'])
    return p, state['cache'], jnp.argmax(logits[:, -1:], axis=-1).astype(tok.dtype)
  return (jax.jit(decode_step, donate_argnums=(0, 1)),
          (_copy(params), cache, jnp.asarray(tokens[:, :1])))


def transformer_cases(config, shape: Shape) -> list[Case]:
  """`TransformerLM` at `shape` (`transformer`-like sizes; attention `config.attention_impl`):
  a train step on random tokens and a one-token decode step."""
  t, name, length, family = shape.sizes, shape.name, shape.length, shape.family
  step, args, loss, params, tokens, loss_fn = transformer_train(
      config.seed, t, length, config.attention_impl, family)
  decode, decode_args = transformer_decode(t, length, config.attention_impl, params, tokens,
                                           family)
  torch_train = torch_decode = peer = torch_loss = None
  if has_peer(family):
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
  return [Case(name, family, length, 'train', blocking(step, list(args)), torch_train,
               count_flops(step, *args), *_compiled(step, args),
               phase_steps(loss_fn, _copy(params), jnp.asarray(tokens), peer, torch_loss)),
          Case(name, family, length, 'decode', blocking(decode, list(decode_args)),
               torch_decode, count_flops(decode, *decode_args), _memory(decode, decode_args))]


def _memory(step, args) -> float:
  return compiled_memory_bytes(step.lower(*args).compile())


def _compiled(step, args) -> tuple[float, str]:
  """(XLA's memory estimate, the optimised HLO text) of the compiled step."""
  compiled = step.lower(*args).compile()
  return compiled_memory_bytes(compiled), compiled.as_text()


SWITCH_IN_S = 0.02  # untimed stepping before each timed step (`time_alternating`) ...
SWITCH_IN_BELOW_S = 0.25  # ... of steps shorter than this


def time_alternating(sides: dict, warmup: int, timed: int) -> dict:
  """Median seconds per side; the sides take turns step by step (first `warmup` not counted).

  A framework's worker threads spin-wait after their last parallel region (PyTorch's OpenMP
  threads for about 5 ms of CPU on a 2-core Xeon), and a step started meanwhile shares the cores
  with them. So at each turn a side whose steps take under `SWITCH_IN_BELOW_S` first steps
  untimed for `SWITCH_IN_S` (at least one step), and its timed step follows its own kind, as in
  a training loop. Without this, two identical project steps taking turns with torch's measured
  0.69-0.92 of each other at the study's transformer shapes (the one after torch's the slower)
  and both sides' steps were slower (experiments/results/benchmark_cpu/README.md). Longer steps
  are timed at once: the other side's spinning is a small part of them.
  """
  times, last = {k: [] for k in sides}, {}
  for i in range(warmup + timed):
    for key, fn in sides.items():
      if key in last and last[key] < SWITCH_IN_BELOW_S:
        switch_in_end = time.perf_counter() + SWITCH_IN_S
        fn()
        while time.perf_counter() < switch_in_end:
          fn()
      start = time.perf_counter()
      fn()
      last[key] = time.perf_counter() - start
      if i >= warmup:
        times[key].append(last[key])
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
    step, args, *_ = transformer_train(config.seed, config.transformer, config.bench.memory_length,
                                       impl)
    out[impl] = _memory(step, args)
  return out


def run(config, workdir: str):
  """Runs the benchmark; writes results.csv, breakdown.csv, profile.csv and report.md into
  DIR/<cpu-slug>/ (`benchmark_report.results_folder`)."""
  shapes = select_shapes(config)
  folder = benchmark_report.results_folder(workdir, cpu_model())
  os.makedirs(folder, exist_ok=True)
  b = config.bench
  if not HAS_TORCH:
    print(f'PyTorch is not installed: timing the project alone. To add the peer: {PEER_HINT}')
  peak = matmul_peak(b.matmul_size, b.timed_steps)
  rows, parts, profiles = [], [], {}
  profiled = [n.strip() for n in b.profile_shapes.split(',') if n.strip()]
  for shape in shapes:
    for case in cases_of(config, shape):
      seconds = time_case(case, b.warmup_steps, b.timed_steps, b.breakdown)
      rows.append(result_row(case, shape.sizes, seconds, peak))
      print(f"{case.shape:>24} {case.workload:>6}: ours {rows[-1]['ours_ms']:9.2f} ms  torch "
            f"{rows[-1]['torch_ms']:9.2f} ms  ratio {rows[-1]['ratio']:.2f}", flush=True)
      if b.breakdown and case.phases:
        parts += phase_rows(case, seconds)
      if case.workload == 'train' and case.shape in profiled:
        profiles[case.shape] = step_profile.profile_step(case.ours, case.hlo_text,
                                                          b.timed_steps)
  memory = attention_memory(config) if b.memory_length else {}
  impl_times = attention_times(config) if b.attention_time_length else {}
  benchmark_report.write_files(folder, rows, parts, profiles)
  durable.write_text(os.path.join(folder, 'report.md'), benchmark_report.report(
      config, peer_text(shapes), rows, peak, memory, parts, impl_times, profiles))
  print(f'wrote {folder}/results.csv, breakdown.csv, profile.csv and report.md')


def peer_text(shapes: list[Shape]) -> str:
  """The report's words on the PyTorch side: its version and threads, and the families of
  `shapes` timed without it; or that PyTorch is not installed."""
  if not HAS_TORCH:
    return f'PyTorch not installed (only the project timed; to add the peer: `{PEER_HINT}`)'
  alone = list(dict.fromkeys(s.family for s in shapes if s.family not in TORCH_PEERS))
  return (f'PyTorch {torch.__version__}, {torch.get_num_threads()} threads' + (
      f'; no PyTorch peer runs for {", ".join(alone)} (the project\'s side alone, `-` in the torch '
      'columns: PyTorch has no such layer, and Mamba\'s reference implementation needs CUDA '
      'kernels)' if alone else ''))


def result_row(case: Case, sizes: ml_collections.ConfigDict, seconds: dict, peak: dict) -> dict:
  """One results.csv row (`benchmark_report.COLUMNS`) of a case from `time_case`'s medians and
  the matmul `peak` (GFLOP/s per side); NaN on the torch side where it was not timed. `load_avg`:
  the machine's 1-minute load average as the case ends (this run included): other processes
  sharing the cores show as a load above the core count."""
  row = dict(shape=case.shape, kind=case.workload, family=case.family, length=case.length,
             ours_ms=1e3 * seconds[('step', 'ours')],
             torch_ms=1e3 * seconds.get(('step', 'torch'), np.nan),
             flops=case.flops, memory_bytes=case.memory_bytes, batch_size=sizes.batch_size,
             hidden_size=sizes.hidden_size, num_layers=sizes.num_layers,
             load_avg=os.getloadavg()[0])
  row['ratio'] = row['ours_ms'] / row['torch_ms']
  for side in ('ours', 'torch'):
    gflops = case.flops / (row[f'{side}_ms'] / 1e3) / 1e9
    row[f'{side}_gflops'] = gflops
    row[f'{side}_share_of_peak'] = gflops / peak.get(side, np.nan)
  return row


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
    step, args, *_ = transformer_train(config.seed, config.transformer, b.attention_time_length,
                                       impl)
    sides[impl] = blocking(step, list(args))
  return {impl: 1e3 * s for impl, s in
          time_alternating(sides, b.warmup_steps, b.timed_steps).items()}
