"""Studies: sweeps that train and time many models and write a table, a report and plots.

* `seq_len_scaling`: RNN/LSTM/GRU vs transformer as the sequence length grows
  (docs/design.md §3.3).
"""
