"""Evaluator plug-ins (which ones a run gets, errors for the wrong ones, their metrics merged in
order) and the loop's periodic-action cadence."""
import types

import pytest

from attn_jax.errors import ConfigError
from attn_jax.task import TaskInfo
from attn_jax.training import evaluators
from attn_jax.training.loop import due_after


def _dataset(kind: str, tokenizer=None):
  return types.SimpleNamespace(info=TaskInfo(kind=kind), tokenizer=tokenizer)


@pytest.mark.parametrize('kind, tokenizer, expected', [
    ('classification', None, ('metrics',)),
    ('regression', None, ('metrics',)),
    ('lm', object(), ('metrics', 'samples')),
    ('lm', None, ('metrics',)),  # tokens without a text tokenizer: nothing to print
    ('seq2seq', object(), ('metrics', 'decode')),
])
def test_defaults_by_task_kind(kind, tokenizer, expected):
  assert evaluators.select('', _dataset(kind, tokenizer)) == expected


def test_asked_for_evaluators_in_the_order_given():
  assert evaluators.select(' decode,metrics ', _dataset('seq2seq', object())) == ('decode',
                                                                                   'metrics')
  assert evaluators.select('metrics', _dataset('lm', object())) == ('metrics',)


@pytest.mark.parametrize('names, kind, message', [
    ('metrics,bleu', 'seq2seq', "unknown evaluator 'bleu'; accepted: metrics, decode, samples"),
    ('decode', 'classification', "'decode' does not serve this classification task; "
                                 'accepted here: metrics'),
    ('samples', 'lm', "'samples' does not serve this lm task; accepted here: metrics"),
])
def test_wrong_evaluators_are_config_errors(names, kind, message):
  with pytest.raises(ConfigError, match='train.evaluators') as error:
    evaluators.select(names, _dataset(kind))
  assert message in str(error.value)


def test_every_default_is_a_known_evaluator_of_its_kind():
  for kind, names in evaluators.DEFAULTS.items():
    assert all(kind in evaluators.KINDS[name] for name in names)
  assert set(evaluators.KINDS) == set(evaluators.EVALUATORS)


def test_evaluate_merges_the_metrics_of_each_evaluator_in_order(monkeypatch):
  calls = []

  def fake(name, metrics):
    def run(ev):
      calls.append((name, ev.final))
      return metrics
    return run

  monkeypatch.setitem(evaluators.EVALUATORS, 'metrics', fake('metrics', {'loss': 1.0, 'x': 1.0}))
  monkeypatch.setitem(evaluators.EVALUATORS, 'decode', fake('decode', {'x': 2.0, 'bleu': 3.0}))
  ev = evaluators.Evaluation(config=None, model=None, dataset=None, params=None, p_eval=None,
                             final=True, is_main=True)
  assert evaluators.evaluate(('metrics', 'decode'), ev) == {'loss': 1.0, 'x': 2.0, 'bleu': 3.0}
  assert calls == [('metrics', True), ('decode', True)]


def test_due_after_matches_the_cadence_rule():
  train = types.SimpleNamespace(num_steps=10, log_every=3, eval_every=4, checkpoint_every=5)
  due = {done: due_after(train, done, stopping=False) for done in range(1, 11)}
  assert [d for d in due if due[d].log] == [3, 5, 6, 9, 10]  # every 3, each checkpoint, the last
  assert [d for d in due if due[d].eval] == [4, 8, 10]
  assert [d for d in due if due[d].checkpoint] == [5, 10]
  stop = due_after(train, 7, stopping=True)  # a signal: log and save there, no evaluation
  assert (stop.log, stop.eval, stop.checkpoint) == (True, False, True)
