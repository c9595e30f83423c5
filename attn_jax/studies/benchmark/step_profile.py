"""Where a compiled step spends its time, op by op: `jax.profiler` around a few steps, each traced
XLA operation matched to its HLO instruction (and through its metadata to the JAX code that made
it), then grouped.

`profile_step(run, compiled_text, steps)` returns one `OpTime` per HLO instruction the trace saw:
milliseconds and calls per step, the part of training it belongs to (`forward`, `backward` or
`other`: loss, optimizer, glue), whether it runs inside a scanned loop, and its class of operation
(`op_class`):
  matmul         matrix products (XLA `dot`, and the fusions XLA hands to a matmul library:
                 kCustom fusions such as `ynn_fusion`, custom calls)
  data movement  copies, transposes, (dynamic) slices and updates, concatenation, bitcasts
  loop control   the `while` (scan) and `conditional` operations themselves: their own time
                 (trip-count checks, scheduling), not their bodies', which are traced apart
  elementwise    every other fused loop (activations, gates, additions, reductions)
`summarise` totals them by (part, op_class). Times are summed over operations; XLA may run
independent operations at the same time, so the sum can exceed the step's wall time.
"""
import collections
import dataclasses
import glob
import gzip
import json
import os
import re
import tempfile
from typing import Callable

import jax

# One HLO instruction: `%name = shape opcode(operands), ..., metadata={op_name="..."}`.
_INSTRUCTION = re.compile(r'^\s*(?:ROOT )?%([\w.\-]+) = .*?\s([a-z][\w\-]*)\((.*)$', re.M)
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_MOVEMENT = ('copy', 'transpose', 'dynamic-slice', 'dynamic-update-slice', 'slice',
             'concatenate', 'bitcast', 'reshape', 'pad', 'broadcast', 'gather', 'scatter')
MATMUL_LIBRARY_FUSIONS = ('ynn', 'xnn', 'onednn')


@dataclasses.dataclass
class OpTime:
  """One HLO instruction's share of a step."""
  name: str
  opcode: str
  op_class: str   # matmul | data movement | loop control | elementwise
  part: str       # forward | backward | other
  in_loop: bool   # inside a scan/while body
  op_name: str    # the JAX operation it came from (HLO metadata)
  ms_per_step: float
  calls_per_step: float


@dataclasses.dataclass
class _Instruction:
  opcode: str
  op_class: str
  op_name: str


def instructions(compiled_text: str) -> dict[str, _Instruction]:
  """HLO instruction name -> opcode, op_class and JAX op_name, from `compiled.as_text()`."""
  out = {}
  for name, opcode, rest in _INSTRUCTION.findall(compiled_text):
    op_name = _OP_NAME.search(rest)
    out[name] = _Instruction(opcode, _op_class(name, opcode, rest),
                             op_name.group(1) if op_name else '')
  return out


def _op_class(name: str, opcode: str, rest: str) -> str:
  if opcode in ('while', 'conditional', 'call'):
    return 'loop control'
  if opcode in ('dot', 'convolution', 'custom-call') or (
      opcode == 'fusion' and 'kind=kCustom' in rest
      and any(lib in name for lib in MATMUL_LIBRARY_FUSIONS)):
    return 'matmul'
  if opcode in _MOVEMENT or (opcode == 'fusion' and all(
      part in _MOVEMENT or part == 'fusion' for part in _name_parts(name))):
    return 'data movement'
  return 'elementwise'


def _name_parts(name: str) -> list[str]:
  """'bitcast_dynamic-update-slice_fusion.11' -> ['bitcast', 'dynamic-update-slice', 'fusion']:
  XLA names a loop fusion after the operations it fused."""
  return [part for part in name.split('.')[0].split('_') if part]


def _part(op_name: str) -> str:
  if 'transpose(' in op_name:
    return 'backward'
  if 'jvp(' in op_name:
    return 'forward'
  return 'other'


def trace_events(run: Callable[[], None], steps: int) -> list[dict]:
  """Complete ('X') events of a `jax.profiler` trace around `steps` calls of `run`."""
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    try:
      for _ in range(steps):
        run()
    finally:
      jax.profiler.stop_trace()
    paths = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True)
    if not paths:
      raise RuntimeError(f'jax.profiler wrote no perfetto trace under {trace_dir}')
    with gzip.open(paths[0]) as f:
      return [e for e in json.load(f)['traceEvents'] if e.get('ph') == 'X']


def op_times(events: list[dict], hlo: dict[str, _Instruction], steps: int) -> list[OpTime]:
  """Trace events of HLO instructions -> `OpTime`s (per step), slowest first."""
  total, calls = collections.Counter(), collections.Counter()
  for event in events:
    if event['name'] in hlo:
      total[event['name']] += event['dur']  # microseconds
      calls[event['name']] += 1
  ops = []
  for name, micros in total.items():
    ins = hlo[name]
    ops.append(OpTime(name, ins.opcode, ins.op_class, _part(ins.op_name),
                      '/while/body/' in ins.op_name, ins.op_name, micros / 1e3 / steps,
                      calls[name] / steps))
  return sorted(ops, key=lambda op: -op.ms_per_step)


def profile_step(run: Callable[[], None], compiled_text: str, steps: int) -> list[OpTime]:
  """Per-operation times of `run` (one blocking step of the program `compiled_text` describes),
  averaged over `steps` traced calls (warm it up first)."""
  return op_times(trace_events(run, steps), instructions(compiled_text), steps)


def summarise(ops: list[OpTime]) -> list[dict]:
  """Milliseconds per step by (part, op_class), with the share inside loops and of the total."""
  groups = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
  for op in ops:
    group = groups[(op.part, op.op_class)]
    group[0] += op.ms_per_step
    group[1] += op.ms_per_step if op.in_loop else 0.0
    group[2] += op.calls_per_step
  total = sum(g[0] for g in groups.values()) or 1.0
  rows = [{'part': part, 'op_class': op_class, 'ms_per_step': ms, 'in_loop_ms': loop,
           'calls_per_step': n, 'share': ms / total}
          for (part, op_class), (ms, loop, n) in groups.items()]
  return sorted(rows, key=lambda r: -r['ms_per_step'])
