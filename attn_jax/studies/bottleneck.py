"""The encoding bottleneck, measured: exact match against source length for an RNN encoder-decoder
without attention, the same RNN with attention, and the transformer, on toy French -> English.

Without attention the decoder sees the source only through the encoder's final state: one vector
of `hidden_size` numbers has to hold the whole sentence, and the longer the sentence the worse it
fits (Cho et al. 2014; Bahdanau et al. 2015). With attention every decoder step reads every source
position, and the length stops mattering.

`run(config, workdir)` (experiment `bottleneck`): for each name of `config.bottleneck.models`
(whose model settings are `config.bottleneck.<name>`, over `config.model`) it trains
`train.num_steps` steps with the training loop into `DIR/<name>/` (the same data, steps and batch
for all; rerunning resumes, a finished run is not trained again), decodes the evaluation splits
`config.bottleneck.splits` greedily, and writes
  DIR/exact_match_by_length.csv  model, split, source_length, examples, exact_match
  DIR/summary.csv                model, params, train_s, and exact_match and bleu per split
  DIR/results.md                 both tables
  DIR/exact_match_by_length.png  exact match against source length, one line per model
"""
import os

import jax
from matplotlib.figure import Figure

from attn_jax import durable, translation
from attn_jax.models.registry import num_params
from attn_jax.studies.model_list import parse_model_list
from attn_jax.studies.study_runs import train_once, write_csv
from attn_jax.tables import markdown_table
from attn_jax.training.trained_workdir import load_trained


def model_names(config) -> list[str]:
  """`config.bottleneck.models` as a list; each must name a section of `config.bottleneck`."""
  accepted = [k for k, v in config.bottleneck.items() if hasattr(v, 'items')]
  return list(parse_model_list(config.bottleneck.models, accepted, 'bottleneck.models'))


def run_config(config, name: str):
  """The training config of one model: `config` without the study section, `model` updated with
  `config.bottleneck.<name>`."""
  single = config.copy_and_resolve_references()
  with single.unlocked():
    del single['bottleneck']
    single.experiment = 'train'
    single.model.update(config.bottleneck[name].to_dict())
  return single


def measure(config, workdir: str, name: str) -> tuple[dict, list[dict]]:
  """Trains one model and decodes the study's splits: (summary row, rows by source length)."""
  single = run_config(config, name)
  run_dir = os.path.join(workdir, name)
  train_s = train_once(single, run_dir)
  trained = load_trained(single, run_dir)
  summary = {'model': name, 'params': num_params(trained.params), 'train_s': round(train_s, 1)}
  by_length = []
  for split in [s.strip() for s in config.bottleneck.splits.split(',') if s.strip()]:
    decoded = translation.decode_split(trained.model, trained.params, trained.dataset,
                                       batch_size=translation.DECODE_BATCH, split=split,
                                       beam_size=config.bottleneck.beam_size,
                                       show_progress=True)
    scores = translation.scores(decoded, trained.dataset.target_tokenizer)
    summary.update({f'{split}_{k}': round(v, 4) for k, v in scores.items()})
    by_length += [{'model': name, 'split': split, 'source_length': length, 'examples': n,
                   'exact_match': round(em, 4)}
                  for length, (em, n) in translation.exact_match_by_length(decoded).items()]
  return summary, by_length


def label(config, name: str) -> str:
  """'rnn (lstm, attention none)'-style legend entry of a model."""
  model = run_config(config, name).model
  if model.name == 'transformer':
    return name if name == model.name else f'{name} (transformer)'
  return f'{name} ({model.name}, attention {model.seq2seq_attention})'


def plot(rows: list[dict], names: dict[str, str], path: str, trained_max_len: int, title: str):
  """Exact match against source length: a line per model; evaluation splits with sources longer
  than any training sentence are drawn hollow, beyond a dotted line. `names`: model -> label."""
  fig = Figure(figsize=(7.0, 4.4), layout='constrained')
  ax = fig.subplots()
  # Decreasing marker sizes and line widths keep overlapping lines visible.
  for index, (name, legend) in enumerate(names.items()):
    style = dict(color=f'C{index}', marker='os^D'[index % 4], markersize=9 - 2 * (index % 4),
                 linewidth=2.5 - 0.6 * (index % 4))
    for split in dict.fromkeys(r['split'] for r in rows):
      points = sorted((r['source_length'], r['exact_match']) for r in rows
                      if r['model'] == name and r['split'] == split)
      if points:
        unseen = points[0][0] > trained_max_len
        ax.plot(*zip(*points), linestyle='--' if unseen else '-', label=None if unseen else legend,
                markerfacecolor='none' if unseen else style['color'], **style)
  if any(r['source_length'] > trained_max_len for r in rows):
    ax.axvline(trained_max_len + 0.5, color='grey', linestyle=':', linewidth=1)
    ax.plot([], [], 'o', color='grey', markerfacecolor='none',
            label='hollow: longer than any training source')
  ax.set(xlabel='source sentence length (words)', ylabel='exact match (greedy decoding)',
         ylim=(-0.02, 1.02), title=title)
  ax.grid(alpha=0.3)
  ax.legend(loc='best', fontsize=8)
  fig.savefig(path, dpi=120)


def run(config, workdir: str) -> list[dict]:
  """Trains and measures every model of the study; writes the tables and the plot; returns the
  summary rows."""
  names = model_names(config)
  summaries, by_length = [], []
  for name in names:
    summary, rows = measure(config, workdir, name)
    summaries.append(summary)
    by_length += rows
    print(f'bottleneck: {name}: ' + ', '.join(f'{k} {v}' for k, v in summary.items()
                                              if k != 'model'))
  if jax.process_index() == 0:
    write_csv(os.path.join(workdir, 'summary.csv'), summaries)
    write_csv(os.path.join(workdir, 'exact_match_by_length.csv'), by_length)
    plot(by_length, {n: label(config, n) for n in names},
         os.path.join(workdir, 'exact_match_by_length.png'), config.data.max_len,
         f'Encoding bottleneck: {config.data.name}, {config.train.num_steps} steps of '
         f'{config.train.batch_size} for every model')
    durable.write_text(os.path.join(workdir, 'results.md'),
                       f'# Encoding bottleneck ({config.data.name})\n\n'
                       f'{markdown_table(summaries)}\n\n## Exact match by source length\n\n'
                       f'{markdown_table(by_length)}\n')
  return summaries
