"""Plots shared by the studies and `compare` (matplotlib, Agg: no display needed): metrics
against step for runs side by side, and the frame every one-panel figure gets.

Figures are built with `matplotlib.figure.Figure` directly, so nothing here touches pyplot's global
state or backend.
"""
from typing import Sequence

from matplotlib.figure import Figure


def label_and_save(ax, path: str, *, xlabel: str, ylabel: str, title: str):
  """Axis labels, title, grid and legend of a one-panel figure, saved to `path`."""
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize='small')
  ax.figure.savefig(path, dpi=110)


def curves_plot(curves: dict[str, tuple[Sequence[int], Sequence[float]]], path: str, *,
                ylabel: str, title: str, log_y: bool = False):
  """One line per run: `curves` maps a run's label to its (steps, values)."""
  fig = Figure(figsize=(6.4, 4.4), layout='constrained')
  ax = fig.subplots()
  for label, (steps, values) in curves.items():
    ax.plot(steps, values, marker='.' if len(steps) < 30 else None, label=label)
  if log_y:
    ax.set_yscale('log')
  label_and_save(ax, path, xlabel='step', ylabel=ylabel, title=title)
