"""Sweeps: a config and a grid of settings, each point a `launch.py` run in its own workdir
(`python -m attn_jax.sweep`; the command's flags are in `__main__.py`).

The sweep launches runs as processes and reads the files they write; it imports no model, data
or training module (docs/design.md §2). Its modules, one job each: `grid` (points from the
grid), `record` (`DIR/sweep.json` and each point's state), `point_runs` (one point's process:
command, environment, log, outcome), `local` (points N at a time on this machine), `slurm`
(a SLURM array job, one task per point).
"""
