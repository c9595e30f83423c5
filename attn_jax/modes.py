"""What `launch.py` runs for each `config.mode`: `train` (the config's experiment), and from a
trained workdir's checkpoint `config.restore_step` (latest, best or a step) `evaluate`, `sample`
and `attention`."""
import os

import jax

from attn_jax import attention_maps, durable, runners, sampling, translation
from attn_jax.errors import ConfigError
from attn_jax.models.registry import build_model
from attn_jax.training import evaluators, parallel
from attn_jax.training.trained_workdir import load_trained


def evaluate(config, workdir: str) -> dict[str, float]:
  """`mode=evaluate`: the run's evaluators on split `config.data.eval_split` ('' = the dataset's
  default evaluation split) with the parameters of `config.restore_step`, e.g. a held-out `test`
  split after training chose by `validation`. Prints the metrics, writes them to
  `DIR/eval_{split}.json` (with the step) and returns them; training files are left untouched."""
  trained = load_trained(config, workdir)
  dataset = trained.dataset
  split = dataset.default_eval_split
  names = evaluators.select(trained.config.train.evaluators, dataset)
  p_eval = parallel.pmap_eval_step(trained.model.apply, dataset.info.kind)
  metrics = evaluators.evaluate(names, evaluators.Evaluation(
      trained.config, trained.model, dataset, parallel.replicate(trained.params), p_eval,
      final=False, is_main=jax.process_index() == 0))
  if jax.process_index() == 0:
    durable.write_json(os.path.join(workdir, f'eval_{split}.json'),
                       {'step': trained.step, 'split': split, **metrics})
    print(f'{workdir} (step {trained.step}) on {split!r}: '
          + ', '.join(f'{k} {v:.4g}' for k, v in metrics.items()))
  return metrics


def sample(config, workdir: str) -> list[str]:
  """`mode=sample`: prints continuations of `config.sample.prompt` by the workdir's LM (or, for a
  seq2seq task, its beam-search translation of the prompt) and returns them."""
  trained = load_trained(config, workdir)
  kind, settings = trained.dataset.info.kind, config.sample
  if kind == 'lm' and trained.dataset.tokenizer is not None:
    texts = sampling.sample_texts(trained.model, trained.params, trained.dataset.tokenizer,
                                  settings, jax.random.key(config.seed))
  elif kind == 'seq2seq':
    texts = translation.translate_texts(trained.model, trained.params, trained.dataset,
                                        [settings.prompt], max(settings.beam_size, 1))
  else:
    raise ConfigError('mode', f"'sample' needs a language model on text or a seq2seq task; "
                      f'{trained.config.data.name!r} is a {kind} task; accepted: mode=train')
  print(f'{workdir} (step {trained.step}):')
  for i, text in enumerate(texts):
    print(f'--- sample {i + 1}:' if kind == 'lm' else f'--- {settings.prompt!r} ->')
    print(text)
  return texts


def attention(config, workdir: str) -> list[str]:
  """`mode=attention`: heatmaps of a trained workdir under `DIR/attention/`; returns the paths.

  The model is rebuilt with `attention_impl='explicit'` (same parameters) so that the weights
  exist even for a run trained with another implementation ('fused', 'blocked', or 'auto',
  which picks one of them by length).
  """
  trained = load_trained(config, workdir)
  with trained.config.unlocked():
    trained.config.model.attention_impl = 'explicit'
  model = build_model(trained.config.model, trained.dataset.info)
  out_dir = os.path.join(workdir, 'attention')
  os.makedirs(out_dir, exist_ok=True)
  dataset, kind = trained.dataset, trained.dataset.info.kind
  if kind == 'lm' and dataset.tokenizer is not None:
    paths = attention_maps.lm_maps(model, trained.params, dataset.tokenizer,
                                   config.sample.prompt, out_dir)
  elif kind == 'seq2seq':
    source = attention_maps.source_sentence(dataset, config.sample.prompt)
    paths = attention_maps.translation_maps(model, trained.params, dataset, source, out_dir)
  elif kind == 'classification' and len(dataset.info.input_shape) == 3:
    paths = attention_maps.image_maps(model, trained.params, dataset, trained.config.model,
                                      out_dir)
  else:
    raise ConfigError('mode', f"'attention' needs a language model on text, a seq2seq task or "
                      f'an image classifier; '
                      f'{trained.config.data.name!r} is a {kind} task; accepted: mode=train')
  for path in paths:
    print(f'wrote {path}')
  return paths


MODES = {'train': runners.run, 'evaluate': evaluate, 'sample': sample,
         'attention': attention}


def run(config, workdir: str):
  """Runs `config.mode` (default `train`) in `workdir`."""
  mode = config.get('mode', 'train')
  if mode not in MODES:
    raise ConfigError('mode', f'unknown mode {mode!r}; accepted: {", ".join(MODES)}')
  if mode == 'train' and str(config.get('restore_step', 'latest')) != 'latest':
    raise ConfigError('restore_step', "applies to mode=evaluate, sample and attention; training "
                      "resumes from the workdir's latest checkpoint (a new run starts from "
                      'another\'s with train.init_from); accepted here: latest')
  return MODES[mode](config, workdir)
