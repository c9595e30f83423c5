"""The state-size frontier's part of the sequence-length study's report (rows of
`DIR/frontier.csv`): held-out recall accuracy against the bytes of state a model carries per
sequence, the figure that explains why attention recalls (Zoology: Arora et al. 2024, figure 2;
Arora et al. 2024b, "Simple linear attention language models balance the recall-throughput
tradeoff").

A family "solves" a point when every seed's chosen member reached the solve accuracy. The
capability phase's curves of the frontier's task, when trained on the frontier's lengths, are
frontier points too (each family at its parameter-matched width, every seed):
`with_matched_points`.
"""
import math
from typing import Sequence

from attn_jax.studies.seq_len_scaling.capability_report import (format_bytes, solved_everywhere,
                                                             spread)
from attn_jax.studies.seq_len_scaling.results_table import lengths_text
from attn_jax.tables import markdown_table

FRONTIER_HEADER = ('model', 'L', 'width', 'params', 'state/KV bytes per sequence', 'solved seeds',
                   'steps to solve', 'final accuracy', 'guessing level')


def points(rows, model: str) -> list[tuple[int, list[dict]]]:
  """[(hidden_size, rows of its seeds)] of `model`'s ok frontier rows, by width."""
  by_width = {}
  for r in rows:
    if (r['model'], r['status']) == (model, 'ok'):
      by_width.setdefault(r['hidden_size'], []).append(r)
  return sorted(by_width.items())


def matched_points(capability_rows, task: str, lengths) -> list[dict]:
  """The capability rows that are frontier points: `task`'s curves trained on exactly `lengths`,
  read at those lengths (every family at its parameter-matched width, every seed)."""
  text = lengths_text(lengths)
  return [r for r in capability_rows
          if (r['task'], r['train_lengths']) == (task, text) and r['seq_len'] in lengths]


def ok_widths(rows) -> set[tuple[str, int]]:
  """(model, width) of the ok rows among `rows`."""
  return {(r['model'], r['hidden_size']) for r in rows if r['status'] == 'ok'}


def matched_widths(capability_rows, task: str, lengths) -> set[tuple[str, int]]:
  """(model, width) of the ok `matched_points`: curves the frontier need not train."""
  return ok_widths(matched_points(capability_rows, task, lengths))


def with_matched_points(frontier_rows, capability_rows, task: str, lengths) -> list[dict]:
  """The frontier's points: its own rows (`frontier.csv`) and the `matched_points` of the
  capability phase (where both hold a (model, width), the capability's seeds)."""
  shared = matched_points(capability_rows, task, lengths)
  covered = ok_widths(shared)
  return shared + [r for r in frontier_rows if (r['model'], r['hidden_size']) not in covered]


def frontier_table(rows, models) -> list[str]:
  """One line per (length, model, width), then one per failed seed."""
  table = [_frontier_entry(model, length, width, seeds)
           for length in sorted({r['seq_len'] for r in rows}) for model in models
           for width, seeds in points([r for r in rows if r['seq_len'] == length], model)]
  table += [{'model': r['model'], 'L': r['seq_len'], 'width': r['hidden_size'],
             'solved seeds': f"seed {r['seed']}: {r['status']}"}
            for r in rows if r['status'] != 'ok']
  return markdown_table(table, FRONTIER_HEADER, right=FRONTIER_HEADER[1:]).split('\n')


def _frontier_entry(model: str, length: int, width: int, seeds: list[dict]) -> dict:
  """A (model, length, width) line of the frontier table: the first seed's shape, the spreads."""
  solved = sum(not math.isnan(float(r['steps_to_solve'])) for r in seeds)
  return {'model': model, 'L': length, 'width': width, 'params': f"{seeds[0]['num_params']:,}",
          'state/KV bytes per sequence': format_bytes(seeds[0]['state_bytes']),
          'solved seeds': f'{solved}/{len(seeds)}',
          'steps to solve': spread([r['steps_to_solve'] for r in seeds], '{:.0f}'),
          'final accuracy': spread([r['final_accuracy'] for r in seeds]),
          'guessing level': f"{float(seeds[0]['guessing_accuracy']):.3f}"}


def frontier_reading(rows, models) -> list[str]:
  """Per length and family, the smallest state that solves the task, or how close it came."""
  lines = []
  for length in sorted({r['seq_len'] for r in rows}):
    at_length = [r for r in rows if r['seq_len'] == length]
    for model in models:
      measured = points(at_length, model)
      if not measured:
        continue
      solving = [(w, s) for w, s in measured if solved_everywhere(s)]
      states = [float(s[0]['state_bytes']) for _, s in measured]
      if solving:
        width, seeds = solving[0]
        text = (f'solves from width {width} ({format_bytes(seeds[0]["state_bytes"])} of state '
                f'per sequence) up')
        if any(not solved_everywhere(s) for w, s in measured if w > width):
          text += ', though not at every larger width'
      else:
        width, seeds = max(measured, key=lambda p: sum(float(r['final_accuracy'])
                                                       for r in p[1]) / len(p[1]))
        text = (f'solves at none of widths {measured[0][0]}-{measured[-1][0]} (states '
                f'{format_bytes(min(states))} to {format_bytes(max(states))}); best: '
                f'{spread([r["final_accuracy"] for r in seeds])} at width {width}')
      lines.append(f'- L={length}, `{model}`: {text}.')
  return lines


def frontier_section(rows, *, models, study: dict, plots: Sequence[str]) -> list[str]:
  """The report's frontier section ('' when the phase did not run)."""
  if not rows:
    return []
  task = rows[0]['task']
  return [
      '## State-size frontier: recall against the state a model carries', '',
      f'`{task}`, every family at each width of {study["frontier_widths"]} (not matched in '
      f'parameters: the width sets the state), {study["frontier_seeds"]} seed(s), the task\'s '
      'budget and rates, and at its parameter-matched width, the capability phase\'s curve of '
      'the same task and lengths (its seeds; not trained again), where that phase ran it: ONE '
      'curve per (family, width) on the mixture of the lengths below, read at each, so the '
      'frontier at every length comes from the same models and moves as the length grows. '
      'State per sequence: the recurrent state (float32), linear attention\'s '
      '`[heads, d_k, d_v]` matrix and normaliser per layer, the transformer\'s KV cache (which '
      'grows with the length). After Zoology (Arora et al. 2024, figure 2).', '',
      *frontier_table(rows, models), '', *frontier_reading(rows, models), '',
      *[f'![{p}]({p})' for p in plots], '']
