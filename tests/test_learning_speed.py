"""A model's learning is checked, not only its values (docs/design.md, initialisation and input
scale): on a calibrated task it learns about as fast as an independent implementation.

Reference (an independent PyTorch model of the same shape: pre-LN, 2 layers, width 64, 4 heads,
sinusoidal positions, batch 64, Adam 1e-3 after warm-up): multi-query recall with 4 pairs (L=16)
solved at step 300-400. With the token embedding unscaled (position outweighing it 6x at d=64)
ours reached only 0.49 by step 1000.

Run with `python -m pytest -m slow tests/test_learning_speed.py` (about 2 minutes on 2 cores).
"""
import pytest

from launcher import launch, metric_lines

MAX_STEPS = 600


@pytest.mark.slow
def test_width_64_transformer_learns_mqar_at_l16_within_600_steps(tmp_path):
  result = launch('mqar.py:transformer', tmp_path, 'data.seq_len=16', 'model.hidden_size=64',
                  'model.mlp_dim=256', f'train.num_steps={MAX_STEPS}', 'train.eval_every=100',
                  timeout=900)
  assert result.returncode == 0, result.stderr[-2000:]
  accuracy = {line['step']: line['accuracy'] for line in metric_lines(tmp_path, 'eval')}
  assert max(accuracy) == MAX_STEPS
  assert accuracy[MAX_STEPS] >= 0.99, accuracy
