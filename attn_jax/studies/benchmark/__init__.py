"""The benchmark: the project's layers against PyTorch's on the same machine, in the same run.
`benchmark.run` is the experiment; `step_profile` splits a step's time by operation,
`torch_peer` builds the PyTorch side, `benchmark_report` writes the tables and the report."""
