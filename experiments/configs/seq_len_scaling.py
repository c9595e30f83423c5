"""Sequence-length scaling: what RNN, LSTM, GRU, minGRU, the transformer and linear attention learn
as the length grows, why, and at what price, at a matched parameter budget (docs/design.md §3.3;
`attn_jax/studies/seq_len_scaling/seq_len_scaling.py`).

Phases: (1) cost: compile time, median train-step time, tokens/s, memory and FLOPs per (model,
length); (2) capability: per (task, model, length), 3 seeds x a learning-rate grid trained as ONE
program until held-out accuracy reaches 0.99 or the step budget is spent (steps and seconds to
solve, best/final accuracy, the rate chosen per seed, parity at 2L and 4L too); (2b) the
state-size frontier: recall accuracy against the state bytes a model carries, every family at
several widths; (3) gradient flow at init and after training; (4) inference: ms per generated
token and state / KV-cache bytes against the context. Then report.md with a generated reading,
the published anchors beside our numbers, and the plots.

Command (the default of plain `python launch.py`):
  python launch.py --workdir=runs/seq-len-scaling
  python launch.py --config=experiments/configs/seq_len_scaling.py:cpu_full --workdir=DIR
  (subsets: --config.models=lstm,transformer --config.lengths=64,256
  --config.study.tasks=parity --config.study.capability_lengths='parity=8,16'). Rerunning in the
  same workdir keeps every measured row and point.

Variants and the points they cover:
  cpu (default): models rnn, lstm, gru, mingru, transformer, linear_attention, 2 layers, 25k
    parameters, batch 16, explicit attention. Cost at L=64, 128, 256, 512. Capability (seeds 0-2 x
    rates 3e-3 and 1e-2, up to 500 steps, checked every 50): first_token at L=16, 64; parity at
    L=8, 16 (and 2L, 4L); mqar at L=8, 16 with a budget of its own (`study.per_task.mqar`: a
    constant rate after warm-up, rates 1e-3 and 3e-3, up to 1000 steps, checked every 100).
    State-size frontier: mqar at L=16, every family at widths 8, 16, 32, 64, one seed x mqar's
    rates. Gradient flow on first_token at L=64; inference at contexts 16, 64, 256, 1024.
  cpu_full (resized to fit 90 minutes on a 2-core CPU; see its results README): the cpu variant's
    model budget (25k parameters, batch 16, rates 3e-3 and 1e-2) with 2 seeds; cost also at
    L = 1024; capability up to 500 steps: first_token at L = 16, 64, 256, parity at 16, 32, 64
    (and 2L, 4L), mqar at 16, 64, 128 (mqar's budget, up to 1000 steps, one rate: 3e-3);
    frontier at L = 64, widths 8 .. 64; inference up to 4096.
  gpu (only tested tiny: no GPU was lent): 200k parameters, bfloat16, fused attention; cost at
    L = 1K..16K; capability up to L = 4K (first_token), 1K (mqar, parity); frontier at L = 256.

Expect (`cpu`, 30 minutes on a slow 2-core CPU, 18-25 with its programs in the compilation cache):
first_token solved to L=64 by gru, mingru, the transformer and linear attention, to L=16 by rnn and
lstm; parity by rnn and lstm, extrapolating to 4L; mqar (and the frontier) by the transformer only.
Results: experiments/results/seq_len_scaling_cpu/README.md (with why mqar stops at L=16 in `cpu`)
Expect (`cpu_full`, 70 minutes on the same CPU with an empty compilation cache): first_token to
L=256 by minGRU and linear attention only (the transformer 0.50 there), parity to L=64 by rnn
(1.0 at 4L), mqar at L=16 by the transformer only, no family at L=64 or 128, nor on the L=64
frontier (the width-64 transformer 0.96). Results: experiments/results/seq_len_scaling_cpu_full/
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
  config.models = 'rnn,lstm,gru,mingru,transformer,linear_attention'
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
      'cpu': 'first_token=16,32,64;mqar=8,16,32,64;parity=8,16,32',
      'cpu_full': 'first_token=16,32,64,128,256;mqar=16,32,64,128;parity=16,32,64',
      'gpu': 'first_token=256,512,1024,2048,4096;mqar=64,128,256,512,1024;'
             'parity=64,128,256,512,1024'}[variant]
  study.extrapolate = '2,4'
  study.learning_rates = '1e-3,3e-3,1e-2' if gpu else '3e-3,1e-2'
  study.max_steps = 5000 if gpu else 600
  study.check_every = 100 if gpu else 60
  study.pilot_steps = 500 if gpu else 120
  if variant == 'cpu_full':  # five first_token lengths: 20 steps each per check
    study.per_task.first_token = dict(check_every=100, max_steps=1000, pilot_steps=200)
  # Recall has a budget of its own (every family alike; measured in
  # experiments/results/seq_len_scaling_cpu/README.md): 100k parameters (the transformer at width
  # 64, where an independent PyTorch model solves L = 64; at width 32 it did not within 1500
  # steps), batch 64, a constant rate after warm-up (with the cosine decay the rate is gone before
  # the transformer's jump from guessing to lookup), rates below the recurrent families' 1e-2.
  study.per_task.mqar = dict(
      target_params=400_000 if gpu else 100_000, batch_size=64, lr_schedule='constant',
      learning_rates='1e-3,3e-3', check_every=100, pilot_steps=200,
      max_steps={'cpu': 1200, 'cpu_full': 3000, 'gpu': 5000}[variant],
      seeds={'cpu': 2, 'cpu_full': 3, 'gpu': 3}[variant])
  study.frontier_lengths = {'cpu': '', 'cpu_full': '16,32,64,128',
                            'gpu': '64,128,256,512'}[variant]
  study.frontier_widths = '16,32,64,128'
  study.inference_lengths = {'cpu': '16,64,256,1024', 'cpu_full': '16,64,256,1024,4096',
                             'gpu': '1024,4096,16384'}[variant]
  return config
