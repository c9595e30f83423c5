"""Translation evaluation: BLEU and exact match; and, marked slow, a seq2seq workdir end to end
(metrics lines with exact_match and bleu, `mode=sample` translating the prompt, `mode=attention`).
"""
import json
import os

import numpy as np
import pytest

from attn_jax import decoding, modes, translation
from attn_jax.data.tokenizers import VocabTokenizer
from attn_jax.task import EOS_ID, PAD_ID


def test_bleu_of_a_reference_against_itself_is_100():
  references = ['the black cat sees a red car', 'some dogs eat the small table']
  assert translation.corpus_bleu(references, references) == pytest.approx(100.0)
  assert translation.corpus_bleu(['a cat', 'dogs eat'], references) < 20.0


def test_exact_match_and_bleu_of_decoded_outputs():
  tokenizer = VocabTokenizer(['the', 'cat', 'sees', 'a', 'dog'], separator=' ')
  decoded = translation.Decoded(source_lengths=[3, 3, 5],
                                outputs=[[4, 5, 6, 7, 8], [4, 5], [4, 8, 6, 7, 5]],
                                references=[[4, 5, 6, 7, 8], [4, 5, 6], [4, 8, 6, 7, 5]])
  scores = translation.scores(decoded, tokenizer)
  assert scores['exact_match'] == pytest.approx(2 / 3)
  assert 0 < scores['bleu'] < 100
  assert translation.exact_match_by_length(decoded) == {3: (0.5, 2), 5: (1.0, 1)}
  assert translation.exact_match_by_length(decoded, of='target') == {3: (0.0, 1), 5: (1.0, 2)}


def test_length_errors_tell_an_early_stop_from_other_short_and_long_outputs():
  decoded = translation.Decoded(source_lengths=[1] * 5,
                                outputs=[[4, 5], [4, 6], [4, 5, 6, 7], [4, 5, 6], [4, 5, 7]],
                                references=[[4, 5, 6], [4, 5, 6], [4, 5, 6], [4, 5, 6],
                                            [4, 5, 6]])
  assert translation.length_errors(decoded) == {'shorter': 0.4, 'longer': 0.2,
                                                'stopped_early': 0.2}
  assert translation.length_errors(translation.Decoded([], [], [])) == {
      'shorter': 0.0, 'longer': 0.0, 'stopped_early': 0.0}


@pytest.mark.slow  # trains, evaluates, samples and draws: about a minute on 2 cores
def test_translation_workdir_end_to_end(tmp_path, capsys):
  from attn_jax.config_base import base_config  # pylint: disable=import-outside-toplevel
  from attn_jax.training import train_and_evaluate  # pylint: disable=import-outside-toplevel
  config = base_config(
      model=dict(name='transformer', num_layers=1, hidden_size=16, num_heads=2, mlp_dim=32,
                 attention_impl='fused'),
      data=dict(name='toy_translation', num_train_examples=64, num_test_examples=16),
      train=dict(num_steps=1, batch_size=8, log_every=1, eval_every=1, checkpoint_every=1,
                 warmup_steps=1),
      sample=dict(prompt='le chat noir voit une voiture rouge', beam_size=3))
  workdir = str(tmp_path / 'run')
  train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    evals = [line for line in map(json.loads, f) if line['split'] == 'eval']
  assert evals and all(0 <= line['exact_match'] <= 1 and 0 <= line['bleu'] <= 100
                       for line in evals)
  capsys.readouterr()
  (translated,) = modes.sample(config, workdir)
  assert config.sample.prompt in capsys.readouterr().out and isinstance(translated, str)
  # mode=attention: the fused-trained model is redrawn with explicit attention.
  paths = modes.attention(config, workdir)
  assert sorted(os.path.basename(p) for p in paths) == [
      'decoder_cross_attention.png', 'decoder_self_attention.png', 'encoder_self_attention.png']
  assert all(os.path.dirname(p) == os.path.join(workdir, 'attention') for p in paths)
  assert all(os.path.getsize(p) > 1000 for p in paths)
  assert np.isfinite(evals[-1]['loss'])


class _EchoDataset:
  """Five examples in batches of two (the last one padded), targets = inputs."""
  info = type('Info', (), {'target_max_len': 4})

  def num_eval_examples(self, split=None):
    return 5

  def eval_batches(self, batch_size, split=None):
    rows = np.array([[i + 4, EOS_ID, PAD_ID, PAD_ID] for i in range(6)])
    for start in range(0, 6, batch_size):
      inputs = rows[start:start + batch_size]
      weights = (np.arange(start, start + batch_size) < 5)[:, None] * np.ones((1, 4))
      yield {'inputs': inputs, 'targets': inputs, 'weights': weights}


@pytest.mark.parametrize('show_progress', [False, True])
def test_decode_split_skips_padding_stops_at_max_examples_and_reports_progress(
    monkeypatch, capsys, show_progress):
  monkeypatch.setattr(decoding, 'translate', lambda model, params, inputs, *args: inputs)
  decoded = translation.decode_split(None, None, _EchoDataset(), batch_size=2,
                                     show_progress=show_progress)
  assert decoded.references == decoded.outputs == [[i + 4] for i in range(5)]
  assert decoded.source_lengths == [2] * 5
  err = capsys.readouterr().err
  assert ('decoding: 5/5 example (100%)' in err) == show_progress
  limited = translation.decode_split(None, None, _EchoDataset(), batch_size=2, max_examples=3,
                                     show_progress=show_progress)
  assert len(limited.outputs) == 4  # whole batches: the first two of two examples each
  assert ('decoding: 4/3 example' in capsys.readouterr().err) == show_progress
