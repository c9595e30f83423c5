"""The sequence-length scaling study (docs/design.md §3.3): RNN/LSTM/GRU against transformers as
the sequence grows. `seq_len_scaling.run` is the experiment; the other modules are its phases
(cost rows, capability curves, gradient flow, inference cost, the state-size frontier), its
settings, tables, reports and plots."""
