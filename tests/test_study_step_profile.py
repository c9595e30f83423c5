"""Per-operation profile of a compiled step (`studies.benchmark.step_profile`): HLO parsing and
grouping on hand-written inputs, and a real trace of a scanned matmul under `jax.grad`."""
import jax
import jax.numpy as jnp
import pytest

from attn_jax.studies.benchmark import step_profile

HLO = '''
ENTRY %main {
  %ynn_fusion.1 = f32[32,256]{1,0} fusion(%a, %b), kind=kCustom, calls=%f1, metadata={op_name="jit(loss)/transpose(jvp())/while/body/dot_general"}
  %dot.11 = f32[256,1024]{1,0} dot(%c, %d), lhs_contracting_dims={0}, metadata={op_name="jit(loss)/transpose(jvp())/while/body/transpose"}
  %bitcast_dynamic-update-slice_fusion.3 = f32[64,32,256]{2,1,0} fusion(%e), kind=kLoop, calls=%f2, metadata={op_name="jit(loss)/jvp()/while/body/dynamic_update_slice"}
  %add_divide_fusion = f32[32,256]{1,0} fusion(%g), kind=kLoop, calls=%f3, metadata={op_name="jit(loss)/jvp()/while/body/div"}
  %while.26 = (s32[]) while(%t), condition=%c1, body=%b1, metadata={op_name="jit(loss)/jvp()/while"}
  ROOT %multiply_add_fusion.7 = f32[4]{0} fusion(%h), kind=kLoop, calls=%f4, metadata={op_name="jit(step)/add"}
}
'''


def test_instructions_are_classified_by_op_class_and_part():
  hlo = step_profile.instructions(HLO)
  classes = {name: ins.op_class for name, ins in hlo.items()}
  assert classes == {'ynn_fusion.1': 'matmul', 'dot.11': 'matmul',
                     'bitcast_dynamic-update-slice_fusion.3': 'data movement',
                     'add_divide_fusion': 'elementwise', 'while.26': 'loop control',
                     'multiply_add_fusion.7': 'elementwise'}
  events = [{'name': 'ynn_fusion.1', 'dur': 300.0}, {'name': 'ynn_fusion.1', 'dur': 100.0},
            {'name': 'dot.11', 'dur': 200.0}, {'name': 'add_divide_fusion', 'dur': 50.0},
            {'name': 'multiply_add_fusion.7', 'dur': 20.0},
            {'name': 'ThunkExecutor::Execute', 'dur': 9999.0}]  # not an instruction: ignored
  ops = step_profile.op_times(events, hlo, steps=2)
  assert [op.name for op in ops] == ['ynn_fusion.1', 'dot.11', 'add_divide_fusion',
                                     'multiply_add_fusion.7']
  first = ops[0]
  assert (first.ms_per_step, first.calls_per_step, first.part, first.in_loop) == (
      pytest.approx(0.2), 1.0, 'backward', True)
  assert ops[2].part == 'forward' and ops[3].part == 'other' and not ops[3].in_loop
  summary = {(r['part'], r['op_class']): r for r in step_profile.summarise(ops)}
  assert summary[('backward', 'matmul')]['ms_per_step'] == pytest.approx(0.3)
  assert summary[('backward', 'matmul')]['in_loop_ms'] == pytest.approx(0.3)
  assert sum(r['share'] for r in summary.values()) == pytest.approx(1.0)


def test_a_traced_scan_shows_its_matmul_once_per_time_step_in_both_directions():
  length = 6
  w = jnp.ones((16, 16)) / 16
  xs = jnp.ones((length, 4, 16))

  def loss(w):
    final, _ = jax.lax.scan(lambda h, x: (jnp.tanh(h @ w + x), None), jnp.zeros((4, 16)), xs)
    return final.sum()
  grad = jax.jit(jax.grad(loss))
  text = grad.lower(w).compile().as_text()
  run = lambda: jax.block_until_ready(grad(w))
  run()
  ops = step_profile.profile_step(run, text, steps=3)
  loop_matmuls = [op for op in ops if op.op_class == 'matmul' and op.in_loop]
  assert {op.part for op in loop_matmuls} == {'forward', 'backward'}
  for part in ('forward', 'backward'):
    calls = sum(op.calls_per_step for op in loop_matmuls if op.part == part)
    assert calls % length == 0 and calls >= length  # one (or more) per time step
  assert all(op.ms_per_step > 0 for op in ops)
