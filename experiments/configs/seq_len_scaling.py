"""Sequence-length scaling: what RNN, LSTM, GRU, minGRU, Mamba, the transformer and linear attention
learn as the length grows, why, and at what price, at a matched parameter budget (docs/design.md
§3.3; `attn_jax/studies/seq_len_scaling/seq_len_scaling.py`).

Phases: (1) cost: compile time, median train-step time, tokens/s, memory and FLOPs per (model,
length); (2) capability as length curves: per (task, family, seed) ONE model trained on a mixture
of lengths (every batch of one length, every length seen equally) until every training length
reaches 0.99 held-out accuracy or the budget is spent, read at each training length and at 2x and
4x the longest (extrapolation), one learning rate per (task, family) from a short pilot; (2b) the
state-size frontier: recall accuracy against the state bytes a model carries, every family at 4
widths, one curve per width; (3) gradient flow at init and after training; (4) inference: ms per
generated token and state / KV-cache bytes against the context. report.md (with a generated
reading and the published anchors beside our numbers) and the plots are rewritten after every
phase, with a line on what is still running and its ETA.

Command (the default of plain `python launch.py`):
  python launch.py --workdir=runs/seq-len-scaling
  python launch.py --config=experiments/configs/seq_len_scaling.py:cpu_full --workdir=DIR
  (subsets: --config.models=lstm,transformer --config.lengths=64,256
  --config.study.tasks=parity --config.study.capability_lengths='parity=8,16,32'). Rerunning in
  the same workdir keeps every measured row and curve (a curve whose lengths changed is trained
  again).

Variants and the points they cover:
  cpu (default): models rnn, lstm, gru, mingru, transformer, linear_attention, 2 layers, 25k
    parameters, batch 16, explicit attention. Cost at L=64, 128, 256, 512. Curves (3 seeds, rates
    3e-3 and 1e-2, up to 600 steps, checked every 60): first_token trained on L=8, 16, 32, 64 and
    parity on 8, 16, 24, 32, both read also at 2x and 4x the longest; mqar on 8, 16, 32, 64 (read to
    256) with a budget of its own (`study.per_task.mqar`: 100k parameters, batch 64, a constant
    rate after warm-up, rates 1e-3 and 3e-3, 2 seeds, up to 1200 steps, checked every 100). The
    frontier on mqar's lengths: every family at widths 8, 16, 32 (one seed each) and at its
    100k-parameter width (the capability curve, both seeds). Gradient flow on first_token at
    L=64; inference at contexts 16, 64, 256, 1024.
  cpu_full: cost to L=1024; 3 seeds (mqar 2); first_token on L=16..256 (read to 1024), parity on
    16, 32, 48, 64, mqar on 16..128 (read to 512; up to 2400 steps); the frontier on mqar's
    lengths, widths 8, 16, 32 and the 100k width. Not Mamba: its mqar curve alone would take
    about 27 minutes here (its train step at this budget, 84 ms at L=16 to 1.4 s at L=256 on one
    core of the Xeon, experiments/results/benchmark_cpu/; 2 seeds x 2400 steps at guessing); add it
    with --config.models=rnn,lstm,gru,mingru,mamba,transformer,linear_attention. Measured: 33.6
    min on the 2-core Intel Xeon with an empty compilation cache (2026-12-07; 44.6 with the
    previous code on the previous session's slower machine), peak memory 12.8 GB; the transformer
    solves mqar at 16 .. 128 in both seeds (0.54 at 256, never trained on), every other family
    at guessing; the RNN and the LSTM learn no first_token length on this mixture (16 .. 256;
    the RNN does on the default's 8 .. 64, the LSTM at the edge of its budget there);
    experiments/results/seq_len_scaling_cpu_full/README.md.
  gpu (only tested tiny: no GPU was lent): 200k parameters (mqar 400k), bfloat16, fused attention;
    cost at L = 1K..16K; curves to L = 4K (first_token), 1K (mqar, parity), frontier to L = 512.

Expect (`cpu`, 11.1 minutes on a 2-core Intel Xeon with an empty compilation cache, 2026-12-07;
11.8 for the code before, 7.2 with its cache warm; 2026-12-07's earliest code took 16.1 min on a
slower machine of the same model name, where this one would take about 14):
first_token solved at 8 .. 64 by every family but the LSTM (at the edge of the 600 steps: 1 of
3 seeds here, 0 and 2 of 3 in the runs before), held to 256 by all but the transformer (0.72)
and the LSTM; mqar solved at 8 .. 64 by the transformer in both seeds (0.54 / 0.32 at
128 / 256, never trained on), every fixed-state family at the guessing level; parity solved at
8 .. 32 by rnn and lstm (1.0 at 128, the RNN in 2 of 3 seeds), the GRU in 2 of 3; on the
frontier the transformer
solves every length from width 32, no other family above guessing at any width.
Results: experiments/results/seq_len_scaling_cpu/README.md (with Mamba's row, measured
separately).
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.studies.seq_len_scaling.settings import study_config_defaults

VARIANTS = ('cpu', 'cpu_full', 'gpu')

# One tiny point of every phase, for tests/test_configs_run.py and
# tests/test_study_seq_len_scaling.py (which widens it): seconds on a CPU.
SMOKE_TEST = {'models': 'transformer', 'lengths': '8', 'train.batch_size': 4,
              'train.warmup_steps': 1, 'data.num_eval_examples': 8,
              'study.target_params': 7000, 'study.warmup_steps': 1, 'study.timed_steps': 2,
              'study.tasks': 'first_token', 'study.capability_lengths': '4,8', 'study.seeds': 2,
              'study.learning_rates': '1e-3,1e-2', 'study.check_every': 2, 'study.max_steps': 4,
              'study.pilot_steps': 2, 'study.per_task.mqar.pilot_steps': 2,
              'study.inference_lengths': '4,8', 'study.inference_repeats': 2,
              'study.per_task.mqar.max_steps': 4, 'study.per_task.mqar.check_every': 2,
              'study.frontier_lengths': '4,8', 'study.frontier_widths': '4'}


def get_config(variant: str = 'cpu'):
  variant = variant_of(VARIANTS, variant or 'cpu')
  gpu = variant == 'gpu'
  config = base_config(
      experiment='seq_len_scaling',
      # One attention implementation at every length, so that the transformer's growth
      # exponents measure attention and not a switch of kernel ('auto' switches to `blocked`, whose
      # memory grows linearly, at L=512 on the CPU): the L x L score matrix on the CPU, the fused
      # kernel on a GPU. What `blocked` saves: experiments/results/attention_impl/.
      model=dict(dtype='bfloat16', attention_impl='fused') if gpu else dict(
          attention_impl='explicit'),
      data=dict(name='first_token', num_eval_examples=256),
      train=dict(warmup_steps=50, batch_size=64 if gpu else 16),
  )
  config.models = ('rnn,lstm,gru,mingru,mamba,transformer,linear_attention' if gpu else
                   'rnn,lstm,gru,mingru,transformer,linear_attention')
  config.lengths = {'cpu': '64,128,256,512', 'cpu_full': '64,128,256,512,1024',
                    'gpu': '1024,2048,4096,8192,16384'}[variant]
  config.study = study_config_defaults()
  config.model.num_layers = config.study.get_ref('num_layers')  # one setting: study.num_layers
  study = config.study
  study.target_params = 200_000 if gpu else 25_000
  # Capability curves: each seed trains ONE model on a task's lengths together and is read at
  # each of them and at 2x and 4x the longest (extrapolation). `check_every` splits among the
  # training lengths (60 = 20 steps at each of 3 lengths).
  study.capability_lengths = {
      'cpu': 'first_token=8,16,32,64;mqar=8,16,32,64;parity=8,16,24,32',
      'cpu_full': 'first_token=16,32,64,128,256;mqar=16,32,64,128;parity=16,32,48,64',
      'gpu': 'first_token=256,512,1024,2048,4096;mqar=64,128,256,512,1024;'
             'parity=64,128,256,512,1024'}[variant]
  study.extrapolate = '2,4'
  study.learning_rates = '1e-3,3e-3,1e-2' if gpu else '3e-3,1e-2'
  # cpu: 60 steps per check, 15 at each of 4 lengths; cpu_full: 120 split among 5 first_token
  # lengths (24 each) or 4 of parity (30).
  study.max_steps = {'cpu': 600, 'cpu_full': 1200, 'gpu': 5000}[variant]
  study.check_every = {'cpu': 60, 'cpu_full': 120, 'gpu': 100}[variant]
  study.pilot_steps = {'cpu': 120, 'cpu_full': 240, 'gpu': 500}[variant]
  # Recall has a budget of its own (every family alike; measured in
  # experiments/results/seq_len_scaling_cpu/README.md): 100k parameters (the transformer at width
  # 64, where an independent PyTorch model solves L = 64; at width 32 it did not within 1500
  # steps), batch 64, a constant rate after warm-up (with the cosine decay the rate is gone before
  # the transformer's jump from guessing to lookup), rates below the recurrent families' 1e-2.
  study.per_task.mqar = dict(
      target_params=400_000 if gpu else 100_000, batch_size=64, lr_schedule='constant',
      learning_rates='1e-3,3e-3', check_every=100, pilot_steps=200,
      max_steps={'cpu': 1200, 'cpu_full': 2400, 'gpu': 5000}[variant],
      seeds={'cpu': 2, 'cpu_full': 2, 'gpu': 3}[variant])
  # The frontier on mqar's own lengths: each family's 100k-parameter mqar curve is its widest
  # point (not trained again), and three narrower widths are trained, one seed each.
  study.frontier_lengths = {'cpu': '8,16,32,64', 'cpu_full': '16,32,64,128',
                            'gpu': '64,128,256,512,1024'}[variant]
  study.frontier_widths = '8,16,32'
  study.inference_lengths = {'cpu': '16,64,256,1024', 'cpu_full': '16,64,256,1024,4096',
                             'gpu': '1024,4096,16384'}[variant]
  return config
