"""Evaluators: what an evaluation measures, one plug-in per measurement, chosen by task kind.

An evaluator is a function `(Evaluation) -> dict[str, float]`; its metrics go on the `eval` line of
`metrics.jsonl`. `train.evaluators` names the ones a run uses (comma-separated); empty means the
task kind's defaults, `DEFAULTS`. The training loop builds one `Evaluation` per evaluation and
runs the chosen evaluators in order; it knows nothing of what they compute.

* `metrics` (every kind): the eval step's metric sums over the whole evaluation split, each
  example counted once (`loss`, `accuracy`, `perplexity`, as `objectives.summarise` gives).
* `decode` (seq2seq): greedy decoding of the evaluation split (at most `translation.EVAL_LIMIT`
  examples): `exact_match` and corpus `bleu`.
* `samples` (lm on text): prints `config.sample` continuations at the run's last evaluation;
  no metrics.

To add one: write the function here, add it to `EVALUATORS` with the task kinds it serves in
`KINDS`, and to `DEFAULTS` if every run of a kind should have it; test it in
`tests/test_training_evaluators.py`.
"""
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from attn_jax import sampling, translation
from attn_jax.errors import ConfigError
from attn_jax.task import TASK_KINDS
from attn_jax.training import parallel
from attn_jax.training.config import eval_batch_size
from attn_jax.training.objectives import summarise


@dataclasses.dataclass
class Evaluation:
  """What an evaluator may read at one evaluation.

  Attributes:
    config: the experiment config.
    model: the linen module.
    dataset: the run's `Dataset` (its evaluation split, tokenizers, `TaskInfo`).
    params: parameters replicated over local devices, `[local_devices, ...]`.
    p_eval: the pmapped eval step `(params, sharded batch) -> metric sums`.
    final: whether this is the run's last evaluation.
    is_main: whether this process writes and prints (process 0).
    texts: what evaluators add for TensorBoard's text view, by tag (`samples/1`: a continuation).
  """
  config: Any
  model: Any
  dataset: Any
  params: Any
  p_eval: Callable[..., Any]
  final: bool
  is_main: bool
  texts: dict[str, str] = dataclasses.field(default_factory=dict)

  @functools.cached_property
  def host_params(self):
    """The parameters of the first local device, on the host (for decoding)."""
    return parallel.unreplicate(self.params)


def metric_sums(ev: Evaluation) -> dict[str, float]:
  """The eval step's metrics over every example of the evaluation split, each counted once."""
  total = None
  for batch in ev.dataset.eval_batches(eval_batch_size(ev.config.train),
                                       process_index=jax.process_index(),
                                       process_count=jax.process_count()):
    sums = ev.p_eval(ev.params, parallel.shard(batch))
    total = sums if total is None else jax.tree.map(np.add, total, sums)
  return summarise(ev.dataset.info.kind, parallel.unreplicate(total))


def decoded_scores(ev: Evaluation) -> dict[str, float]:
  """`exact_match` and `bleu` of greedy decoding (bounded by `translation.EVAL_LIMIT`)."""
  return translation.evaluate(ev.model, ev.host_params, ev.dataset,
                              batch_size=translation.DECODE_BATCH,
                              max_examples=translation.EVAL_LIMIT)


def printed_samples(ev: Evaluation) -> dict[str, float]:
  """At the last evaluation, prints `config.sample.num_samples` continuations of the prompt and
  adds them to `ev.texts` as `samples/<i>`."""
  if ev.final and ev.is_main:
    sample = ev.config.sample
    texts = sampling.sample_texts(ev.model, ev.host_params, ev.dataset.tokenizer, sample,
                                  jax.random.key(ev.config.seed))
    for i, text in enumerate(texts):
      print(f'--- sample {i + 1} (prompt {sample.prompt!r}):\n{text}')
      ev.texts[f'samples/{i + 1}'] = f'prompt {sample.prompt!r}:\n\n{text}'
  return {}


EVALUATORS: dict[str, Callable[[Evaluation], dict[str, float]]] = {
    'metrics': metric_sums,
    'decode': decoded_scores,
    'samples': printed_samples,
}
KINDS = {'metrics': TASK_KINDS, 'decode': ('seq2seq',), 'samples': ('lm',)}
DEFAULTS = {'classification': ('metrics',), 'regression': ('metrics',),
            'lm': ('metrics', 'samples'), 'seq2seq': ('metrics', 'decode')}


def serves(name: str, dataset) -> bool:
  """Whether evaluator `name` applies to `dataset` (its task kind; samples need a tokenizer)."""
  return (dataset.info.kind in KINDS[name]
          and (name != 'samples' or dataset.tokenizer is not None))


def select(names: str, dataset) -> tuple[str, ...]:
  """The evaluators `train.evaluators` asks for (empty: those of the task kind's `DEFAULTS`
  that serve this dataset).

  Raises:
    ConfigError: an unknown name, or one that does not serve this dataset.
  """
  chosen = tuple(n.strip() for n in names.split(',') if n.strip())
  if not chosen:
    return tuple(n for n in DEFAULTS[dataset.info.kind] if serves(n, dataset))
  for name in chosen:
    if name not in EVALUATORS:
      raise ConfigError('train.evaluators', f'unknown evaluator {name!r}; accepted: '
                        f'{", ".join(EVALUATORS)} (comma-separated), or empty for the defaults')
    if not serves(name, dataset):
      accepted = ', '.join(n for n in EVALUATORS if serves(n, dataset))
      raise ConfigError('train.evaluators', f'{name!r} does not serve this '
                        f'{dataset.info.kind} task; accepted here: {accepted}')
  return chosen


def evaluate(names: tuple[str, ...], ev: Evaluation) -> dict[str, float]:
  """The metrics of the evaluators `names`, in order, on one dict."""
  metrics = {}
  for name in names:
    metrics.update(EVALUATORS[name](ev))
  return metrics
