"""SCAN's generalisation splits (Lake & Baroni 2018) for several models and seeds, beside the
published numbers.

`length`: train on commands whose action sequences have at most 22 actions, test on 24 to 48.
`addprim_jump`: `jump` is seen in training only alone; test on every composed command using it.
Both ask for systematic generalisation that fitting the training distribution does not give.

`run(config, workdir)` (experiment `scan_generalisation`): for each split of
`config.scan_generalisation.splits`, model of `.models` (its settings `.<model>`, over the defaults)
and seed of `.seeds`, it trains `train.num_steps` steps into `DIR/<split>/<model>_seed<seed>/`
(rerunning resumes; a finished run is not trained again, a decoded one not decoded again), decodes
the split's whole test set greedily and writes
  DIR/runs.csv                   split, model, seed, params, train_s, exact_match, bleu, and
                                 the fractions of outputs shorter / longer than the reference
                                 and stopped early (a strict prefix of it)
  DIR/summary.csv                per split and model: mean, min and max exact match over seeds
  DIR/exact_match_by_length.csv  split, model, seed, target_length, examples, exact_match
  DIR/scan_generalisation.png    exact match per split and model (seeds as dots, the published
                                 best as a line) and, on `length`, by output length
  DIR/results.md                 the tables with the published numbers
"""
import json
import os
import statistics

import jax
import numpy as np
from matplotlib.figure import Figure

from attn_jax import durable, translation
from attn_jax.errors import ConfigError
from attn_jax.models.registry import model_config_defaults, num_params
from attn_jax.studies.model_list import parse_model_list
from attn_jax.studies.study_runs import train_once, write_csv
from attn_jax.tables import markdown_table
from attn_jax.training.trained_workdir import load_trained

# Lake & Baroni 2018 (ICML), exact match on the test split: the best model found for the split,
# and their overall-best model (the one best on average over splits) on it.
PUBLISHED = {
    'simple': {'best': 0.998, 'overall_best': 0.998},
    'length': {'best': 0.208, 'overall_best': 0.138},
    'addprim_jump': {'best': 0.012, 'overall_best': 0.0008},
}
SPLITS = tuple(PUBLISHED)
# What a run's row measures beyond its settings; a run whose stored decoding lists other measures
# is decoded again.
MEASURES = ('exact_match', 'bleu', 'shorter', 'longer', 'stopped_early')


def grid(config) -> tuple[list[str], list[str], list[int]]:
  """(splits, models, seeds) of `config.scan_generalisation`, checked."""
  study = config.scan_generalisation
  models = [k for k, v in study.items() if hasattr(v, 'items')]
  splits = _items(study.splits)
  if not splits or any(s not in SPLITS for s in splits):
    raise ConfigError('scan_generalisation.splits', f'got {study.splits!r}; accepted: a '
                      f'comma-separated list of {", ".join(SPLITS)}')
  seeds = _items(study.seeds)
  if not seeds or not all(s.lstrip('-').isdigit() for s in seeds):
    raise ConfigError('scan_generalisation.seeds',
                      f'got {study.seeds!r}; accepted: comma-separated integers')
  return (splits, list(parse_model_list(study.models, models, 'scan_generalisation.models')),
          [int(s) for s in seeds])


def _items(text) -> list[str]:
  """'a, b,a' -> ['a', 'b']."""
  return list(dict.fromkeys(s.strip() for s in str(text).split(',') if s.strip()))


def run_config(config, split: str, model: str, seed: int):
  """The training config of one run: `config` without the study section, `model` the defaults
  updated with `config.scan_generalisation.<model>` (as a config file's variant is, so that the
  run equals `scan.py:<model>`), `data.split` and `seed` set."""
  single = config.copy_and_resolve_references()
  with single.unlocked():
    del single['scan_generalisation']
    single.experiment = 'train'
    single.seed = seed
    single.data.split = split
    single.model = model_config_defaults()
    single.model.update(config.scan_generalisation[model].to_dict())
  return single


def measure(config, workdir: str, split: str, model: str, seed: int):
  """Trains one run and decodes its test split: (run row, rows by output length). The decoding
  is kept in the run's `DIR/.../measured.json` and reused while the run's step and the number
  of decoded commands stay the same, so a rerun of the study decodes only what is new."""
  single = run_config(config, split, model, seed)
  run_dir = os.path.join(workdir, split, f'{model}_seed{seed}')
  train_s = train_once(single, run_dir)
  trained = load_trained(single, run_dir)
  limit = config.scan_generalisation.max_examples
  path = os.path.join(run_dir, 'measured.json')
  if os.path.exists(path):
    with open(path) as f:
      kept = json.load(f)
    if (kept['step'], kept['max_examples'], kept.get('measures')) == (trained.step, limit,
                                                                      list(MEASURES)):
      return {**kept['row'], 'train_s': round(train_s, 1)}, kept['by_length']
  decoded = translation.decode_split(trained.model, trained.params, trained.dataset,
                                     batch_size=translation.DECODE_BATCH, max_examples=limit,
                                     show_progress=True)
  scores = translation.scores(decoded, trained.dataset.target_tokenizer)
  row = {'split': split, 'model': model, 'seed': seed, 'params': num_params(trained.params),
         'train_s': round(train_s, 1), 'test_examples': len(decoded.outputs),
         'exact_match': round(scores['exact_match'], 4), 'bleu': round(scores['bleu'], 2),
         **{k: round(v, 4) for k, v in translation.length_errors(decoded).items()}}
  by_length = [{'split': split, 'model': model, 'seed': seed, 'target_length': length,
                'examples': n, 'exact_match': round(em, 4)}
               for length, (em, n) in translation.exact_match_by_length(decoded, 'target').items()]
  if jax.process_index() == 0:
    durable.write_json(path, {'step': trained.step, 'max_examples': limit,
                              'measures': list(MEASURES), 'row': row, 'by_length': by_length})
  return row, by_length


def summarise(rows: list[dict]) -> list[dict]:
  """Per (split, model): exact match mean, min and max over seeds, the mean fractions of outputs
  shorter than their reference and stopped early, and the published numbers."""
  out = []
  for split, model in dict.fromkeys((r['split'], r['model']) for r in rows):
    runs = [r for r in rows if r['split'] == split and r['model'] == model]
    scores = [r['exact_match'] for r in runs]
    out.append({'split': split, 'model': model, 'seeds': len(scores),
                'exact_match_mean': round(statistics.fmean(scores), 4),
                'exact_match_min': min(scores), 'exact_match_max': max(scores),
                'shorter_mean': round(statistics.fmean(r['shorter'] for r in runs), 4),
                'stopped_early_mean': round(statistics.fmean(r['stopped_early'] for r in runs), 4),
                'published_best': PUBLISHED[split]['best'],
                'published_overall_best': PUBLISHED[split]['overall_best']})
  return out


def plot(rows: list[dict], by_length: list[dict], path: str, title: str):
  """Left: exact match per split and model, a bar at the mean over seeds, a dot per seed, the
  published best as a dashed line. Right: on `length`, exact match by output length (mean over
  seeds), a line per model."""
  splits = list(dict.fromkeys(r['split'] for r in rows))
  models = list(dict.fromkeys(r['model'] for r in rows))
  fig = Figure(figsize=(11.0, 4.2), layout='constrained')
  bars, lines = fig.subplots(1, 2, width_ratios=(1.0, 1.3))
  width = 0.8 / len(models)
  for m, model in enumerate(models):
    for s, split in enumerate(splits):
      scores = [r['exact_match'] for r in rows if r['split'] == split and r['model'] == model]
      if not scores:
        continue
      x = s + (m - (len(models) - 1) / 2) * width
      bars.bar(x, np.mean(scores), width, color=f'C{m}', label=model if s == 0 else None)
      bars.plot([x] * len(scores), scores, 'k.', markersize=4)
  for s, split in enumerate(splits):
    bars.hlines(PUBLISHED[split]['best'], s - 0.45, s + 0.45, colors='k', linestyles='--',
                label='Lake & Baroni 2018, best' if s == 0 else None)
  bars.set(xticks=range(len(splits)), xticklabels=splits, ylabel='test exact match (greedy)',
           ylim=(0, 1), title='exact match (bar: mean over seeds; dots: seeds)')
  bars.legend(fontsize=8)
  for m, model in enumerate(models):
    points = {}
    for r in by_length:
      if r['split'] == 'length' and r['model'] == model:
        points.setdefault(r['target_length'], []).append(r['exact_match'])
    if points:
      lengths = sorted(points)
      lines.plot(lengths, [np.mean(points[n]) for n in lengths], marker='os^D'[m % 4],
                 color=f'C{m}', label=model)
  lines.set(xlabel='output length (actions); training outputs have at most 22',
            ylabel='exact match (mean over seeds)', ylim=(-0.02, 1.02),
            title="'length' split: exact match by output length")
  lines.grid(alpha=0.3)
  if lines.has_data():
    lines.legend(fontsize=8)
  fig.suptitle(title)
  fig.savefig(path, dpi=120)


def run(config, workdir: str) -> list[dict]:
  """Trains and decodes every (split, model, seed); writes the tables and the figure; returns
  the summary rows."""
  splits, models, seeds = grid(config)
  rows, by_length = [], []
  for split in splits:
    for model in models:
      for seed in seeds:
        row, lengths = measure(config, workdir, split, model, seed)
        rows.append(row)
        by_length += lengths
        print(f"scan_generalisation: {split} {model} seed {seed}: exact match "
              f"{row['exact_match']:.4f}, bleu {row['bleu']:.2f}, {row['train_s']:.0f} s",
              flush=True)
  summary = summarise(rows)
  if jax.process_index() == 0:
    write_csv(os.path.join(workdir, 'runs.csv'), rows)
    write_csv(os.path.join(workdir, 'summary.csv'), summary)
    write_csv(os.path.join(workdir, 'exact_match_by_length.csv'), by_length)
    plot(rows, by_length, os.path.join(workdir, 'scan_generalisation.png'),
         f'SCAN, {config.train.num_steps} steps of {config.train.batch_size} per run')
    durable.write_text(os.path.join(workdir, 'results.md'),
        '# SCAN generalisation splits\n\nExact match on the whole test split, greedy '
        'decoding; published: Lake & Baroni 2018 (best model for the split; their '
        'overall-best model). `shorter`: outputs shorter than their reference; '
        '`stopped_early`: outputs that are a strict prefix of it (every action right, '
        f'the end emitted too soon).\n\n{markdown_table(summary)}\n\n## Every run\n\n'
        f'{markdown_table(rows)}\n')
  return summary
