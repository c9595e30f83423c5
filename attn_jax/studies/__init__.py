"""Studies: sweeps that train and time many models and write a table, a report and plots.

One folder per study with several modules (`seq_len_scaling/`, docs/design.md §3.3;
`benchmark/`), one module per single-module study (`bottleneck`, `scan_generalisation`), and
here the helpers they share: `flops` (matrix-product FLOPs counted from a jaxpr), `step_cost`
(one train step's compile time, median time, memory and FLOPs), `model_list`, `study_runs`.
"""
