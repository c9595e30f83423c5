"""`metrics.jsonl` stays strict JSON: non-finite values are written as null and counted."""
import importlib.util
import json
import math
import os

from attn_jax.training import loop
from attn_jax.training.metrics import MetricsWriter, read_metrics
from launcher import CONFIGS


def _strict(line: str) -> dict:
  def refuse(constant):
    raise ValueError(f'not JSON: {constant}')
  return json.loads(line, parse_constant=refuse)


def test_non_finite_values_are_null_and_counted(tmp_path):
  writer = MetricsWriter(str(tmp_path))
  writer.write(3, 'train', {'loss': math.nan, 'accuracy': 0.5, 'perplexity': math.inf})
  writer.write(4, 'train', {'loss': 1.0})
  writer.close()
  with open(tmp_path / 'metrics.jsonl') as f:
    lines = [_strict(line) for line in f]
  assert lines == [{'step': 3, 'split': 'train', 'loss': None, 'accuracy': 0.5,
                    'perplexity': None, 'nonfinite_values': 2},
                   {'step': 4, 'split': 'train', 'loss': 1.0}]
  assert math.isnan(read_metrics(str(tmp_path))[0]['loss'])


def test_a_diverging_run_writes_strict_json(tmp_path):
  spec = importlib.util.spec_from_file_location('iris', os.path.join(CONFIGS, 'iris_mlp.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config('mlp')
  config.train.update(learning_rate=1e30, warmup_steps=0, num_steps=4, log_every=1,
                      eval_every=4, checkpoint_every=4)  # the first update overflows float32
  loop.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / 'metrics.jsonl') as f:
    lines = [_strict(line) for line in f]
  assert any(line['loss'] is None and line['nonfinite_values'] >= 1 for line in lines)
